"""The JSONL ledger: records, folding, torn lines, concurrent appends, replay and resume lookups."""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from kling_nb._version import __version__
from kling_nb.errors import register_secret
from kling_nb.files import file_sha256
from kling_nb.records import GenerationRecord, JobLine, SubmissionRecord
from kling_nb.store import LEDGER_NAME, Ledger

BASE = "http://127.0.0.1:9"
FAKE_KEY = "sk-kling-FAKE-KEY-store-5151"


def submit(ledger: Ledger, job_id: str, request_hash: str = "h1", **extra: object) -> None:
    fields: dict[str, object] = {
        "job_id": job_id,
        "request": {"model": "m", "prompt": "p"},
        "request_hash": request_hash,
        "model": "m",
        "num_generations": 1,
        "estimated_cost": 1.12,
        "endpoint": "queue",
        "forced": False,
        "simulated": False,
        "base_url": BASE,
    }
    fields.update(extra)
    ledger.append(SubmissionRecord.model_validate(fields))


def succeed(ledger: Ledger, job_id: str, gid: str, content: bytes, index: int = 0) -> Path:
    path = ledger.folder / f"{gid}.mp4"
    path.write_bytes(content)
    result = {
        "path": path.name,
        "sha256": hashlib.sha256(content).hexdigest(),
        "size": len(content),
    }
    ledger.append(
        GenerationRecord(
            job_id=job_id, index=index, generation_id=gid, status="succeeded", result=result
        )
    )
    ledger.append(JobLine(job_id=job_id, status="succeeded", error=None))
    return path


def lines(ledger: Ledger) -> list[dict[str, object]]:
    return [json.loads(line) for line in ledger.path.read_text().splitlines()]


