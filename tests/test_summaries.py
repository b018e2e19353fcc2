"""summaries: every shot of a request, and what a job cost (estimate, replay, billed)."""

from __future__ import annotations

from kling_nb.jobs import Job
from kling_nb.requests import Shot, VideoRequest
from kling_nb.summaries import cost_text, shots_text
from kling_nb.widgets import JobView


def test_a_multi_shot_summary_shows_every_shot() -> None:
    shots = [Shot(prompt="A cat wakes", duration=5), Shot(prompt="It yawns", duration=5)]
    shots.append(Shot(prompt="It  stretches\nslowly " + "and long " * 40, duration=5))
    request = VideoRequest(multi_prompt=shots)
    text = shots_text(request.shots, request.total_duration)
    assert text.startswith("3 shots, 15 s: A cat wakes / It yawns / It stretches slowly and")
    assert text.endswith("…") and len(text) < 200
    single = VideoRequest(prompt="A lighthouse", duration=4)
    assert shots_text(single.shots, single.total_duration) == "4 s: A lighthouse"
    job = Job(request, job_id="j1", estimated_cost=3.36)
    assert "\n  3 shots, 15 s: A cat wakes / It yawns / It stretches" in job.summary()


def _job(statuses: list[str], *, replayed: bool = False) -> Job:
    job = Job(VideoRequest(prompt="x"), len(statuses), job_id="j1", estimated_cost=4.48,
              replayed=replayed)  # fmt: skip
    for gen, status in zip(job.generations, statuses, strict=True):
        gen.status = status
    return job


def test_what_a_job_cost() -> None:
    assert cost_text(_job(["queued"] * 4)) == "$4.48"
    assert cost_text(_job(["queued"] * 4), "est. ") == "est. $4.48"
    assert cost_text(_job(["succeeded"] * 4)) == "$4.48"
    assert cost_text(_job(["succeeded"] * 4, replayed=True)) == "$0 (replayed; made for $4.48)"
    partial = ["succeeded", "failed", "cancelled", "succeeded"]
    assert cost_text(_job(partial)) == "billed $2.24 of est. $4.48"
    assert cost_text(_job(["cancelled"] * 4)) == "billed $0.00 of est. $4.48"
    assert cost_text(_job(["succeeded", "processing", "failed", "failed"])) == "$4.48"  # running


def test_the_job_view_shows_what_was_billed_when_the_job_ends() -> None:
    job = _job(["queued", "queued"])
    view = JobView(job)
    assert view.cost == "$4.48" and view.typical_seconds is None  # no client: no ledger
    job.generations[0].status = "succeeded"
    job.generations[1].status = "cancelled"
    job.changed()
    assert view.cost == "billed $2.24 of est. $4.48"
    assert "billed $2.24 of est. $4.48" in job.summary()
