"""Simulated jobs whose bundled simulator died with its kernel: shown as lost, with the reason,
once, and never offered to ``%kling resume``; over real loopback HTTP, with a real restart's
ledger (a client that stopped while its simulator's generation was running)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

from kling_nb.client import Client
from kling_nb.jobs import Job
from kling_nb.requests import VideoRequest
from kling_nb.simulator import Simulator, run

PROMPT = "A red fox runs through fresh snow"
KEY = "sk-sim-Zq8Wk3Lp0Vt6"  # the simulator takes any key


def started(job: Job) -> None:
    """Block until every take of ``job`` has its server id (it is queued on the server)."""
    queued = threading.Event()

    def check(job: Job) -> None:
        if all(g.id for g in job.generations):
            queued.set()

    job.observe(check)
    check(job)
    assert queued.wait(30)


def killed_kernel(outputs: Path, prompt: str = PROMPT) -> str:
    """What a kernel leaves when it dies while its simulator's generation runs: a ledger in
    ``outputs`` whose job is still running on a simulator no longer there. The job's id."""
    with (
        run(stuck=True, keepalive_seconds=0.5) as sim,
        Client(KEY, sim.base_url, outputs, simulated=True) as client,
    ):
        job = client.submit(VideoRequest(prompt=prompt, duration=3))
        started(job)
    return job.id


def ledger_lines(folder: Path, job_id: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in (folder / "ledger.jsonl").read_text().splitlines()]
    return [line for line in lines if line["job_id"] == job_id]


@pytest.fixture
def keyless(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    """A new kernel's shell with kling_nb loaded and no key (its own simulator, on a new port)."""
    monkeypatch.delenv("OXEN_API_KEY", raising=False)
    monkeypatch.delenv("KLING_NB_BASE_URL", raising=False)
    monkeypatch.setenv("KLING_NB_OUTPUTS", str(tmp_path))
    shell = InteractiveShell.instance()
    shell.extension_manager.load_extension("kling_nb")
    try:
        yield shell
    finally:
        shell.extension_manager.unload_extension("kling_nb")


def test_jobs_of_a_dead_simulator_are_shown_lost_once_and_never_offered_to_resume(
    keyless: InteractiveShell, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lost = killed_kernel(tmp_path / "simulated")
    capsys.readouterr()
    keyless.run_line_magic("kling", "jobs")
    first = capsys.readouterr().out
    (row,) = [line for line in first.splitlines() if line.startswith(lost)]
    assert "lost (ledger) (simulated)" in row
    assert "stopped with that kernel" in first and "run the cell again" in first
    assert "resume" not in first
    keyless.run_line_magic("kling", "jobs")
    assert capsys.readouterr().out.strip() == (
        "No jobs yet in this session, and none unfinished in the ledger."
    )
    keyless.run_line_magic("kling", "resume")
    assert "Nothing to resume" in capsys.readouterr().out
    last = ledger_lines(tmp_path / "simulated", lost)[-1]
    assert last["type"] == "job" and last["status"] == "failed"
    assert "stopped with its kernel" in last["error"]


def test_resume_and_cancel_all_say_a_dead_simulators_jobs_are_lost(
    keyless: InteractiveShell, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    killed_kernel(tmp_path / "simulated")
    capsys.readouterr()
    keyless.run_line_magic("kling", "cancel all")
    out = capsys.readouterr().out
    assert "Lost: 1 simulated job" in out and "stopped with that kernel" in out
    assert "resume" not in out
    killed_kernel(tmp_path / "simulated", "Another fox")
    capsys.readouterr()
    keyless.run_line_magic("kling", "resume")
    out = capsys.readouterr().out
    assert "Lost: 1 simulated job" in out and "stopped with that kernel" in out
    assert "Nothing to resume" in out


def test_a_simulated_clients_resume_settles_them_as_lost(tmp_path: Path, sim: Simulator) -> None:
    lost = killed_kernel(tmp_path)
    with Client(KEY, sim.base_url, tmp_path, simulated=True) as client:
        assert client.resume() == []
    (job,) = [line for line in ledger_lines(tmp_path, lost) if line["type"] == "job"]
    assert job["status"] == "failed" and "stopped with its kernel" in job["error"]
    (gen,) = [line for line in ledger_lines(tmp_path, lost) if line["type"] == "generation"][-1:]
    assert gen["status"] == "failed" and gen["generation_id"] and gen["error"] == job["error"]


def test_a_simulator_still_running_elsewhere_keeps_its_jobs(
    keyless: InteractiveShell, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Another kernel sharing the folder, its simulator alive: its job is not lost."""
    with run(stuck=True, keepalive_seconds=0.5) as other:
        client = Client(KEY, other.base_url, tmp_path / "simulated", simulated=True)
        try:
            job = client.submit(VideoRequest(prompt=PROMPT, duration=3))
            started(job)
            capsys.readouterr()
            keyless.run_line_magic("kling", "jobs")
            out = capsys.readouterr().out
        finally:
            client.close()
    (row,) = [line for line in out.splitlines() if line.startswith(job.id)]
    assert "lost" not in out and "(ledger) (simulated)" in row
    assert all(line["type"] != "job" for line in ledger_lines(tmp_path / "simulated", job.id))


def test_only_unfinished_simulated_jobs_of_a_silent_simulator_are_gone() -> None:
    from dataclasses import replace

    from kling_nb.lost import simulator_gone
    from kling_nb.records import GenerationRecord, JobRecord

    running = GenerationRecord(job_id="j", index=0, generation_id="g1", status="processing")
    job = JobRecord("j", {}, "h", "m", 1, None, "queue", True, "http://127.0.0.1:9", 0.0)
    job.generations = {0: running}
    silent, answering = (lambda url: False), (lambda url: True)
    assert simulator_gone(job, silent)
    assert not simulator_gone(job, answering)
    assert not simulator_gone(replace(job, simulated=False), silent)  # Oxen.ai, or a test server
    done = running.model_copy(update={"status": "succeeded"})
    assert not simulator_gone(replace(job, generations={0: done}), silent)
    unsent = replace(job, generations={0: GenerationRecord(job_id="j")})  # enqueue never answered
    assert simulator_gone(unsent, silent)
