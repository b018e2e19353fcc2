"""The simulator's Server-Sent Events stream, read over a real socket."""

from __future__ import annotations

import time

import httpx

from kling_nb.simulator import Simulator, run
from tests._simulator import AUTH, MODEL, Reader, enqueue, reading


def test_succeeded_and_failed_events_carry_the_documented_compact_fields(sim: Simulator) -> None:
    with reading(sim) as reader:
        (ok,) = enqueue(sim, prompt="a dog", duration=3)
        (bad,) = enqueue(sim, prompt="a", multi_prompt=[{"prompt": "b"}])
        events = {e["generation_id"]: e for e in reader.wait_for(2)}
        raw = [line for line in reader.lines if line.startswith("data: ")]
    assert list(events[ok]) == ["generation_id", "status", "media_type", "model", "url"]
    assert events[ok]["status"] == "succeeded" and events[ok]["model"] == MODEL
    assert httpx.get(events[ok]["url"]).content[4:8] == b"ftyp"
    assert list(events[bad]) == ["generation_id", "status", "media_type", "error"]
    assert events[bad]["error"].startswith("Getting model response error: 422 - ")
    # compact JSON: the docs' awk client matches the literal "generation_id":"<id>"
    assert any(f'"generation_id":"{ok}"' in line for line in raw)
    assert all(": " not in line.removeprefix("data: ") or '"error"' in line for line in raw)


def test_no_event_for_cancelled_generations() -> None:
    # Generations of 2 s: the cancel lands while the first one runs, however loaded the machine.
    with run(generation_seconds=2.0) as sim, reading(sim) as reader:
        (cancelled,) = enqueue(sim, prompt="a", duration=3)
        httpx.delete(f"{sim.base_url}/api/ai/queue/{cancelled}", headers=AUTH)
        row = httpx.get(f"{sim.base_url}/api/ai/queue/{cancelled}", headers=AUTH).json()
        assert row["status"] == "cancelled"
        (done,) = enqueue(sim, prompt="b", duration=3)
        events = reader.wait_for(1)
        time.sleep(0.3)
    assert [e["generation_id"] for e in reader.completions()] == [done]
    assert events[0]["generation_id"] == done


def test_late_subscribers_get_no_replay(sim: Simulator) -> None:
    (early,) = enqueue(sim, prompt="a", duration=3)
    time.sleep(0.5)  # finished while no one listened: lost
    with reading(sim) as reader:
        (late,) = enqueue(sim, prompt="b", duration=3)
        reader.wait_for(1)
        time.sleep(0.2)
    assert [e["generation_id"] for e in reader.completions()] == [late]
    assert early != late


def test_keep_alive_comments_while_idle() -> None:
    with run(keepalive_seconds=0.1) as sim, reading(sim) as reader:
        time.sleep(0.45)
        lines = list(reader.lines)
    assert lines.count(": keep-alive") >= 3
    assert sim.stats()["keepalives_sent"] >= 3


def test_every_connected_subscriber_gets_each_event_once(sim: Simulator) -> None:
    with reading(sim) as first, reading(sim) as second:
        (gid,) = enqueue(sim, prompt="a", duration=3)
        first.wait_for(1)
        second.wait_for(1)
        time.sleep(0.2)
        assert sim.stats()["active_event_connections"] == 2
    assert [e["generation_id"] for e in first.completions()] == [gid]
    assert [e["generation_id"] for e in second.completions()] == [gid]
    assert sim.stats()["events_sent"] == 2


def test_a_client_leaving_is_noticed_while_idle(sim: Simulator) -> None:
    reader = Reader(sim)
    assert sim.stats()["active_event_connections"] == 1
    reader.close()
    deadline = time.monotonic() + 2
    while sim.stats()["active_event_connections"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sim.stats()["active_event_connections"] == 0
