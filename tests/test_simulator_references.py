"""Reference images as a generation fetches them (``simulator/references.py``): images on the
simulator are fetched without a key, others are not, a failed fetch fails the generation naming
the image, and the first image fetched is the one the video shows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from kling_nb.requests import VideoRequest
from kling_nb.simulator import Simulator
from kling_nb.simulator.samples import sample_png
from kling_nb.simulator.video import render_video
from tests._simulator import MODEL, api, enqueue, wait_final


@pytest.fixture
def client(sim: Simulator) -> Iterator[httpx.Client]:
    with api(sim) as c:
        yield c


def expected_video(body: dict[str, Any], reference: bytes | None) -> bytes:
    """The video of take 0 of ``body`` showing ``reference``, as the worker renders it."""
    canonical = VideoRequest.model_validate({"model": MODEL, **body}).canonical()
    return render_video(canonical, 0, reference=reference)


def test_a_request_using_sample_images_succeeds(client: httpx.Client, sim: Simulator) -> None:
    body = {
        "model": MODEL,
        "multi_prompt": [{"prompt": "@Element1 waves at @Image1", "duration": 3}],
        "input_image": [sim.sample_url("dog")],
        "start_image_url": sim.sample_url("first-frame"),
        "tail_image_url": sim.sample_url("last-frame"),
        "elements": [
            {
                "frontal_image_url": sim.sample_url("character-front"),
                "reference_image_urls": [sim.sample_url("character-side")],
            }
        ],
    }
    gid = client.post("/api/ai/queue", json=body).json()["generations"][0]["generation_id"]
    assert wait_final(client, gid)["status"] == "succeeded"


def test_a_reference_that_is_no_url_fails_the_generation(sim: Simulator) -> None:
    token = "local:sha256:" + "0" * 64 + "/face.png"  # what a client must never send
    with api(sim) as client:
        [gid] = enqueue(client, prompt="@Image1 waves", duration=3, input_image=[token])
        row = wait_final(client, gid)
    assert row["status"] == "failed"
    assert row["error_message"] == (
        "Getting model response error: 400 - Failed to download the image in input_image[0]: "
        "not an http(s) URL"
    )


def test_the_first_image_fetched_is_what_the_video_shows(
    client: httpx.Client, sim: Simulator
) -> None:
    frames = {
        "prompt": "a wave",
        "duration": 3,
        "start_image_url": sim.sample_url("first-frame"),
        "tail_image_url": sim.sample_url("last-frame"),
    }
    references = {
        "prompt": "@Image1 waves",
        "duration": 3,
        "input_image": [sim.sample_url("dog")],
        "start_image_url": sim.sample_url("first-frame"),
    }
    for body, shown, not_shown in (
        (frames, "first-frame", "last-frame"),
        (references, "dog", "first-frame"),
    ):
        (gid,) = enqueue(client, **body)
        video = httpx.get(wait_final(client, gid)["result_url"]).content
        assert video == expected_video(body, sample_png(shown)), shown
        assert video != expected_video(body, sample_png(not_shown))
    assert sim.stats()["reference_fetches"] == 4  # each image on the simulator, once


def test_images_elsewhere_are_not_fetched(client: httpx.Client, sim: Simulator) -> None:
    body = {"prompt": "a dog", "duration": 3, "input_image": ["https://images.invalid/dog.png"]}
    (gid,) = enqueue(client, **body)
    row = wait_final(client, gid)
    assert row["status"] == "succeeded"
    assert httpx.get(row["result_url"]).content == expected_video(body, None)
    assert sim.stats()["reference_fetches"] == 0


def test_an_image_the_simulator_cannot_serve_fails_the_generation_naming_it(
    client: httpx.Client, sim: Simulator
) -> None:
    missing = f"{sim.base_url}/_simulator/samples/cat.png"
    element = {
        "frontal_image_url": sim.sample_url("character-front"),
        "reference_image_urls": [missing],
    }
    (gid,) = enqueue(
        client,
        prompt="@Element1 waves at @Image1",
        duration=3,
        input_image=[sim.sample_url("dog")],
        elements=[element],
        start_image_url=sim.sample_url("first-frame"),
    )
    row = wait_final(client, gid)
    assert row["status"] == "failed" and row["result_url"] is None
    assert row["error_message"] == (
        "Getting model response error: 400 - Failed to download the image in "
        "elements[0].reference_image_urls[0]: HTTP 404 (The requested resource could not be found)"
    )
    assert sim.stats()["reference_fetches"] == 3  # the images after it are not fetched
