"""What a submission finds in the ledger before anything is sent: a request read from a body or
back from a record, and recorded results given to a job (all of them, or the takes that
succeeded)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from kling_nb import reruns
from kling_nb.jobs import Job
from kling_nb.records import GenerationRecord
from kling_nb.requests import VideoRequest, estimate_cost


def take(index: int, gid: str, path: Path) -> tuple[GenerationRecord, Path]:
    """A recorded success, as ``Ledger.verified_results`` gives it."""
    path.write_bytes(b"video %d" % index)
    record = GenerationRecord(
        job_id="earlier",
        index=index,
        generation_id=gid,
        status="succeeded",
        enqueued_at=100.0 + index,
        started_at=110.0 + index,
        completed_at=150.0 + index,
        result={"path": path.name, "sha256": f"sha-{gid}", "size": path.stat().st_size},
    )
    return record, path


def test_a_request_passes_through_with_the_given_count() -> None:
    request = VideoRequest(prompt="A fox in the snow", duration=3)
    assert reruns.coerce(request, 3) == (request, 3)


def test_a_queue_body_gives_its_own_num_generations_unless_one_is_given() -> None:
    body = {"prompt": "A fox in the snow", "duration": 3, "num_generations": 2}
    request, n = reruns.coerce(body, 1)
    assert n == 2
    assert request == VideoRequest(prompt="A fox in the snow", duration=3)
    assert body["num_generations"] == 2  # the caller's body is left as it was
    assert reruns.coerce(body, 3)[1] == 3  # an explicit count wins over the body's


def test_a_count_out_of_range_is_refused_whichever_gives_it() -> None:
    request = VideoRequest(prompt="A fox in the snow", duration=3)
    with pytest.raises(ValueError, match="between 1 and 4"):
        reruns.coerce(request, 5)
    with pytest.raises(ValueError, match="between 1 and 4"):
        reruns.coerce({"prompt": "A fox", "duration": 3, "num_generations": 0}, 1)


def test_a_local_image_path_in_a_body_becomes_its_content_token(tmp_path: Path) -> None:
    face = tmp_path / "face.png"
    Image.new("RGB", (480, 360), (250, 20, 180)).save(face)
    request, _ = reruns.coerce({"prompt": "@Image1 smiles", "input_image": [str(face)]}, 1)
    (token,) = request.images
    assert token.startswith("local:sha256:") and token.endswith("/face.png")


def test_a_recorded_request_is_read_back_as_the_server_took_it() -> None:
    original = VideoRequest(prompt="A fox in the snow", duration=3)
    assert reruns.request_from(original.canonical()).canonical() == original.canonical()
    # a duration today's rules refuse (the catalog changed since): kept as recorded
    recorded = {**original.canonical(), "duration": 2}
    assert reruns.request_from(recorded).duration == 2


def test_a_recorded_request_for_a_model_gone_from_the_catalog_is_kept_as_recorded() -> None:
    recorded = {"model": "kling-video-retired-model", "prompt": "A fox", "duration": 7}
    request = reruns.request_from(recorded)
    assert request.model == "kling-video-retired-model"
    assert (request.prompt, request.duration) == ("A fox", 7)


def test_fill_gives_the_recorded_results_to_the_first_generations(tmp_path: Path) -> None:
    job = Job(VideoRequest(prompt="A fox", duration=3), 3, job_id="rerun")
    takes = [take(0, "g-a", tmp_path / "a.mp4"), take(1, "g-b", tmp_path / "b.mp4")]
    filled = reruns.fill(job, takes)
    assert filled == job.generations[:2]
    first = job.generations[0]
    assert (first.id, first.status) == ("g-a", "succeeded")
    assert (first.enqueued_at, first.started_at, first.completed_at) == (100.0, 110.0, 150.0)
    assert first.result is not None
    assert first.result.path == tmp_path / "a.mp4"
    assert (first.result.sha256, first.result.size) == ("sha-g-a", 7)
    assert job.generations[1].result is not None and job.generations[1].id == "g-b"
    assert job.generations[2].status == "pending" and job.generations[2].result is None


def test_a_replayed_job_is_finished_and_shows_the_recorded_results(tmp_path: Path) -> None:
    request = VideoRequest(prompt="A fox", duration=3)
    takes = [take(0, "g-a", tmp_path / "a.mp4"), take(1, "g-b", tmp_path / "b.mp4")]
    job = reruns.replayed_job(request, 2, takes, simulated=True)
    assert job.replayed and job.simulated and job.done
    assert job.status == "succeeded"
    assert job.wait(0) is job  # nothing left to wait for
    assert [r.path for r in job.results] == [tmp_path / "a.mp4", tmp_path / "b.mp4"]
    assert job.generation_ids == ["g-a", "g-b"]
    assert job.estimated_cost == estimate_cost(request, 2)