def test_a_submission_record_carries_what_the_readme_promises(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    submit(ledger, "j1")
    (record,) = lines(ledger)
    assert ledger.path.name == LEDGER_NAME
    assert record["type"] == "submission"
    assert record["v"] == 1
    assert record["kling_nb_version"] == __version__
    assert record["request"] == {"model": "m", "prompt": "p"}
    assert record["request_hash"] == "h1"
    assert record["estimated_cost"] == 1.12
    assert isinstance(record["time"], float)


def test_later_records_update_the_folded_job(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    submit(ledger, "j1", num_generations=2)
    ledger.append(GenerationRecord(job_id="j1", index=0, generation_id="g0", status="queued"))
    ledger.append(GenerationRecord(job_id="j1", index=1, generation_id="g1", status="queued"))
    ledger.append(
        GenerationRecord(job_id="j1", index=0, generation_id="g0", status="failed", error="boom")
    )
    job = ledger.jobs()["j1"]
    assert job.generations[0].status == "failed"
    assert job.generations[0].error == "boom"
    assert [g.generation_id for g in job.pending] == ["g1"]


def test_records_for_unknown_jobs_and_junk_lines_are_ignored(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    ledger.path.write_text('not json\n[1, 2]\n{"type": "job", "job_id": "ghost"}\n')
    submit(ledger, "j1")
    assert list(ledger.jobs()) == ["j1"]


def test_a_torn_last_line_is_skipped_then_closed_off_by_the_next_append(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    submit(ledger, "j1")
    with ledger.path.open("ab") as f:
        f.write(b'{"v":1,"type":"submission","job_id":"torn","requ')
    assert list(Ledger(tmp_path).jobs()) == ["j1"]
    submit(ledger, "j2")
    text = ledger.path.read_text()
    assert text.endswith("\n")
    assert '"requ\n{' in text
    assert list(Ledger(tmp_path).jobs()) == ["j1", "j2"]
    assert list(ledger.jobs()) == ["j1", "j2"]


def test_lines_appended_by_another_process_are_picked_up(tmp_path: Path) -> None:
    mine, theirs = Ledger(tmp_path), Ledger(tmp_path)
    submit(mine, "j1")
    assert list(mine.jobs()) == ["j1"]
    submit(theirs, "j2")
    assert list(mine.jobs()) == ["j1", "j2"]


def test_interleaved_writers_see_the_same_ledger_as_a_fresh_reader(tmp_path: Path) -> None:
    """Own lines are folded in as written when nothing came between; otherwise read back."""
    mine, theirs = Ledger(tmp_path), Ledger(tmp_path)
    submit(mine, "j1", num_generations=2)
    submit(theirs, "j2")  # mine has not read this one when it appends next
    mine.append(GenerationRecord(job_id="j1", index=0, generation_id="g0", status="queued"))
    succeed(mine, "j1", "g1", b"take", index=1)
    theirs.append(
        GenerationRecord(job_id="j2", index=0, generation_id="g2", status="failed"),
        JobLine(job_id="j2", status="failed", error="boom"),
    )
    submit(mine, "j3", request_hash="h3")
    fresh = Ledger(tmp_path).jobs()
    for ledger in (mine, theirs):
        assert ledger.jobs() == fresh
    assert list(fresh) == ["j1", "j2", "j3"]
    assert (fresh["j1"].generations[0].status, fresh["j1"].generations[1].status) == (
        "queued",
        "succeeded",
    )
    assert (fresh["j2"].status, fresh["j2"].error) == ("failed", "boom")
    assert len(lines(mine)) == 8  # the two records of one append are two lines
    mine.close()
    theirs.close()


def test_concurrent_writers_never_interleave_lines(tmp_path: Path) -> None:
    script = (
        "import sys; from pathlib import Path; from kling_nb.store import Ledger\n"
        "from kling_nb.records import JobLine\n"
        "ledger = Ledger(Path(sys.argv[1]))\n"
        "for i in range(150):\n"
        "    ledger.append(JobLine(job_id=sys.argv[2] + str(i), status='x', pad='x' * 5000))\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path), f"w{n}-"]) for n in range(4)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    records = lines(Ledger(tmp_path))
    assert len(records) == 600
    assert {r["job_id"] for r in records} == {f"w{n}-{i}" for n in range(4) for i in range(150)}


def test_replay_needs_verified_files(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    submit(ledger, "j1")
    path = succeed(ledger, "j1", "g1", b"video bytes")
    found = ledger.find_replay("h1", 1, simulated=False, base_url=BASE)
    assert found is not None
    record, results = found
    assert record.job_id == "j1"
    assert results[0][1] == path.resolve()
    assert ledger.find_replay("h1", 2, simulated=False, base_url=BASE) is None
    assert ledger.find_replay("other", 1, simulated=False, base_url=BASE) is None
    assert ledger.find_replay("h1", 1, simulated=True, base_url=BASE) is None
    path.write_bytes(b"video bytez")  # same size, different content
    assert ledger.find_replay("h1", 1, simulated=False, base_url=BASE) is None
    path.unlink()
    assert ledger.find_replay("h1", 1, simulated=False, base_url=BASE) is None


def test_replay_picks_the_latest_verified_job(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    submit(ledger, "old")
    succeed(ledger, "old", "g-old", b"old")
    submit(ledger, "new")
    succeed(ledger, "new", "g-new", b"new")
    submit(ledger, "broken")
    ledger.append(
        GenerationRecord(job_id="broken", index=0, generation_id="g-b", status="failed", error="x")
    )
    found = ledger.find_replay("h1", 1, simulated=False, base_url=BASE)
    assert found is not None and found[0].job_id == "new"


def test_replay_needs_the_same_server(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    submit(ledger, "j1", base_url="http://127.0.0.1:9")
    succeed(ledger, "j1", "g1", b"video bytes")
    assert ledger.find_replay("h1", 1, simulated=False, base_url="https://hub.oxen.ai") is None
    assert ledger.find_replay("h1", 1, simulated=False, base_url="http://127.0.0.1:10") is None
    found = ledger.find_replay("h1", 1, simulated=False, base_url="http://127.0.0.1:9")
    assert found is not None and found[0].job_id == "j1"


def test_the_bundled_simulators_results_replay_on_its_next_port(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    submit(ledger, "j1", simulated=True, base_url="http://127.0.0.1:9")
    succeed(ledger, "j1", "g1", b"video bytes")
    found = ledger.find_replay("h1", 1, simulated=True, base_url="http://127.0.0.1:10")
    assert found is not None and found[0].job_id == "j1"
    assert ledger.find_replay("h1", 1, simulated=False, base_url="http://127.0.0.1:9") is None


def test_a_result_path_outside_the_folder_never_replays(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    ledger = Ledger(folder)
    submit(ledger, "j1")
    outside = tmp_path / "secret.mp4"
    outside.write_bytes(b"x")
    result = {"path": "../secret.mp4", "sha256": file_sha256(outside), "size": 1}
    ledger.append(
        GenerationRecord(job_id="j1", index=0, generation_id="g", status="succeeded", result=result)
    )
    assert ledger.find_replay("h1", 1, simulated=False, base_url=BASE) is None


def test_pending_lists_running_generations_for_this_base_url_only(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    submit(ledger, "here")
    ledger.append(GenerationRecord(job_id="here", index=0, generation_id="g1", status="processing"))
    submit(ledger, "elsewhere", base_url="https://hub.oxen.ai")
    ledger.append(
        GenerationRecord(job_id="elsewhere", index=0, generation_id="g2", status="queued")
    )
    submit(ledger, "done")
    succeed(ledger, "done", "g3", b"z")
    submit(ledger, "refused")
    ledger.append(JobLine(job_id="refused", status="error", error="HTTP 402"))
    submit(ledger, "never-answered")
    submit(ledger, "sync", endpoint="sync")
    pending = ledger.pending(base_url=BASE)
    assert [j.job_id for j in pending] == ["here", "never-answered"]
    assert [j.unsent for j in pending] == [False, True]


def test_no_key_material_is_written(tmp_path: Path) -> None:
    register_secret(FAKE_KEY)
    ledger = Ledger(tmp_path)
    submit(ledger, "j1", request={"prompt": f"oops {FAKE_KEY}"})
    ledger.append(JobLine(job_id="j1", status="error", error=f"Bearer {FAKE_KEY}"))
    assert FAKE_KEY not in ledger.path.read_text()
    assert "***" in ledger.path.read_text()
    # The writer's own index holds what the file holds (folded as written, not as given).
    mine = ledger.jobs()["j1"]
    assert FAKE_KEY not in repr(mine) and mine.error == "Bearer ***"
    assert mine == Ledger(tmp_path).jobs()["j1"]


def test_file_sha256(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc" * 1_000_000)
    assert file_sha256(path) == hashlib.sha256(b"abc" * 1_000_000).hexdigest()


def test_a_deleted_or_replaced_ledger_is_reopened(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    submit(ledger, "j1")
    ledger.path.unlink()
    submit(ledger, "j2")
    assert [r["job_id"] for r in lines(ledger)] == ["j2"]
    moved = tmp_path / "old.jsonl"
    ledger.path.rename(moved)
    ledger.path.write_text("")
    submit(ledger, "j3")
    assert [r["job_id"] for r in lines(ledger)] == ["j3"]
    ledger.close()
    ledger.close()
    submit(ledger, "j4")
    assert [r["job_id"] for r in lines(ledger)] == ["j3", "j4"]
    ledger.close()


def test_find_pending_matches_the_request_count_flag_and_server(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    submit(ledger, "old")
    ledger.append(GenerationRecord(job_id="old", index=0, generation_id="g0", status="processing"))
    submit(ledger, "new")
    ledger.append(GenerationRecord(job_id="new", index=0, generation_id="g1", status="queued"))
    submit(ledger, "two", num_generations=2)
    ledger.append(GenerationRecord(job_id="two", index=0, generation_id="g2", status="queued"))
    submit(ledger, "sim", simulated=True)
    ledger.append(GenerationRecord(job_id="sim", index=0, generation_id="g3", status="queued"))
    submit(ledger, "hub", base_url="https://hub.oxen.ai")
    ledger.append(GenerationRecord(job_id="hub", index=0, generation_id="g4", status="queued"))
    submit(ledger, "unsent")
    submit(ledger, "done")
    succeed(ledger, "done", "g5", b"z")

    def ids(n: int = 1, simulated: bool = False, base_url: str = BASE) -> list[str]:
        found = ledger.find_pending("h1", n, simulated=simulated, base_url=base_url)
        return [j.job_id for j in found]

    # an unsent job may have reached the server: a re-run looks for it there, never resends
    assert ids() == ["unsent", "new", "old"]
    assert ids(2) == ["two"]
    assert ids(simulated=True) == ["sim"]
    assert ids(base_url="https://hub.oxen.ai") == ["hub"]
    assert ledger.find_pending("h2", 1, simulated=False, base_url=BASE) == []


BAD_LINES = [
    # valid JSON, wrongly typed fields or an unknown format version
    '{"v":1,"type":"submission","job_id":"two","request":{},"request_hash":"h1",'
    '"num_generations":"two"}',
    '{"v":1,"type":"submission","job_id":"sim","request_hash":"h1","simulated":"yes"}',
    '{"v":2,"type":"submission","job_id":"future","request":{},"request_hash":"h1"}',
    '{"type":"submission","job_id":"unversioned","request":{},"request_hash":"h1"}',
    '{"v":1,"type":"generation","job_id":"j1","index":"0","status":"succeeded"}',
    '{"v":1,"type":"generation","job_id":"j1","index":7,"status":"queued"}',
    '{"v":1,"type":"generation","job_id":"j1","index":0,"generation_id":"g","result":"x"}',
    '{"v":1,"type":"generation","job_id":"j1","index":0,"started_at":"soon"}',
    '{"v":1,"type":"job","job_id":"j1","status":5}',
    '{"v":1,"type":"submission","job_id":9}',
    "[1, 2]",
]


def test_unreadable_records_are_skipped_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ledger = Ledger(tmp_path)
    submit(ledger, "j1")
    ledger.append(GenerationRecord(job_id="j1", index=0, generation_id="g1", status="processing"))
    with ledger.path.open("a") as f:
        f.write("\n".join(BAD_LINES) + "\n")
        f.write('{"v":1,"type":"submission","job_id":"torn","num_gen')  # a killed writer
    submit(ledger, "j2")
    with caplog.at_level(logging.WARNING, logger="kling_nb"):
        jobs = ledger.jobs()
        assert list(jobs) == ["j1", "j2"]
        assert jobs["j1"].status == "submitting"
        assert jobs["j1"].generations[0].status == "processing"
        assert jobs["j1"].generations[0].started_at is None
        assert [j.job_id for j in ledger.pending(base_url=BASE)] == ["j1", "j2"]
        found = ledger.find_pending("h1", 1, simulated=False, base_url=BASE)
        assert [j.job_id for j in found] == ["j2", "j1"]
        assert ledger.find_replay("h1", 1, simulated=False, base_url=BASE) is None
        with ledger.path.open("a") as f:
            f.write(BAD_LINES[0] + "\n")
        assert list(ledger.jobs()) == ["j1", "j2"]
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    message = warning.getMessage()
    assert f"skipped {len(BAD_LINES)} line(s) of {ledger.path}" in message
    assert '"num_generations":"two"' in message and "fix or delete those lines" in message
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="kling_nb"):
        assert list(Ledger(tmp_path).jobs()) == ["j1", "j2"]  # another reader: says so once too
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_a_record_written_by_this_version_is_never_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ledger = Ledger(tmp_path)
    submit(ledger, "j1", num_generations=2, estimated_cost=None, simulated=True)
    ledger.append(
        GenerationRecord(
            job_id="j1",
            index=0,
            generation_id="g0",
            status="queued",
            enqueued_at=1.0,
            started_at=2.0,
            completed_at=3,
        )
    )
    succeed(ledger, "j1", "g1", b"video", index=1)
    ledger.append(JobLine(job_id="j1", status="partial", error="one failed"))
    with ledger.path.open("a") as f:  # a record type of a newer version
        f.write(json.dumps({"v": 1, "type": "note", "job_id": "n1"}) + "\n")
    with caplog.at_level(logging.WARNING, logger="kling_nb"):
        job = ledger.jobs()["j1"]
    assert caplog.records == []
    assert job.status == "partial" and job.error == "one failed"
    assert job.generations[0].completed_at == 3.0
    assert job.generations[1].result is not None


def test_a_resumed_generation_polls_again_unless_its_recorded_status_is_known_and_settled() -> None:
    from kling_nb.state import resumed_status

    for kept in ("pending", "queued", "processing", "succeeded", "failed", "cancelled"):
        assert resumed_status(kept) == kept
    for again in ("downloading", "save_failed", "timed_out", "teleported"):
        assert resumed_status(again) == "queued"


def test_the_owner_of_a_generation_is_the_first_job_recorded_with_it_by_any_process(
    tmp_path: Path,
) -> None:
    ledger, other_process = Ledger(tmp_path), Ledger(tmp_path)
    submit(ledger, "first")
    submit(ledger, "rerun", num_generations=1)
    assert ledger.owner("g1") is None
    ledger.append(GenerationRecord(job_id="first", generation_id="g1", status="queued"))
    # a re-run records the take it replays under its own job id, with the same generation id
    ledger.append(GenerationRecord(job_id="rerun", generation_id="g1", status="succeeded"))
    assert ledger.owner("g1") == "first"
    assert other_process.owner("g1") == "first"  # read from the file
    ledger.append(GenerationRecord(job_id="unknown-job", generation_id="g2", status="queued"))
    assert ledger.owner("g2") is None  # a line of no recorded job owns nothing
    ledger.path.write_text("")  # truncated: the index starts over
    assert other_process.owner("g1") is None
