"""Replay and re-run safety against real simulators over loopback: results replay only for the
server that made them, and re-running a request whose job is still running (after a kernel
restart) re-attaches to it instead of paying again."""

from __future__ import annotations

from pathlib import Path

from kling_nb import Client, VideoRequest
from kling_nb.retry import Policy
from kling_nb.simulator import Simulator, run

FAKE_KEY = "sk-kling-FAKE-KEY-replay-7373"
FAST = Policy(
    safety_poll_interval=1.0,
    fallback_poll_min=0.1,
    fallback_poll_max=0.5,
    enqueue_reconcile_delays=(0.0, 0.3),
)


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
