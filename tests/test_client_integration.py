"""The client against the simulator over loopback: every fault at once, cancel, replay, resume
after a SIGKILL, and the API key never showing anywhere. The faults each module handles alone
(an uncertain enqueue, lost or dropped events, cut downloads) are in test_enqueue.py,
test_tracking.py and test_downloads.py."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from _core import SLOW_DOWNLOAD, assert_saved, request, until
from _policies import FAST

from kling_nb.client import Client
from kling_nb.errors import AuthenticationError, KlingError
from kling_nb.requests import VideoRequest
from kling_nb.simulator import Simulator, run

FAKE_KEY = "sk-kling-FAKE-KEY-integration-9731"
FINAL = {"succeeded", "partial", "failed", "cancelled", "timed_out", "error"}


def test_submit_returns_at_once_and_the_completion_event_finishes_the_job(
    sim: Simulator, tmp_path: Path
) -> None:
    events_only = replace(FAST, safety_poll_interval=600.0)
    client = Client(FAKE_KEY, sim.base_url, tmp_path, policy=events_only)
    with client:
        job = client.submit(request(), num_generations=2)
        assert not job.done
        assert job.wait(30) is job
    assert job.status == "succeeded"
    assert len(job.results) == 2
    assert_saved(job)
    assert all(r.path.parent == client.outputs_dir for r in job.results)
    stats = sim.stats()
    assert stats["enqueue_calls"] == 1
    assert stats["event_connections"] == 1
    assert stats["polls"] == 0 and stats["list_calls"] == 0  # the events carried everything
    agents = list(stats["requests_by_user_agent"])
    assert agents and all(a.startswith("kling-nb/") and "oxen" not in a.lower() for a in agents)


def test_observers_run_on_the_runtime_thread(sim: Simulator, client: Client) -> None:
    sim.set_faults(**SLOW_DOWNLOAD)  # the job still changes after it is observed
    threads: set[str] = set()
    job = client.submit(request())
    job.observe(lambda j: threads.add(threading.current_thread().name))
    job.wait(30)
    assert threads == {"kling-nb"}


def test_a_recorded_success_replays_without_network_until_forced(
    sim: Simulator, client: Client
) -> None:
    first = client.submit(request()).wait(30)
    before = sim.stats()
    again = client.submit(request())
    assert again.replayed and again.done and again.status == "succeeded"
    assert [r.sha256 for r in again.results] == [r.sha256 for r in first.results]
    assert sim.stats()["enqueue_calls"] == before["enqueue_calls"] == 1
    assert sim.stats()["downloads"] == before["downloads"]
    forced = client.submit(request(), force=True).wait(30)
    assert not forced.replayed and forced.status == "succeeded"
    assert sim.stats()["enqueue_calls"] == 2


def test_a_deleted_result_is_not_replayed(sim: Simulator, client: Client) -> None:
    first = client.submit(request()).wait(30)
    first.results[0].path.unlink()
    second = client.submit(request()).wait(30)
    assert not second.replayed
    assert sim.stats()["enqueue_calls"] == 2


def test_a_new_client_replays_from_the_ledger_in_the_folder(sim: Simulator, tmp_path: Path) -> None:
    with Client(FAKE_KEY, sim.base_url, tmp_path / "out", policy=FAST) as c:
        c.submit(request()).wait(30)
    with Client(None, sim.base_url, tmp_path / "out", policy=FAST) as c:
        job = c.submit(request())  # no key needed to replay
        assert job.replayed
    assert sim.stats()["enqueue_calls"] == 1


def test_429_is_resent_after_retry_after(sim: Simulator, client: Client) -> None:
    sim.set_faults(enqueue_errors=[{"status": 429, "retry_after": 0.2}])
    job = client.submit(request()).wait(30)
    assert job.status == "succeeded"
    assert sim.stats()["enqueue_calls"] == 2
    assert sim.stats()["generations_created"] == 1


def test_a_failed_generation_makes_a_partial_job(sim: Simulator, client: Client) -> None:
    sim.set_faults(fail_next=1, fail_message="Insufficient credits for this take")
    job = client.submit(request(), num_generations=2).wait(30)
    assert job.status == "partial"
    failed = [g for g in job.generations if g.status == "failed"]
    assert [g.error for g in failed] == ["Insufficient credits for this take"]
    assert len(job.results) == 1


def test_cancel_one_generation_and_cancel_all(sim: Simulator, client: Client) -> None:
    sim.set_faults(stuck=True)
    one = client.submit(request("A fox number one"), 2)
    many = [client.submit(request(f"A fox number {i}")) for i in range(3)]
    until(lambda: all(job.generation_ids for job in [one, *many]))
    client.cancel(one.generation_ids[0])
    assert one.generations[0].status == "cancelled"
    assert not one.done
    client.cancel_all()
    for job in [one, *many]:
        assert job.wait(10).status == "cancelled"
    assert sim.stats()["cancels"] == 5


def test_a_throttled_padded_download_arrives_whole(sim: Simulator, client: Client) -> None:
    sim.set_faults(download_bytes_per_second=2_000_000, result_size_bytes=1_500_000)
    job = client.submit(request()).wait(30)
    assert job.status == "succeeded"
    assert job.results[0].size == 1_500_000
    assert_saved(job)


def test_every_fault_at_once(sim: Simulator, client: Client) -> None:
    sim.set_faults(
        enqueue_errors=[{"status": 429, "retry_after": 0.1}, {"status": 502, "queued": True}],
        poll_errors=[502, 503],
        events_drop_after=2,
        events_lose=2,
        events_duplicate=True,
        events_foreign=True,
        fail_next=1,
        download_truncate=1,
        result_url_ttl_seconds=2.0,
    )
    jobs = [client.submit(request(f"A fox number {i} runs"), 2) for i in range(4)]
    for job in jobs:
        assert job.wait(60).status in FINAL
        assert_saved(job)
    stats = sim.stats()
    assert stats["enqueue_calls"] == 5  # four submissions plus one resend after the 429
    assert stats["generations_created"] == 8
    generations = [g for j in jobs for g in j.generations]
    assert sum(g.status == "failed" for g in generations) == 1
    assert sum(g.status == "succeeded" for g in generations) == 7


def test_sync_generate_saves_url_and_b64_results(sim: Simulator, client: Client) -> None:
    job = client.generate(request())
    assert job.status == "succeeded" and job.done
    assert_saved(job)
    b64 = client.generate(VideoRequest(prompt="A fox sleeps", response_format="b64_json"))
    assert b64.status == "succeeded"
    assert_saved(b64)
    assert client.generate(request()).replayed
    assert sim.stats()["sync_calls"] == 2
    records = [json.loads(line) for line in client.ledger.path.read_text().splitlines()]
    assert [r["endpoint"] for r in records if r["type"] == "submission"] == ["sync", "sync"]


def test_models_history_and_budget(sim: Simulator, tmp_path: Path) -> None:
    with Client(FAKE_KEY, sim.base_url, tmp_path, budget_usd=1.0, policy=FAST) as c:
        models = c.models()
        assert models and all("request_schema" in m for m in models)
        one = c.model(models[0]["id"])
        assert one["id"] == models[0]["id"] and "request_schema" in one
        job = c.submit(request()).wait(30)  # 3 s at $0.224 = $0.672
        with pytest.raises(KlingError, match=r"\$0\.67.*\$0\.33 left"):
            c.submit(request("Another fox"))
        history = c.history()
        rows = history.get("data") or history.get("generations") or []
        assert job.generation_ids[0] in json.dumps(rows)
    assert sim.stats()["enqueue_calls"] == 1


def test_a_wrong_key_is_reported_without_the_key(tmp_path: Path) -> None:
    with (
        run(api_key="the-right-key", keepalive_seconds=0.5) as sim,
        Client(FAKE_KEY, sim.base_url, tmp_path, policy=FAST) as c,
    ):
        job = c.submit(request()).wait(30)
        assert job.status == "error"
        assert job.error is not None and "OXEN_API_KEY" in job.error
        with pytest.raises(AuthenticationError) as info:
            c.history()
        assert FAKE_KEY not in str(info.value)


def test_the_key_never_appears_anywhere(
    sim: Simulator,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    sim.set_faults(fail_next=1, poll_errors=[500], events_lose=1, enqueue_errors=[{"status": 502}])
    with Client(FAKE_KEY, sim.base_url, tmp_path, deadline_seconds=5, policy=FAST) as c:
        texts.append(repr(c))
        jobs = [c.submit(request(f"A fox number {i}"), 2) for i in range(3)]
        for job in jobs:
            job.wait(30)
            texts += [repr(job), job.summary(), str(job.error)]
            texts += [str(g.error) for g in job.generations]
        try:
            c.cancel("no-such-generation")
        except KlingError as exc:
            texts.append(str(exc))
    out = capsys.readouterr()
    texts += [out.out, out.err, caplog.text]
    texts += [p.read_text(errors="replace") for p in tmp_path.glob("*.jsonl")]
    assert "HTTP Request" in caplog.text  # the logs were captured
    for text in texts:
        assert FAKE_KEY not in text


RESUME_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from kling_nb.client import Client
    from kling_nb.requests import VideoRequest
    client = Client(sys.argv[1], sys.argv[2], sys.argv[3])
    job = client.submit(VideoRequest(prompt="A fox keeps running", duration=3), 2)
    while len(job.generation_ids) < 2:
        time.sleep(0.01)
    print("QUEUED", job.id, flush=True)
    time.sleep(600)
    """
)


