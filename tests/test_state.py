"""The states of a generation and a job (``state``): how the status sets relate, as the tracker,
``resume()``, cancelling and the job view rely on them, and where a re-attached generation starts
from for every status the ledger may hold."""

from __future__ import annotations

import itertools
from typing import get_args

import pytest
from _core import REQUEST

from kling_nb.jobs import Job
from kling_nb.state import (
    ACTIVE,
    FINAL,
    JOB_FINAL,
    SERVER_FINAL,
    GenerationStatus,
    JobStatus,
    resumed_status,
)

GENERATION = frozenset(get_args(GenerationStatus))
JOB = frozenset(get_args(JobStatus))
#: Every status a ledger line may hold for a generation: its states, and "save_failed".
RECORDED = GENERATION | {"save_failed"}


def test_every_status_set_holds_only_statuses_of_its_kind() -> None:
    assert FINAL <= GENERATION
    assert ACTIVE <= RECORDED
    assert JOB_FINAL <= JOB


def test_final_on_the_server_is_final_here_and_only_timed_out_is_final_here_alone() -> None:
    """A timed-out generation is over for the waiting client but may still run (and be paid
    for) on the server: cancel still reaches it, and a late success is still saved."""
    final_here_alone = FINAL - SERVER_FINAL
    assert SERVER_FINAL <= FINAL
    assert final_here_alone == {"timed_out"}


def test_every_recorded_status_is_either_still_active_or_final_on_the_server() -> None:
    """``resume()`` re-attaches to the active ones and leaves the rest: a status in neither set
    would be forgotten however much it cost; in both, it would be polled for ever."""
    assert ACTIVE | SERVER_FINAL == RECORDED
    assert not ACTIVE & SERVER_FINAL


@pytest.mark.parametrize("recorded", sorted(RECORDED))
def test_a_resumed_generation_is_still_waited_for_exactly_when_its_recorded_status_is_active(
    recorded: str,
) -> None:
    status = resumed_status(recorded)
    assert status in GENERATION
    assert (status not in FINAL) == (recorded in ACTIVE)
    if recorded in SERVER_FINAL:
        assert status == recorded  # kept as it ended


@pytest.mark.parametrize("recorded", ["timed_out", "save_failed", "downloading"])
def test_a_status_that_may_still_end_in_a_saved_result_is_polled_again(recorded: str) -> None:
    # Never "pending": that would mean "not sent yet", and a re-run would look for it as unsent.
    assert resumed_status(recorded) == "queued"


@pytest.mark.parametrize("recorded", ["", "teleported", "SUCCEEDED", "partial", "error"])
def test_a_status_this_version_does_not_know_is_polled_again_never_taken_as_final(
    recorded: str,
) -> None:
    assert resumed_status(recorded) == "queued"


@pytest.mark.parametrize("recorded", sorted(RECORDED))
def test_resuming_twice_starts_where_resuming_once_did(recorded: str) -> None:
    once = resumed_status(recorded)
    assert resumed_status(once) == once


def test_a_job_is_in_job_final_exactly_when_it_is_done() -> None:
    """The job view keeps its Cancel button and live handles while the status is not in
    ``JOB_FINAL``: that must agree with ``Job.done``, which ``wait()`` settles on."""
    for statuses in itertools.product(sorted(GENERATION), repeat=2):
        job = Job(REQUEST, 2, job_id="j")
        for gen, status in zip(job.generations, statuses, strict=True):
            gen.status = status
        assert job.status in JOB, statuses
        assert job.done == (job.status in JOB_FINAL), statuses


def test_a_failed_client_side_job_is_job_final() -> None:
    job = Job(REQUEST, 2, job_id="j")
    job.fail("the client gave up")
    assert job.status == "error" and job.status in JOB_FINAL and job.done


def test_a_timed_out_take_is_done_for_the_job_yet_can_still_be_cancelled() -> None:
    asked: list[int | None] = []
    job = Job(REQUEST, 1, job_id="j", canceller=lambda j, wait, index: asked.append(index))
    job.generations[0].id = "g1"
    job.set(job.generations[0], "timed_out", error="not finished after 30 min")
    assert job.done and job.status == "timed_out"
    job.cancel(wait=False)
    assert asked == [None]
    job.set(job.generations[0], "cancelled")
    job.cancel(wait=False)  # over on the server too: nothing more to cancel
    assert asked == [None]
