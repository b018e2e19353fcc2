"""The event-stream listener on an injected transport: dispatch, reconnects, fallback to polling."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx
import pytest

from kling_nb.api import Api
from kling_nb.events import EventListener
from kling_nb.retry import Policy

BASE = "https://hub.test"
POLICY = Policy(events_backoff_initial=0.001, events_backoff_max=0.005, jitter=0.0)
STREAM = (
    b": keep-alive\n\n"
    b'event: media_generation_completed\ndata: {"generation_id":"g1","status":"succeeded",'
    b'"url":"https://cdn.test/g1.mp4"}\n\n'
    b'event: deployment_updated\ndata: {"generation_id":"g2"}\n\n'
    b"event: media_generation_completed\ndata: not json\n\n"
    b'event: media_generation_completed\ndata: {"status":"failed"}\n\n'
    b'data: {"generation_id":"g3"}\n\n'
    b'event: media_generation_completed\ndata: {"generation_id":"g4","status":"failed",'
    b'"error":"Insufficient credits"}\n\n'
)


def sse(body: bytes = STREAM) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)


def drive(
    handler: Callable[[httpx.Request], httpx.Response],
    until: Callable[[EventListener, list[dict[str, Any]], list[int]], bool],
) -> tuple[EventListener, list[dict[str, Any]], list[int], bool]:
    events: list[dict[str, Any]] = []
    connects: list[int] = []

    async def main() -> tuple[EventListener, bool]:
        api = Api(BASE, "sk-test-key", POLICY, httpx.MockTransport(handler))
        listener = EventListener(
            api, POLICY, on_event=events.append, on_connect=lambda: connects.append(1)
        )
        task = asyncio.create_task(listener.run())
        # Bounded only against a hang: a loaded machine just takes longer to get there.
        deadline = asyncio.get_running_loop().time() + 60
        while asyncio.get_running_loop().time() < deadline:
            if until(listener, events, connects) or task.done():
                break
            await asyncio.sleep(0.002)
        finished = task.done()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await api.aclose()
        return listener, finished

    listener, finished = asyncio.run(main())
    return listener, events, connects, finished


def test_only_completion_events_with_an_id_are_dispatched() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return sse()

    _, events, connects, _ = drive(handler, lambda _l, e, _c: len(e) >= 2)
    assert [e["generation_id"] for e in events[:2]] == ["g1", "g4"]
    assert events[0]["url"] == "https://cdn.test/g1.mp4"
    assert events[1]["error"] == "Insufficient credits"
    request = seen[0]
    assert request.headers["accept"] == "text/event-stream"
    assert request.headers["authorization"] == "Bearer sk-test-key"
    assert connects


def test_every_reconnect_asks_for_a_reconcile() -> None:
    _, events, connects, _ = drive(lambda r: sse(), lambda _l, _e, c: len(c) >= 3)
    assert len(connects) >= 3
    assert len(events) >= 4  # the stream ended cleanly and was reopened


def test_a_404_means_polling_for_good() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(404, json={"error": {"title": "not found"}})

    listener, events, connects, finished = drive(handler, lambda _l, _e, _c: False)
    assert finished
    assert listener.state == "unavailable" and listener.polling
    assert calls == [1] and events == [] and connects == []


def test_repeated_failures_switch_to_polling_until_the_stream_is_back() -> None:
    answers = [httpx.Response(500), httpx.Response(502), httpx.Response(200, text="nope")]

    def handler(request: httpx.Request) -> httpx.Response:
        if answers:
            return answers.pop(0)
        raise httpx.ConnectError("down", request=request)

    listener, _, connects, _ = drive(handler, lambda lis, _e, _c: lis.failures >= 5)
    assert listener.polling
    assert connects == []

    healed: list[int] = []

    def flaky(request: httpx.Request) -> httpx.Response:
        healed.append(1)
        if len(healed) <= 4:
            raise httpx.ReadError("reset", request=request)
        return sse(b": keep-alive\n\n" * 1000)

    listener, _, connects, _ = drive(flaky, lambda _l, _e, c: bool(c))
    assert connects and listener.failures == 0 and not listener.polling


def test_wait_ready_returns_once_connected_or_polling() -> None:
    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        api = Api(BASE, "k", POLICY, httpx.MockTransport(lambda r: httpx.Response(404)))
        listener = EventListener(api, POLICY, on_event=lambda e: None, on_connect=lambda: None)
        start = loop.time()
        await listener.wait_ready(0.05)  # nothing running yet: bounded wait
        waited = loop.time() - start
        task = asyncio.create_task(listener.run())
        start = loop.time()
        await listener.wait_ready(30)
        ready = loop.time() - start
        await task
        await api.aclose()
        return waited, ready

    waited, ready = asyncio.run(main())
    assert waited >= 0.04
    assert ready < 10


def test_a_failing_handler_does_not_end_the_stream(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    def on_event(data: dict[str, Any]) -> None:
        seen.append(data["generation_id"])
        if data["generation_id"] == "g1":
            raise KeyError("handler bug")

    async def main() -> int:
        api = Api(BASE, "k", POLICY, httpx.MockTransport(lambda r: sse()))
        listener = EventListener(api, POLICY, on_event=on_event, on_connect=lambda: None)
        task = asyncio.create_task(listener.run())
        while len(seen) < 2:
            await asyncio.sleep(0.001)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await api.aclose()
        return listener.connections

    with caplog.at_level(logging.ERROR, logger="kling_nb"):
        connections = asyncio.run(main())
    assert seen[:2] == ["g1", "g4"]
    assert connections == 1
    assert "handler bug" in caplog.text


def test_the_stream_read_ends_at_once_when_the_listener_is_cancelled() -> None:
    """Over a real socket: a stream that sends nothing after its head (no keep-alive for
    minutes) must not keep the listener, nor the client's close, waiting."""
    listener_socket = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def serve() -> None:
        conn, _ = listener_socket.accept()
        accepted.append(conn)
        conn.recv(65536)
        conn.sendall(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )

    threading.Thread(target=serve, daemon=True).start()
    base = f"http://127.0.0.1:{listener_socket.getsockname()[1]}"
    connects: list[int] = []

    async def main() -> float:
        api = Api(base, "k", POLICY)
        listener = EventListener(
            api, POLICY, on_event=lambda e: None, on_connect=lambda: connects.append(1)
        )
        task = asyncio.create_task(listener.run())
        await listener.wait_ready(10)
        assert listener.state == "connected" and connects == [1]
        started = time.monotonic()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await api.aclose()
        return time.monotonic() - started

    try:
        took = asyncio.run(main())
        assert took < 2
    finally:
        for conn in accepted:
            conn.close()
        listener_socket.close()


