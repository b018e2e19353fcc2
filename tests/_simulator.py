"""Helpers shared by the simulator tests: an HTTP client, enqueue/wait, an event-stream reader."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from kling_nb.simulator import Simulator

MODEL = "kling-video-o3-pro-reference-to-video"
KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
BODY = {"model": MODEL, "prompt": "a dog", "duration": 3}
FINAL = frozenset({"succeeded", "failed", "cancelled"})


def api(sim: Simulator, key: str = KEY) -> httpx.Client:
    """A client for the simulator's API with a bearer key (close it, or use ``with``)."""
    return httpx.Client(
        base_url=sim.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=10
    )


def enqueue(target: httpx.Client | Simulator, **body: Any) -> list[str]:
    """Enqueue ``{"model": MODEL, **body}`` through a client or straight to a simulator."""
    if isinstance(target, Simulator):
        with api(target) as client:
            return enqueue(client, **body)
    response = target.post("/api/ai/queue", json={"model": MODEL, **body})
    assert response.status_code == 200, response.text
    return [g["generation_id"] for g in response.json()["generations"]]


def wait_final(client: httpx.Client, generation_id: str, timeout: float = 10) -> dict[str, Any]:
    """Poll until the generation is final; its row."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row: dict[str, Any] = client.get(f"/api/ai/queue/{generation_id}").json()
        if row["status"] in FINAL:
            return row
        time.sleep(0.05)
    raise AssertionError(f"{generation_id} did not finish in {timeout} s")


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
