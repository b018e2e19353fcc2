"""Paid results are never lost, deadlines are fair to a batch, and an uncertain enqueue adopts
only its own generations: each against a real simulator over loopback."""

from __future__ import annotations

import time
from pathlib import Path

from kling_nb.client import Client
from kling_nb.retry import Policy
from kling_nb.simulator import Simulator
from kling_nb.store import Ledger

REQUEST = {"model": "o3-pro", "prompt": "a red fox in the snow", "duration": 3}
# One transfer per download round and a fast safety poll, so retries show within a test.
FAST = Policy(safety_poll_interval=0.3, download_attempts=1, backoff_initial=0.01)


def _ledger_status(folder: Path, job_id: str) -> str:
    return Ledger(folder).jobs()[job_id].generations[0].status


def test_a_result_that_failed_to_save_is_retried_with_a_fresh_url(
    sim: Simulator, tmp_path: Path
) -> None:
    sim.set_faults(download_truncate=1)
    with Client("sk-test", sim.base_url, tmp_path, policy=FAST) as client:
        job = client.submit(REQUEST).wait(timeout=30)
        assert job.status == "succeeded", job.summary()
        assert job.results[0].path.is_file()
    stats = sim.stats()
    assert stats["enqueue_calls"] == 1
    assert stats["downloads"] == 2
    assert _ledger_status(tmp_path, job.id) == "succeeded"


def test_a_result_never_saved_is_kept_for_resume_after_a_restart(
    sim: Simulator, tmp_path: Path
) -> None:
    sim.set_faults(download_truncate=100)
    with Client("sk-test", sim.base_url, tmp_path, policy=FAST) as client:
        job = client.submit(REQUEST).wait(timeout=30)
        gen = job.generations[0]
        assert job.status == "failed"
        assert gen.error is not None and "Client().resume()" in gen.error
        assert "3 times" in gen.error
    assert _ledger_status(tmp_path, job.id) == "save_failed"

    sim.set_faults(download_truncate=0)
    with Client("sk-test", sim.base_url, tmp_path, policy=FAST) as client:  # after a restart
        resumed = client.resume()
        assert [j.id for j in resumed] == [job.id]
        assert resumed[0].wait(timeout=30).status == "succeeded"
        assert resumed[0].results[0].path.is_file()
        again = client.submit(REQUEST)
        assert again.replayed and again.status == "succeeded"
    assert sim.stats()["enqueue_calls"] == 1


def test_a_late_success_after_the_deadline_is_saved_by_resume_after_a_restart(
    sim: Simulator, tmp_path: Path
) -> None:
    sim.set_faults(events_lose=1)  # the first client never hears that it finished
    with Client("sk-test", sim.base_url, tmp_path, deadline_seconds=0.5) as client:
        job = client.submit(REQUEST).wait(timeout=30)
        assert job.status == "timed_out"
    assert _ledger_status(tmp_path, job.id) == "timed_out"

    with Client("sk-test", sim.base_url, tmp_path) as client:
        resumed = client.resume()
        assert [j.id for j in resumed] == [job.id]
        done = resumed[0].wait(timeout=30)
        assert done.status == "succeeded", done.summary()
        assert done.results[0].path.is_file()
    assert _ledger_status(tmp_path, job.id) == "succeeded"
    assert sim.stats()["enqueue_calls"] == 1


def test_batch_deadlines_count_from_each_enqueue_not_from_submission(
    sim: Simulator, tmp_path: Path
) -> None:
    requests = [{**REQUEST, "prompt": f"fox number {i}"} for i in range(8)]
    with Client("sk-test", sim.base_url, tmp_path, deadline_seconds=1.2) as client:
        started = time.monotonic()
        jobs = client.submit_many(requests, max_in_flight=1)
        statuses = [job.wait(timeout=60).status for job in jobs]
        elapsed = time.monotonic() - started
    # one at a time the batch outlasts the deadline, yet no job waited on a slot is timed out
    assert elapsed > 1.2
    assert statuses == ["succeeded"] * 8
    assert sim.stats()["enqueue_calls"] == 8


def test_after_a_5xx_on_enqueue_a_job_never_adopts_a_siblings_generation(
    sim: Simulator, tmp_path: Path
) -> None:
    policy = Policy(enqueue_reconcile_delays=(0.0, 0.3))
    with Client("sk-test", sim.base_url, tmp_path, policy=policy) as client:
        for round_ in range(3):
            sim.set_faults(enqueue_errors=[502])  # the first of three identical enqueues
            same = {**REQUEST, "prompt": f"the same fox, round {round_}"}
            jobs = client.submit_many([same, same, same], force=True)
            for job in jobs:
                job.wait(timeout=10)
            ids = [gid for job in jobs for gid in job.generation_ids]
            assert len(ids) == len(set(ids)) == 2, [j.summary() for j in jobs]
            assert sorted(job.status for job in jobs) == ["error", "succeeded", "succeeded"]
    assert sim.stats()["enqueue_calls"] == 9
