"""Replay and re-run safety against real simulators over loopback: results replay only for the
server that made them, and re-running a request whose job is still running (after a kernel
restart) re-attaches to it instead of paying again."""

from __future__ import annotations

import time
from pathlib import Path

from _policies import FAST

from kling_nb import Client, Job, VideoRequest
from kling_nb.simulator import Simulator, run
from kling_nb.store import file_sha256

FAKE_KEY = "sk-kling-FAKE-KEY-replay-7373"


def request(text: str = "A red fox runs through fresh snow") -> VideoRequest:
    return VideoRequest(prompt=text, duration=3)


def test_results_replay_only_for_the_server_that_made_them(sim: Simulator, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with Client(FAKE_KEY, sim.base_url, out, policy=FAST) as c:
        first = c.submit(request()).wait(30)
        assert first.status == "succeeded"
    with (
        run(generation_seconds=0.2, keepalive_seconds=0.5) as other,
        Client(FAKE_KEY, other.base_url, out, policy=FAST) as c,
    ):
        job = c.submit(request())
        assert not job.replayed
        assert job.wait(30).status == "succeeded"
        assert other.stats()["enqueue_calls"] == 1
    with Client(FAKE_KEY, sim.base_url, out, policy=FAST) as c:
        again = c.submit(request())
        assert again.replayed and again.status == "succeeded"
        assert [r.sha256 for r in again.results] == [r.sha256 for r in first.results]
    assert sim.stats()["enqueue_calls"] == 1


def test_a_batch_replays_only_for_the_server_that_made_it(sim: Simulator, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with Client(FAKE_KEY, sim.base_url, out, policy=FAST) as c:
        (done,) = c.submit_many([request()])
        assert done.wait(30).status == "succeeded"
    with (
        run(generation_seconds=0.2, keepalive_seconds=0.5) as other,
        Client(FAKE_KEY, other.base_url, out, policy=FAST, budget_usd=100.0) as c,
    ):
        (job,) = c.submit_many([request()])
        assert not job.replayed
        assert c.spent_usd > 0  # counted against the budget: it was not going to replay
        assert job.wait(30).status == "succeeded"
        assert other.stats()["enqueue_calls"] == 1
    assert sim.stats()["enqueue_calls"] == 1


def wait_for_ids(job: Job, n: int) -> list[str]:
    for _ in range(500):
        if len(job.generation_ids) == n:
            return job.generation_ids
        time.sleep(0.02)
    raise AssertionError(f"job {job.id} got no server ids: {job.status}")


def test_a_rerun_after_a_restart_rejoins_the_running_job_and_sends_nothing(
    sim: Simulator, tmp_path: Path
) -> None:
    sim.set_faults(stuck=True)
    out = tmp_path / "out"
    with Client(FAKE_KEY, sim.base_url, out, policy=FAST) as c:
        first = c.submit(request(), 2)
        ids = wait_for_ids(first, 2)
    with Client(FAKE_KEY, sim.base_url, out, policy=FAST, budget_usd=0.01) as c:  # restarted
        again = c.submit(request(), 2)
        assert again.id == first.id and again.generation_ids == ids
        assert not again.replayed and not again.done
        assert c.submit(request(), 2) is again
        (batched,) = c.submit_many([request()], num_generations=2)  # within budget: paid for
        assert batched is again and c.spent_usd == 0
        assert sim.stats()["enqueue_calls"] == 1
        c.budget_usd = None
        other = c.submit(request(), 1)  # another num_generations: a job of its own
        forced = c.submit(request(), 2, force=True)
        assert len({first.id, other.id, forced.id}) == 3
        wait_for_ids(other, 1)
        wait_for_ids(forced, 2)
        assert sim.stats()["enqueue_calls"] == 3
        c.cancel_all()
        assert again.wait(10).status == "cancelled"


def test_a_job_past_its_deadline_is_rejoined_never_sent_again(
    sim: Simulator, tmp_path: Path
) -> None:
    """A deadline only stops waiting: a re-run long after it adopts the running job."""
    sim.set_faults(stuck=True)
    out = tmp_path / "out"
    with Client(FAKE_KEY, sim.base_url, out, policy=FAST) as c:
        first = c.submit(request())
        wait_for_ids(first, 1)
    with Client(FAKE_KEY, sim.base_url, out, policy=FAST, deadline_seconds=0.001) as c:
        again = c.submit(request())
        assert again.id == first.id
        assert again.wait(10).status == "timed_out"
        assert sim.stats()["enqueue_calls"] == 1
        c.cancel_all()


def test_a_rejoined_job_finishes_and_saves_and_generate_waits_for_it(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with run(generation_seconds=1.5, keepalive_seconds=0.5) as slow:
        with Client(FAKE_KEY, slow.base_url, out, policy=FAST) as c:
            first = c.submit(request())
            wait_for_ids(first, 1)
        with Client(FAKE_KEY, slow.base_url, out, policy=FAST) as c:  # the kernel restarted
            job = c.generate(request())
            assert job.id == first.id and job.status == "succeeded"
            (result,) = job.results
            assert result.path.is_file() and file_sha256(result.path) == result.sha256
            assert c.submit(request()).replayed
        stats = slow.stats()
    assert stats["enqueue_calls"] == 1
    assert stats["sync_calls"] == 0


def test_one_unreadable_ledger_line_does_not_stop_the_client(
    sim: Simulator, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "ledger.jsonl").write_text(
        '{"v":1,"type":"submission","job_id":"x","request":{},"request_hash":"h",'
        '"num_generations":"two"}\n{"v":1,"type":"submission","job_id":"torn","req'
    )
    with Client(FAKE_KEY, sim.base_url, out, policy=FAST) as c:
        assert c.resume() == []
        first = c.submit(request())
        assert first.wait(30).status == "succeeded"
        assert c.submit(request()).replayed
        assert list(c.ledger.jobs()) == [first.id]
