"""Running generations (``simulator/worker.py``): queued then processing then final, model rules
checked as a generation runs, rendering (once per shape with ``reuse_videos``), cancels while
processing, and the padded size for ``result_size_bytes``."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import Any

import av
import httpx
import pytest

from kling_nb.simulator import Simulator, run, worker
from kling_nb.simulator.worker import pad_target
from tests._simulator import AUTH, BODY, MODEL, api, enqueue, wait_final


@pytest.fixture
def client(sim: Simulator) -> Iterator[httpx.Client]:
    with api(sim) as c:
        yield c


def count_renders(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The take index of every video the worker renders from now on."""
    calls: list[int] = []
    render_video = worker.render_video

    def counted(payload: dict[str, Any], index: int, **kwargs: Any) -> bytes:
        calls.append(index)
        return render_video(payload, index, **kwargs)

    monkeypatch.setattr(worker, "render_video", counted)
    return calls


def poll_while(client: httpx.Client, generation_id: str, status: str) -> dict[str, Any]:
    """Poll until the generation's status is no longer ``status``; its row then."""
    deadline = time.monotonic() + 30
    while (row := client.get(f"/api/ai/queue/{generation_id}").json())["status"] == status:
        assert time.monotonic() < deadline, f"{generation_id} stayed {status}"
        time.sleep(0.02)
    return row


def test_a_generation_goes_queued_processing_succeeded_with_timestamps() -> None:
    # 6 s generations: 1.5 s queued for the first poll to land in, then 4.5 s processing.
    with run(generation_seconds=6.0) as sim, httpx.Client(base_url=sim.base_url, headers=AUTH) as c:
        (gid,) = enqueue(c, prompt="a dog", duration=3, aspect_ratio="9:16")
        first = c.get(f"/api/ai/queue/{gid}").json()
        assert first["status"] == "queued"
        assert first["started_at"] is None and first["result_url"] is None
        second = poll_while(c, gid, "queued")
        assert second["status"] == "processing"
        assert second["started_at"] >= second["enqueued_at"]
        done = wait_final(c, gid, timeout=30)
    assert done["status"] == "succeeded"
    assert done["enqueued_at"] <= done["started_at"] <= done["completed_at"]
    assert done["error_message"] is None
    # the row carries its request merged in, under the poll names
    assert done["generation_id"] == gid
    assert done["model_name"] == MODEL and done["model"] == MODEL
    assert done["prompt"] == "a dog" and done["duration"] == 3 and done["aspect_ratio"] == "9:16"
    assert done["media_type"] == "video"
    assert "num_generations" not in done


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


def test_a_payload_the_renderer_cannot_draw_fails_the_generation(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> bytes:
        raise ValueError("cannot draw this")

    monkeypatch.setattr("kling_nb.simulator.worker.render_video", refuse)
    with api(sim) as c:
        gid = c.post("/api/ai/queue", json=BODY).json()["generations"][0]["generation_id"]
        row = wait_final(c, gid)
    assert row["status"] == "failed"
    assert row["error_message"] == "Getting model response error: 500 - cannot draw this"


def test_padding_targets_leave_room_for_a_free_box() -> None:
    assert pad_target(1000, None) is None
    assert pad_target(1000, 900) is None
    assert pad_target(1000, 1003) == 1008
    assert pad_target(1000, 5000) == 5000


def test_without_reuse_videos_each_take_is_rendered_with_its_index(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    renders = count_renders(monkeypatch)
    with api(sim) as client:
        ids = enqueue(client, prompt="a dog", duration=3, num_generations=3)
        assert all(wait_final(client, g)["status"] == "succeeded" for g in ids)
    assert sorted(renders) == [0, 1, 2]


def test_reuse_videos_renders_once_per_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    renders = count_renders(monkeypatch)
    with run(reuse_videos=True, video_height=90) as sim, api(sim) as client:
        same = enqueue(client, prompt="a dog", duration=3, num_generations=3)
        same += enqueue(client, prompt="a cat", duration=3, negative_prompt="rain")
        assert all(wait_final(client, g)["status"] == "succeeded" for g in same)
        assert renders == [0]
        other_shapes: list[dict[str, Any]] = [
            {"prompt": "a", "duration": 4},
            {"prompt": "a", "duration": 3, "aspect_ratio": "9:16"},
            {"prompt": "a", "duration": 3, "generate_audio": True},
            {"multi_prompt": [{"prompt": "a", "duration": 1}, {"prompt": "b", "duration": 2}]},
        ]
        for body in other_shapes:
            for gid in enqueue(client, **body, num_generations=2):
                assert wait_final(client, gid)["status"] == "succeeded"
    assert renders == [0] * 5


def test_a_generation_cancelled_while_processing_gets_no_result_and_costs_nothing() -> None:
    # 4 s generations: the cancel has 3 s of processing to land in.
    with run(generation_seconds=4.0) as sim, api(sim) as c:
        (gid,) = enqueue(c, prompt="a", duration=3)
        assert poll_while(c, gid, "queued")["status"] == "processing"
        assert c.delete(f"/api/ai/queue/{gid}").status_code == 200
        # A generation enqueued now ends after the cancelled one would have.
        (later,) = enqueue(c, prompt="a", duration=3)
        assert wait_final(c, later, timeout=30)["status"] == "succeeded"
        row = c.get(f"/api/ai/queue/{gid}").json()
        history = c.get("/api/ai/generations").json()
    assert row["status"] == "cancelled" and row["result_url"] is None
    assert row["started_at"] is not None
    costs = {g["generation_id"]: g["cost"] for g in history["generations"]}
    assert costs[gid] == "0.000" and history["total_cost"] == costs[later] != "0.000"