def test_an_endless_line_drops_the_connection_and_reconnects() -> None:
    """Over a real socket: a line that never ends is cut at the cap (not held in memory whole),
    and the listener reconnects, so the client reconciles what it missed."""
    capped = replace(POLICY, events_max_line_bytes=4096, events_backoff_initial=0.01)
    listener_socket = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    )

    def serve() -> None:
        for _ in range(2):
            conn, _ = listener_socket.accept()
            accepted.append(conn)
            conn.recv(65536)
            conn.sendall(head)
            junk = b"data: " + b"x" * 1000
            for _ in range(20):  # 20 KB and no line end: past the 4 KB cap
                with contextlib.suppress(OSError):
                    conn.sendall(b"%x\r\n%s\r\n" % (len(junk), junk))

    threading.Thread(target=serve, daemon=True).start()
    base = f"http://127.0.0.1:{listener_socket.getsockname()[1]}"

    async def main() -> tuple[int, int]:
        api = Api(base, "k", capped)
        listener = EventListener(api, capped, on_event=lambda e: None, on_connect=lambda: None)
        task = asyncio.create_task(listener.run())
        for _ in range(500):
            if listener.connections >= 2 and listener.failures >= 1:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await api.aclose()
        return listener.connections, listener.failures

    try:
        connections, failures = asyncio.run(main())
        assert connections >= 2 and failures >= 1
    finally:
        for conn in accepted:
            conn.close()
        listener_socket.close()
