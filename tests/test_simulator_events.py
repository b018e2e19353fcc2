"""The simulator's Server-Sent Events stream, read over a real socket."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from kling_nb.simulator import Simulator, run

MODEL = "kling-video-o3-pro-reference-to-video"
AUTH = {"Authorization": "Bearer test-key"}


class Reader:
    """Reads an event stream on a thread, keeping every raw line and parsed event."""

    def __init__(self, sim: Simulator) -> None:
        self.lines: list[str] = []
        self.closed = threading.Event()
        self.connected = threading.Event()
        self._client = httpx.Client(base_url=sim.base_url, headers=AUTH, timeout=30)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        assert self.connected.wait(5)

    def _read(self) -> None:
        try:
            with self._client.stream("GET", "/api/events") as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                self.connected.set()
                for line in response.iter_lines():
                    self.lines.append(line)
        except httpx.HTTPError:
            pass
        finally:
            self.closed.set()

    def events(self) -> list[tuple[str, dict[str, Any]]]:
        out = []
        name = None
        for line in list(self.lines):
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: ") and name is not None:
                out.append((name, json.loads(line.removeprefix("data: "))))
                name = None
        return out

    def completions(self) -> list[dict[str, Any]]:
        return [d for name, d in self.events() if name == "media_generation_completed"]

    def wait_for(self, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.completions()
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"expected {count} events, got {self.completions()}")

    def close(self) -> None:
        self._client.close()
        self._thread.join(5)


@contextmanager
def reading(sim: Simulator) -> Iterator[Reader]:
    reader = Reader(sim)
    try:
        yield reader
    finally:
        reader.close()


def enqueue(sim: Simulator, **body: Any) -> list[str]:
    response = httpx.post(
        f"{sim.base_url}/api/ai/queue", headers=AUTH, json={"model": MODEL, **body}
    )
    assert response.status_code == 200, response.text
    return [g["generation_id"] for g in response.json()["generations"]]


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
    with reading(sim) as reader:
        (cancelled,) = enqueue(sim, prompt="a", duration=3)
        httpx.delete(f"{sim.base_url}/api/ai/queue/{cancelled}", headers=AUTH)
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


def test_stopping_the_simulator_ends_open_streams() -> None:
    sim = run(keepalive_seconds=60)
    reader = Reader(sim)
    started = time.monotonic()
    sim.stop()
    assert reader.closed.wait(5)
    assert time.monotonic() - started < 3
    reader.close()
