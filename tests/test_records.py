"""Ledger records: what each line holds, written and read back, and what is refused."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from kling_nb.records import (
    GenerationRecord,
    JobLine,
    JobRecord,
    SubmissionRecord,
    parse_record,
)


def test_each_record_reads_back_as_written() -> None:
    records = [
        SubmissionRecord(job_id="j", request={"prompt": "x"}, request_hash="h", num_generations=2),
        GenerationRecord(
            job_id="j",
            index=1,
            generation_id="g",
            status="succeeded",
            result={"path": "g.mp4", "sha256": "ab", "size": 3},
        ),
        JobLine(job_id="j", status="error", error="boom", uncertain=True),
    ]
    for record in records:
        line = record.to_record()
        assert line["v"] == 1 and line["type"] in ("submission", "generation", "job")
        assert parse_record(line) == record
        assert type(record).from_record(line) == record


@pytest.mark.parametrize(
    "line",
    [
        {"v": 2, "type": "job", "job_id": "j", "status": "x"},  # another format
        {"type": "job", "job_id": "j", "status": "x"},  # no version
        {"v": True, "type": "job", "job_id": "j", "status": "x"},
        {"v": 1, "type": "submission", "job_id": "j", "num_generations": 5},
        {"v": 1, "type": "submission", "job_id": "j", "simulated": "yes"},
        {"v": 1, "type": "generation", "job_id": "j", "index": True},
        {"v": 1, "type": "generation", "job_id": "j", "started_at": "soon"},
        {"v": 1, "type": "generation", "job_id": "j", "result": {"path": "x", "size": 1}},
        {"v": 1, "type": "job", "job_id": 9, "status": "x"},
        [1, 2],
    ],
)
def test_a_record_this_version_cannot_read_is_refused(line: Any) -> None:
    with pytest.raises(ValueError):
        parse_record(line)
    if isinstance(line, dict) and type(line.get("v")) is int and line["v"] == 1:
        with pytest.raises(ValidationError):
            parse_record(line)


def test_a_newer_record_type_is_passed_over_and_unknown_fields_are_kept() -> None:
    assert parse_record({"v": 1, "type": "note", "job_id": "n"}) is None
    line = JobLine(job_id="j", status="succeeded").to_record() | {"added_later": 1}
    read = parse_record(line)
    assert read is not None and read.to_record()["added_later"] == 1


def test_a_job_is_unsent_until_its_enqueue_is_answered_or_known_failed() -> None:
    job = JobRecord.from_submission(SubmissionRecord(job_id="j", num_generations=2))
    assert job.unsent and job.pending == []
    job.status = "error"
    assert not job.unsent and not job.maybe_queued  # failed before anything was sent
    job.uncertain = True
    assert job.maybe_queued and not job.unsent  # a re-run looks for it, resume() has looked
    job.generations[0] = GenerationRecord(job_id="j", generation_id="g", status="timed_out")
    assert not job.maybe_queued and [g.generation_id for g in job.pending] == ["g"]
    job.generations[0] = GenerationRecord(job_id="j", generation_id="g", status="failed")
    assert job.pending == []
    job.generations[1] = GenerationRecord(
        job_id="j", index=1, status="save_failed", result_url="https://x/y.mp4"
    )
    assert [g.index for g in job.pending] == [1]  # a synchronous result not saved yet


def test_a_take_replayed_from_an_earlier_run_does_not_count_as_an_answer_to_the_enqueue() -> None:
    # A partly succeeded request run again: its submission and the replayed take are recorded,
    # then the kernel dies before the enqueue answer for the missing take is recorded.
    job = JobRecord.from_submission(SubmissionRecord(job_id="j", num_generations=2))
    saved = {"path": "old.mp4", "sha256": "ab" * 32, "size": 10}
    job.generations[0] = GenerationRecord(
        job_id="j", generation_id="old", status="succeeded", result=saved
    )
    assert job.unsent and job.maybe_queued  # looked for on the server, never sent again
    job.status, job.uncertain = "error", True
    assert job.maybe_queued and not job.unsent
    job.generations[1] = GenerationRecord(job_id="j", index=1, generation_id="new", status="queued")
    assert not job.maybe_queued  # answered
