"""Job state: the overall status, observers, wait and await."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from kling_nb.errors import WaitTimeoutError
from kling_nb.jobs import Job
from kling_nb.requests import VideoRequest


def make_job(n: int = 2) -> Job:
    return Job(VideoRequest(prompt="A fox in the snow"), n, job_id="j1", estimated_cost=2.24)


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        (["pending", "pending"], "submitting"),
        (["queued", "pending"], "queued"),
        (["queued", "processing"], "processing"),
        (["processing", "downloading"], "downloading"),
        (["succeeded", "queued"], "queued"),
        (["succeeded", "succeeded"], "succeeded"),
        (["succeeded", "failed"], "partial"),
        (["succeeded", "timed_out"], "partial"),
        (["cancelled", "cancelled"], "cancelled"),
        (["cancelled", "failed"], "failed"),
        (["timed_out", "failed"], "timed_out"),
        (["failed", "failed"], "failed"),
    ],
)
def test_status_is_derived_from_the_generations(states: list[str], expected: str) -> None:
    job = make_job()
    for gen, state in zip(job.generations, states, strict=True):
        gen.status = state  # type: ignore[assignment]
    assert job.status == expected
    final = {"succeeded", "partial", "failed", "cancelled", "timed_out"}
    assert job.done is (expected in final)


def test_a_client_side_failure_is_final_with_status_error() -> None:
    job = make_job()
    job.generations[0].status = "queued"
    (line,) = job.fail("it broke; check client.history()")
    assert (line.job_id, line.status, line.error) == (job.id, "error", job.error)
    assert job.fail("again") == []  # the job's line is produced once per final status
    job.changed()
    assert job.status == "error"
    assert job.done
    assert job.error == "again"
    assert job.wait(0) is job
    assert job.finished_at is not None


def test_observers_see_every_change_and_can_unsubscribe() -> None:
    job = make_job(1)
    seen: list[str] = []
    unsubscribe = job.observe(lambda j: seen.append(j.status))
    job.generations[0].status = "queued"
    job.changed()
    job.generations[0].status = "processing"
    job.changed()
    unsubscribe()
    unsubscribe()  # twice is harmless
    job.generations[0].status = "succeeded"
    job.changed()
    assert seen == ["queued", "processing"]


def test_a_failing_observer_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    job = make_job(1)
    seen: list[str] = []

    def broken(_: Job) -> None:
        raise RuntimeError("observer bug")

    job.observe(broken)
    job.observe(lambda j: seen.append(j.status))
    with caplog.at_level(logging.ERROR, logger="kling_nb"):
        job.generations[0].status = "succeeded"
        job.changed()
    assert seen == ["succeeded"]
    assert "observer bug" in caplog.text
    assert job.wait(0) is job


def test_wait_times_out_with_advice_and_the_job_keeps_going() -> None:
    job = make_job(1)
    with pytest.raises(WaitTimeoutError, match=r"job.cancel\(\)") as info:
        job.wait(0.01)
    assert isinstance(info.value, TimeoutError)
    assert not job.done


def test_wait_returns_when_another_thread_finishes_the_job() -> None:
    job = make_job(1)

    def finish() -> None:
        job.generations[0].status = "failed"
        job.changed()

    threading.Timer(0.05, finish).start()
    assert job.wait(10).status == "failed"


def test_await_job_in_async_code() -> None:
    job = make_job(1)

    async def main() -> str:
        loop = asyncio.get_running_loop()

        def finish() -> None:
            job.generations[0].status = "succeeded"
            job.changed()

        loop.call_later(0.01, lambda: threading.Thread(target=finish).start())
        done = await job
        return done.status

    assert asyncio.run(main()) == "succeeded"


def test_cancel_calls_the_canceller_until_done() -> None:
    calls: list[str] = []
    job = Job(
        VideoRequest(prompt="x y"),
        1,
        job_id="j9",
        canceller=lambda j, wait, index: calls.append(j.id),
    )
    job.cancel()
    assert calls == ["j9"]
    assert job.cancel_requested
    job.generations[0].status = "timed_out"  # still running on the server
    job.cancel()
    assert calls == ["j9", "j9"]
    job.generations[0].status = "succeeded"
    job.cancel()
    assert calls == ["j9", "j9"]


def test_summary_and_repr() -> None:
    job = make_job()
    job.generations[0].id = "gen-1"
    assert repr(job).startswith("<Job j1 · kling-video-o3-pro-reference-to-video · submitting")
    text = job.summary()
    assert "$2.24" in text
    assert "[0] gen-1 pending" in text
