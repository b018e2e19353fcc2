"""The simulator's queue, polling, sync endpoint and results, over real loopback HTTP."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Iterator
from typing import Any

import av
import httpx
import pytest

from kling_nb.simulator import Simulator, run
from tests._simulator import AUTH, MODEL, api, enqueue, wait_final

MP4_BRAND = b"ftyp"


@pytest.fixture
def client(sim: Simulator) -> Iterator[httpx.Client]:
    with api(sim) as c:
        yield c


def test_enqueue_answers_queued_rows_at_once(client: httpx.Client) -> None:
    started = time.monotonic()
    response = client.post(
        "/api/ai/queue", json={"model": MODEL, "prompt": "a dog", "num_generations": 3}
    )
    assert time.monotonic() - started < 0.2
    rows = response.json()["generations"]
    assert [r["status"] for r in rows] == ["queued"] * 3
    assert len({r["generation_id"] for r in rows}) == 3


def test_a_generation_goes_queued_processing_succeeded_with_timestamps() -> None:
    with run(generation_seconds=1.0) as sim, httpx.Client(base_url=sim.base_url, headers=AUTH) as c:
        (gid,) = enqueue(c, prompt="a dog", duration=3, aspect_ratio="9:16")
        first = c.get(f"/api/ai/queue/{gid}").json()
        assert first["status"] == "queued"
        assert first["started_at"] is None and first["result_url"] is None
        time.sleep(0.4)
        second = c.get(f"/api/ai/queue/{gid}").json()
        assert second["status"] == "processing"
        assert second["started_at"] >= second["enqueued_at"]
        done = wait_final(c, gid)
    assert done["status"] == "succeeded"
    assert done["enqueued_at"] <= done["started_at"] <= done["completed_at"]
    assert done["error_message"] is None
    # the row carries its request merged in, under the poll names
    assert done["generation_id"] == gid
    assert done["model_name"] == MODEL and done["model"] == MODEL
    assert done["prompt"] == "a dog" and done["duration"] == 3 and done["aspect_ratio"] == "9:16"
    assert done["media_type"] == "video"
    assert "num_generations" not in done


def test_the_result_url_serves_an_mp4_without_auth(client: httpx.Client, sim: Simulator) -> None:
    (gid,) = enqueue(client, prompt="a dog", duration=3)
    row = wait_final(client, gid)
    url = row["result_url"]
    assert url.startswith(f"{sim.base_url}/_simulator/results/{gid}.mp4?")
    assert "expires=" in url and "signature=" in url
    video = httpx.get(url)  # no Authorization header
    assert video.status_code == 200
    assert video.headers["content-type"] == "video/mp4"
    assert video.content[4:8] == MP4_BRAND
    assert int(video.headers["content-length"]) == len(video.content)


def test_takes_of_one_request_differ_and_equal_requests_repeat(client: httpx.Client) -> None:
    ids = enqueue(client, prompt="a dog", duration=3, num_generations=2)
    again = enqueue(client, prompt="a dog", duration=3)
    videos = [httpx.get(wait_final(client, g)["result_url"]).content for g in [*ids, *again]]
    assert videos[0] != videos[1]
    assert videos[0] == videos[2]


def test_reuse_videos_gives_every_request_of_a_shape_the_same_video() -> None:
    """The load-test setting: one render per shape, so different prompts share a video."""
    with run(reuse_videos=True, video_height=90) as sim, api(sim) as client:
        shapes = [
            {"prompt": "a dog", "duration": 3},
            {"prompt": "a cat", "duration": 3},
            {"prompt": "a cat", "duration": 4},
        ]
        ids = [g for body in shapes for g in enqueue(client, **body)]
        ids += enqueue(client, prompt="a bird", duration=3, num_generations=2)
        videos = [httpx.get(wait_final(client, g)["result_url"]).content for g in ids]
    assert videos[0] == videos[1] == videos[3] == videos[4]  # other prompt, other take
    assert videos[2] != videos[0]  # another duration is another shape
    assert av.open(io.BytesIO(videos[2])).duration == 4_000_000


def test_invalid_model_rules_fail_the_generation_with_the_seed_wording(
    client: httpx.Client,
) -> None:
    (both,) = enqueue(client, prompt="a", multi_prompt=[{"prompt": "b"}])
    (neither,) = enqueue(client)
    both_row, neither_row = wait_final(client, both), wait_final(client, neither)
    assert both_row["status"] == "failed"
    assert both_row["error_message"] == (
        "Getting model response error: 422 - Value error, "
        "Cannot provide both 'prompt' and 'multi_prompt'."
    )
    assert both_row["result_url"] is None
    assert neither_row["error_message"] == (
        "Getting model response error: 422 - Value error, "
        "Either 'prompt' or 'multi_prompt' must be provided."
    )


@pytest.mark.parametrize("count", [0, 5, "2", 1.5, True, None])
def test_num_generations_out_of_range_is_refused_at_enqueue(
    client: httpx.Client, sim: Simulator, count: object
) -> None:
    response = client.post(
        "/api/ai/queue", json={"model": MODEL, "prompt": "a", "num_generations": count}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"]["type"] == "invalid_params"
    assert body["error"]["detail"] == "num_generations must be an integer between 1 and 4"
    assert body["status"] == "error" and body["status_message"] == "invalid_params"
    assert sim.stats()["generations_created"] == 0


@pytest.mark.parametrize("name", ["o3-pro", "kling-video-nonexistent", ""])
def test_unknown_models_and_aliases_are_refused_at_enqueue(client: httpx.Client, name: str) -> None:
    response = client.post("/api/ai/queue", json={"model": name, "prompt": "a"})
    if name:
        assert response.status_code == 404
        assert response.json() == {"error": {"message": f"Model not found: {name}"}}
    else:
        assert response.status_code == 400
        assert "model is required" in response.json()["error"]["title"]


def test_list_shows_active_only_unless_status_is_given(client: httpx.Client) -> None:
    (done,) = enqueue(client, prompt="a", duration=3)
    wait_final(client, done)
    (running,) = enqueue(client, prompt="b", duration=3)
    active = client.get("/api/ai/queue").json()["generations"]
    assert [r["generation_id"] for r in active] == [running]
    finished = client.get("/api/ai/queue", params={"status": "succeeded"}).json()["generations"]
    assert [r["generation_id"] for r in finished] == [done]
    both = client.get("/api/ai/queue", params={"status": "succeeded,queued,processing"}).json()
    assert {r["generation_id"] for r in both["generations"]} == {done, running}
    bad = client.get("/api/ai/queue", params={"status": "done"})
    assert bad.status_code == 400


def test_cancel_keeps_the_row_and_has_no_effect_once_final(client: httpx.Client) -> None:
    (gid,) = enqueue(client, prompt="a", duration=3)
    response = client.delete(f"/api/ai/queue/{gid}")
    assert response.json() == {"status": "success", "generation_id": gid}
    row = client.get(f"/api/ai/queue/{gid}").json()
    assert row["status"] == "cancelled" and row["completed_at"] is not None
    time.sleep(0.4)  # past the generation time: it must stay cancelled
    assert client.get(f"/api/ai/queue/{gid}").json()["status"] == "cancelled"
    (done,) = enqueue(client, prompt="b", duration=3)
    wait_final(client, done)
    assert client.delete(f"/api/ai/queue/{done}").status_code == 200
    assert client.get(f"/api/ai/queue/{done}").json()["status"] == "succeeded"


def test_unknown_ids_answer_resource_not_found(client: httpx.Client) -> None:
    expected = {
        "error": {
            "type": "resource_not_found",
            "title": "The requested resource could not be found",
        },
        "status": "error",
        "status_message": "resource_not_found",
    }
    for method in ("GET", "DELETE"):
        response = client.request(method, "/api/ai/queue/4ef840a4-0000-0000-0000-000000000000")
        assert response.status_code == 404
        assert response.json() == expected


def test_sync_generate_blocks_and_returns_a_url_or_base64(client: httpx.Client) -> None:
    started = time.monotonic()
    response = client.post("/api/ai/videos/generate", json={"model": MODEL, "prompt": "a dog"})
    assert time.monotonic() - started >= 0.2
    body = response.json()
    assert body["model"] == MODEL and isinstance(body["created"], int)
    video = httpx.get(body["videos"][0]["url"]).content
    inline = client.post(
        "/api/ai/videos/generate",
        json={"model": MODEL, "prompt": "a dog", "response_format": "b64_json"},
    ).json()
    assert base64.b64decode(inline["videos"][0]["b64_json"]) == video


def test_sync_generate_refuses_an_invalid_request_at_once(client: httpx.Client) -> None:
    started = time.monotonic()
    response = client.post("/api/ai/videos/generate", json={"model": MODEL})
    assert time.monotonic() - started < 0.2
    assert response.status_code == 422
    assert response.json()["error"]["detail"] == (
        "Getting model response error: 422 - Value error, "
        "Either 'prompt' or 'multi_prompt' must be provided."
    )


def probe(video: bytes) -> dict[str, Any]:
    with av.open(io.BytesIO(video)) as container:
        stream = container.streams.video[0]
        return {
            "seconds": container.duration / 1_000_000 if container.duration else 0.0,
            "size": (stream.codec_context.width, stream.codec_context.height),
            "codec": stream.codec_context.name,
            "audio": len(container.streams.audio),
        }


def test_downloaded_videos_reflect_the_request(client: httpx.Client) -> None:
    (shots,) = enqueue(
        client,
        multi_prompt=[{"prompt": "one", "duration": 2}, {"prompt": "two", "duration": 1}],
        aspect_ratio="9:16",
        generate_audio=True,
    )
    (plain,) = enqueue(client, prompt="square", duration=4, aspect_ratio="1:1")
    tall = probe(httpx.get(wait_final(client, shots)["result_url"]).content)
    square = probe(httpx.get(wait_final(client, plain)["result_url"]).content)
    assert tall["codec"] == "h264" and tall["audio"] == 1
    assert tall["seconds"] == pytest.approx(3.0, abs=0.15)
    width, height = tall["size"]
    assert height == 180 and width == pytest.approx(180 * 9 / 16, abs=2)
    assert square["size"] == (180, 180) and square["audio"] == 0
    assert square["seconds"] == pytest.approx(4.0, abs=0.15)


def test_video_height_sets_the_frame_size() -> None:
    with run(video_height=96) as sim, httpx.Client(base_url=sim.base_url, headers=AUTH) as c:
        (gid,) = enqueue(c, prompt="small", duration=3)
        info = probe(httpx.get(wait_final(c, gid)["result_url"]).content)
    width, height = info["size"]
    assert height == 96 and width == pytest.approx(96 * 16 / 9, abs=2)