def test_resume_in_a_new_process_after_the_first_was_killed(tmp_path: Path) -> None:
    with run(generation_seconds=2.0, keepalive_seconds=0.5) as sim:
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
        proc = subprocess.Popen(
            [sys.executable, "-c", RESUME_SCRIPT, FAKE_KEY, sim.base_url, str(tmp_path)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("QUEUED"), line
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        proc.stdout.close()
        job_id = line.split()[1]
        with Client(FAKE_KEY, sim.base_url, tmp_path, policy=FAST) as c:
            (job,) = c.resume()
            assert job.id == job_id
            assert not job.done
            assert job.wait(30).status == "succeeded"
            assert_saved(job)
            assert c.resume() == []
        with Client(FAKE_KEY, sim.base_url, tmp_path, policy=FAST) as c:
            assert c.resume() == []  # the ledger now says it is done
            assert c.submit(VideoRequest(prompt="A fox keeps running", duration=3), 2).replayed
        assert sim.stats()["enqueue_calls"] == 1


def test_the_ledger_has_the_submission_before_submit_returns(
    sim: Simulator, client: Client
) -> None:
    sim.set_faults(stuck=True)
    job = client.submit(request(), 2)
    # the submission line is there when submit returns (generation lines may follow it)
    record, *later = [json.loads(line) for line in client.ledger.path.read_text().splitlines()]
    assert record["type"] == "submission" and record["job_id"] == job.id
    assert all(r["type"] != "submission" for r in later)
    assert record["request_hash"] == request().request_hash
    assert record["request"] == request().canonical()
    assert record["estimated_cost"] == job.estimated_cost

    def recorded() -> list[str | None]:
        pending = client.ledger.pending(base_url=client.base_url)
        return [g.generation_id for g in pending[0].pending] if pending else []

    # the ids are known in memory a moment before the journal writes them down
    until(lambda: len(recorded()) == 2)
    assert recorded() == job.generation_ids


def test_closing_during_a_download_leaves_it_pending_then_resume_saves_it(tmp_path: Path) -> None:
    """The close cuts the transfer at once; nothing final or misleading is recorded."""
    out = tmp_path / "out"
    slow = {"result_size_bytes": 20_000_000, "download_bytes_per_second": 2_000_000}
    with run(generation_seconds=0.2, **slow) as sim:
        client = Client(FAKE_KEY, sim.base_url, out, policy=FAST)
        job = client.submit(VideoRequest(prompt="A fox cut short", duration=3))
        deadline = time.monotonic() + 20
        while job.generations[0].status != "downloading" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert job.generations[0].status == "downloading"
        client.close()
        lines = [json.loads(line) for line in (out / "ledger.jsonl").read_text().splitlines()]
        assert [(r["type"], r.get("status")) for r in lines] == [
            ("submission", None),
            ("generation", "queued"),
        ]
        assert not list(out.glob("*.mp4")) and not list(out.glob(".*.part"))
        sim.set_faults(download_bytes_per_second=None)
        with Client(FAKE_KEY, sim.base_url, out, policy=FAST) as again:
            (resumed,) = again.resume()
            assert resumed.wait(60).status == "succeeded"
    assert resumed.results[0].size == 20_000_000


def test_a_key_with_a_control_character_is_refused_without_showing_it(tmp_path: Path) -> None:
    with pytest.raises(KlingError) as caught:
        Client(FAKE_KEY + "\ntail", "http://127.0.0.1:9", tmp_path)
    assert "control character" in str(caught.value)
    assert FAKE_KEY not in str(caught.value)
