"""The plain-text tables of %kling models, jobs and history: their columns, and 100 columns wide."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from _core import job_record
from IPython.core.interactiveshell import InteractiveShell
from test_magics import PROMPT, cell, line, magics, nothing_sent, server, shell

from kling_nb.jobs import Job
from kling_nb.listings import (
    count,
    history_table,
    jobs_table,
    remote_history_table,
    unattached,
)
from kling_nb.magics import KlingMagics
from kling_nb.records import GenerationRecord, JobRecord
from kling_nb.requests import VideoRequest
from kling_nb.simulator import Simulator


def test_models_lists_the_catalog_without_a_client(
    magics: KlingMagics, shell: InteractiveShell, server: Simulator, capsys: Any
) -> None:
    line(shell, "models")
    out = capsys.readouterr().out
    assert "o3-pro" in out and "kling-video-o3-pro-reference-to-video" in out
    o3_pro = r"o3-pro\s+kling-video-o3-pro-reference-to-video\s+\$0\.224/s\s+1-15 s\s+3-15 s\s+4"
    assert re.search(o3_pro, out)
    assert re.search(r"v2\.6-t2v\s+\S+\s+\$0\.070/s\s+5, 10 s", out)
    assert nothing_sent(server)


def test_jobs_and_history_rows_fit_in_100_columns(
    magics: KlingMagics, shell: InteractiveShell, capsys: Any
) -> None:
    shots = "\n".join(f"[5s] shot {i} " + "a long and winding prompt " * 12 for i in range(3))
    job = cell(shell, "-n 2", shots).wait(timeout=30)
    capsys.readouterr()
    line(shell, "jobs")
    jobs = capsys.readouterr().out.splitlines()
    assert max(map(len, jobs)) <= 100
    assert re.match(
        rf"{job.id}\s+o3-pro\s+succeeded\s+\d+ s\s+\$6\.72\s+shot 0 a long .*…$", jobs[1]
    )
    for _ in range(100):  # the job line follows the last take's save
        line(shell, "history")
        history = capsys.readouterr().out.splitlines()
        if "succeeded" in history[-1]:
            break
        time.sleep(0.05)
    assert max(map(len, history[1:])) <= 100 and len(history) == 3
    assert re.search(r"succeeded\s+2/2\s+\$6\.72\s+shot 0 .*…\s+\S+\.mp4 \+1$", history[2])


def test_history_remote_shows_the_servers_record(
    magics: KlingMagics, shell: InteractiveShell, capsys: Any
) -> None:
    job = cell(shell, "", PROMPT).wait(timeout=30)
    capsys.readouterr()
    line(shell, "history --remote")
    out = capsys.readouterr().out
    assert job.generation_ids[0] in out and "succeeded" in out and "Total cost: $" in out


# -- the tables on their own -------------------------------------------------------------------

O3 = "kling-video-o3-pro-reference-to-video"


def _record(i: int, status: str = "succeeded", *, running: bool = False) -> JobRecord:
    gen = GenerationRecord(
        job_id=f"j{i}", generation_id=f"g{i}", status="processing" if running else status
    )
    request = {"prompt": f"prompt {i}", "duration": 5}
    return job_record(i, gen, request, status="running" if running else status)


def test_nothing_to_list_is_none_not_an_empty_table() -> None:
    assert jobs_table([], [], now=0.0) is None
    assert history_table([]) is None
    assert remote_history_table({"generations": []}) is None


def test_history_shows_the_latest_fifty_oldest_first_and_says_so(tmp_path: Path) -> None:
    records = [(tmp_path, _record(i)) for i in range(1, 61)]
    text = history_table(records)
    assert text is not None
    rows = text.splitlines()[2:-1]  # after the folder line and the header, before the note
    assert len(rows) == 50
    assert re.search(r"prompt 11\s+-$", rows[0]) and re.search(r"prompt 60\s+-$", rows[-1])
    assert text.endswith("The latest 50 of 60 jobs; kling_nb.history() has them all.")
    assert "The latest" not in (history_table(records[:3]) or "")


def test_jobs_lists_the_sessions_jobs_then_the_ledgers_with_their_age() -> None:
    job = Job(VideoRequest(prompt=PROMPT, duration=5), job_id="job-a", estimated_cost=1.12)
    ledger = _record(7, running=True)
    lost = _record(8, running=True)
    for age, shown in [(30, "30 s"), (600, "10 min"), (7200, "2.0 h")]:
        text = jobs_table([job], [ledger], now=job.created_at + age, lost=[lost])
        assert text is not None
        mine = rf"^job-a\s+o3-pro\s+submitting\s+{shown}\s+\$1\.12\s+{PROMPT}$"
        assert re.search(mine, text, re.M)
    assert re.search(r"^j7\s+o3-pro\s+running \(ledger\)\s+.*prompt 7$", text, re.M)
    assert re.search(r"^j8\s+o3-pro\s+lost \(ledger\)\s+.*prompt 8$", text, re.M)


def test_unattached_is_the_ledgers_running_jobs_the_session_does_not_hold(tmp_path: Path) -> None:
    held = Job(VideoRequest(prompt=PROMPT, duration=5), job_id="j1")
    records = [(tmp_path, _record(1, running=True)), (tmp_path, _record(2, running=True))]
    records.append((tmp_path, _record(3)))  # ended: nothing to pick up
    assert [r.job_id for r in unattached(records, [held])] == ["j2"]


def test_the_servers_history_reads_either_list_and_marks_what_it_lacks() -> None:
    row: dict[str, Any] = {"generation_id": "g1", "status": "succeeded", "model": O3}
    text = remote_history_table({"data": [{**row, "enqueued_at": True}]})
    assert text is not None and "Total cost" not in text
    assert re.search(r"^-\s+g1\s+succeeded\s+-\s+o3-pro\s*$", text, re.M)
    stamp = time.strftime("%m-%d %H:%M", time.localtime(1000.0))
    answer = {"generations": [{**row, "enqueued_at": 1000.0, "cost": 0.5}], "total_cost": 0.5}
    text = remote_history_table(answer) or ""
    assert re.search(rf"^{stamp}\s+g1\s+succeeded\s+\$0\.5\s+o3-pro", text, re.M)
    assert text.endswith("Total cost: $0.5 (first page; the server's figures).")


def test_count_says_one_job_and_two_jobs() -> None:
    assert [count(1, "job"), count(2, "job"), count(0, "take")] == ["1 job", "2 jobs", "0 takes"]
