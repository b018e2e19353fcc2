"""The simulator's in-memory world (``simulator/state.py``): generations and their phases, the
request counters, and a reset that is as good as a restart."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from kling_nb.simulator import Simulator
from kling_nb.simulator.faults import ErrorSpec, Faults
from kling_nb.simulator.state import Config, Generation, SimState, Stats, Subscriber
from tests._simulator import BODY, MODEL, api, wait_final


@pytest.fixture
def client(sim: Simulator) -> Iterator[httpx.Client]:
    with api(sim) as c:
        yield c


def generation(params: dict[str, Any] | None = None, cost_usd: float = 0.0) -> Generation:
    return Generation(model=MODEL, params=params or {}, index=0, cost_usd=cost_usd)


def test_stats_count_calls_by_kind_path_and_user_agent(
    client: httpx.Client, sim: Simulator
) -> None:
    gid = client.post("/api/ai/queue", json=BODY).json()["generations"][0]["generation_id"]
    row = wait_final(client, gid)
    httpx.get(row["result_url"], headers={"User-Agent": "downloader/1"})
    client.get("/api/ai/queue")
    client.delete(f"/api/ai/queue/{gid}")
    client.get("/api/ai/models")
    client.get("/api/ai/generations")
    stats = sim.stats()
    assert stats["enqueue_calls"] == 1 and stats["generations_created"] == 1
    assert stats["polls"] >= 1 and stats["list_calls"] == 1 and stats["cancels"] == 1
    assert stats["downloads"] == 1 and stats["model_calls"] == 1
    assert stats["history_calls"] == 1 and stats["sync_calls"] == 0
    assert stats["requests_by_path"]["/api/ai/queue"] == 2
    assert stats["requests_by_path"][f"/api/ai/queue/{gid}"] == stats["polls"] + 1
    assert stats["requests_by_user_agent"]["downloader/1"] == 1
    assert stats["requests_by_user_agent"][f"python-httpx/{httpx.__version__}"] >= 5
    assert client.get("/_simulator/stats").json()["enqueue_calls"] == 1


def test_a_generations_prompt_is_its_prompt_or_its_shots_joined() -> None:
    assert generation({"prompt": "a dog"}).prompt == "a dog"
    shots = [{"prompt": "one"}, {"duration": 2}, "three", {"prompt": "two"}]
    assert generation({"multi_prompt": shots}).prompt == "one / two"
    assert generation({"multi_prompt": [{"duration": 2}]}).prompt is None
    assert generation({"prompt": None, "multi_prompt": "x"}).prompt is None


def test_only_successes_are_billed_and_timestamps_follow_the_phases() -> None:
    cancelled = generation(cost_usd=0.5)
    cancelled.finish("cancelled")  # while queued: it never started
    assert cancelled.cost_usd == 0 and cancelled.started_at is None
    assert cancelled.completed_at is not None and cancelled.cancelled
    failed = generation(cost_usd=0.5)
    failed.finish("failed", error="boom")  # refused before processing: it started and ended
    assert failed.cost_usd == 0 and failed.error_message == "boom"
    assert failed.started_at is not None and failed.completed_at is not None
    done = generation(cost_usd=0.5)
    done.mark_processing()
    assert done.status == "processing" and done.completed_at is None
    done.finish("succeeded")
    assert done.cost_usd == 0.5 and done.error_message is None and not done.cancelled
    assert done.enqueued_at <= done.started_at <= done.completed_at


def test_stats_list_every_counter_from_zero() -> None:
    stats = Stats()
    stats.bump("polls", 2)
    out = stats.as_json(3)
    assert {name: out[name] for name in Stats.COUNTERS} == {
        **dict.fromkeys(Stats.COUNTERS, 0),
        "polls": 2,
    }
    assert out["active_event_connections"] == 3
    assert out["requests_by_path"] == {} and out["requests_by_user_agent"] == {}


def test_reset_restores_the_start_faults_however_often_they_were_used() -> None:
    start = Faults(enqueue_errors=[ErrorSpec(502)], fail_next=1)
    state = SimState(Config(), start)
    for _ in range(2):
        assert state.faults.take_error("enqueue_errors") == ErrorSpec(502)
        assert state.faults.take("fail_next")
        assert state.faults.take_error("enqueue_errors") is None
        state.reset()
    assert state.faults == start == Faults(enqueue_errors=[ErrorSpec(502)], fail_next=1)


def test_reset_ends_streams_and_tasks_and_forgets_everything() -> None:
    async def scenario() -> None:
        state = SimState(Config(), Faults())
        state.add(generation())
        state.repos["user-1/playground"] = {}
        state.spent_usd = 1.5
        subscriber = Subscriber()
        state.subscribers.add(subscriber)
        finished = state.spawn(asyncio.sleep(0))
        await finished
        assert finished not in state.tasks  # a task is kept only while it runs
        running = state.spawn(asyncio.sleep(60))
        state.reset()
        assert subscriber.queue.get_nowait() is None  # its stream ends
        assert state.subscribers == set() and state.tasks == set()
        assert state.generations == {} and state.repos == {} and state.spent_usd == 0
        assert state.stats.as_json(0)["generations_created"] == 0
        with pytest.raises(asyncio.CancelledError):
            await running

    asyncio.run(scenario())
