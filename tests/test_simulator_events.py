"""The simulator's Server-Sent Events stream, read over a real socket."""

from __future__ import annotations

import httpx
from _core import until

from kling_nb.simulator import Simulator, run
from tests._simulator import MODEL, Reader, api, enqueue, reading, wait_final


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


def test_no_event_for_cancelled_generations(sim: Simulator) -> None:
    # A stuck generation stays active until cancelled: the cancel lands however loaded the machine.
    sim.set_faults(stuck=True)
    with api(sim) as client, reading(sim) as reader:
        (cancelled,) = enqueue(client, prompt="a", duration=3)
        assert client.delete(f"/api/ai/queue/{cancelled}").status_code == 200
        row = client.get(f"/api/ai/queue/{cancelled}").json()
        assert row["status"] == "cancelled"
        sim.set_faults(stuck=False)
        (done,) = enqueue(client, prompt="b", duration=3)
        events = reader.wait_for(1)
        # Events reach a stream in order: once a later one has arrived, so has any before it.
        (last,) = enqueue(client, prompt="c", duration=3)
        reader.wait_for(2)
    assert [e["generation_id"] for e in reader.completions()] == [done, last]
    assert events[0]["generation_id"] == done


def test_late_subscribers_get_no_replay(sim: Simulator) -> None:
    with api(sim) as client:
        (early,) = enqueue(client, prompt="a", duration=3)
        # Its event is published in the step that makes it final: lost, as no one listened.
        wait_final(client, early)
    with reading(sim) as reader:
        (late,) = enqueue(sim, prompt="b", duration=3)
        reader.wait_for(1)  # a replay would have come first, as the stream opened
    assert [e["generation_id"] for e in reader.completions()] == [late]
    assert early != late


def test_keep_alive_comments_while_idle() -> None:
    with run(keepalive_seconds=0.1) as sim, reading(sim) as reader:
        until(lambda: reader.lines.count(": keep-alive") >= 3)
        until(lambda: sim.stats()["keepalives_sent"] >= 3)  # counted just after each write


def test_every_connected_subscriber_gets_each_event_once(sim: Simulator) -> None:
    with reading(sim) as first, reading(sim) as second:
        (gid,) = enqueue(sim, prompt="a", duration=3)
        first.wait_for(1)
        second.wait_for(1)
        # Events reach a stream in order: once a later one has arrived, so has any repeat.
        (last,) = enqueue(sim, prompt="b", duration=3)
        first.wait_for(2)
        second.wait_for(2)
        assert sim.stats()["active_event_connections"] == 2
        until(lambda: sim.stats()["events_sent"] >= 4)  # counted just after each write
    assert [e["generation_id"] for e in first.completions()] == [gid, last]
    assert [e["generation_id"] for e in second.completions()] == [gid, last]
    assert sim.stats()["events_sent"] == 4


def test_a_client_leaving_is_noticed_while_idle(sim: Simulator) -> None:
    reader = Reader(sim)
    assert sim.stats()["active_event_connections"] == 1
    reader.close()
    until(lambda: sim.stats()["active_event_connections"] == 0)
