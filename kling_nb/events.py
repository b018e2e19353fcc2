"""The event-stream listener: one SSE connection per client, kept open and reconnected.

The hub's stream has no replay and no event for cancelled generations, so the listener only tells
its owner three things: a completion event arrived (``on_event``), the stream is (re)connected and
whatever happened while it was down must be reconciled (``on_connect``), and whether the client
should poll instead (``polling``: the endpoint answered 404, or failed too many times in a row).
httpx-sse parses the stream on the runtime loop; a line longer than
``Policy.events_max_line_bytes`` drops the connection (a server that never ends a line would
otherwise grow the kernel without bound), and the reconnect reconciles.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal

import httpx
from httpx_sse import SSEError, aconnect_sse

from kling_nb.api import Api
from kling_nb.errors import KlingError, error_for_status, redact
from kling_nb.retry import Policy, backoff
from kling_nb.runtime import wait_event

__all__ = ["COMPLETED", "EventListener"]

log = logging.getLogger("kling_nb")
COMPLETED = "media_generation_completed"
State = Literal["idle", "connecting", "connected", "retrying", "unavailable"]


class EventListener:
    """Keeps one connection to ``GET /api/events`` and dispatches completion events."""

    def __init__(
        self,
        api: Api,
        policy: Policy,
        *,
        on_event: Callable[[dict[str, Any]], None],
        on_connect: Callable[[], None],
    ) -> None:
        self.api = api
        self.policy = policy
        self.on_event = on_event
        self.on_connect = on_connect
        self.state: State = "idle"
        self.connections = 0
        self.failures = 0
        self._ready = asyncio.Event()
        # Set whenever ``polling`` may have changed, so the poll loop can re-read it.
        self.mode_changed = asyncio.Event()

    @property
    def polling(self) -> bool:
        """Whether completions must be found by polling (stream unavailable or failing)."""
        return self.state == "unavailable" or (
            self.state != "connected"
            and self.failures >= self.policy.events_failures_before_polling
        )

    async def wait_ready(self, timeout: float) -> None:
        """Wait until connected, or until the client has fallen back to polling (bounded)."""
        if not await wait_event(self._ready, timeout):
            log.info(
                "kling_nb: event stream not connected after %.0f s; enqueueing anyway", timeout
            )

    async def run(self) -> None:
        """Connect, dispatch, reconnect with capped jittered backoff; return if unavailable."""
        while True:
            self.state = "connecting"
            try:
                await self._connect_once()
                self.failures = 0  # a clean end of stream: reconnect promptly
                delay = backoff(1, self.policy.events_backoff_initial, 1.0, self.policy.jitter)
            except _Unavailable:
                self.state = "unavailable"
                self._ready.set()
                self.mode_changed.set()
                log.info("kling_nb: /api/events is not available; polling instead")
                return
            except Exception as exc:  # network, HTTP status, bad stream, or anything else
                self.failures += 1
                level = logging.INFO if isinstance(exc, _EXPECTED) else logging.ERROR
                log.log(level, "kling_nb: event stream failed: %s", redact(repr(exc))[:300])
                delay = backoff(
                    self.failures,
                    self.policy.events_backoff_initial,
                    self.policy.events_backoff_max,
                    self.policy.jitter,
                )
            self.state = "retrying"
            if self.polling:
                self._ready.set()
                self.mode_changed.set()
            await asyncio.sleep(delay)

    async def _connect_once(self) -> None:
        url = self.api.url("/api/events")
        timeout = httpx.Timeout(self.policy.connect_timeout, read=self.policy.events_read_timeout)
        async with aconnect_sse(
            self.api.client, "GET", url, headers=self.api.auth_headers(url), timeout=timeout
        ) as source:
            response = source.response
            if response.status_code == 404:
                raise _Unavailable
            if response.status_code >= 400:
                await response.aread()
                raise error_for_status(response.status_code, response.content, context="events")
            if "text/event-stream" not in response.headers.get("content-type", ""):
                raise SSEError("GET /api/events did not answer with an event stream")
            response.stream = _CappedLines(response.stream, self.policy.events_max_line_bytes)
            self._connected()
            try:
                async for sse in source.aiter_sse():
                    data = _completion(sse.event, sse.data)
                    if data is not None:
                        self._dispatch(data)
            finally:
                self.state = "retrying"

    def _connected(self) -> None:
        """The stream is open: ready, and reconcile what may have been missed."""
        self.state = "connected"
        self.connections += 1
        self._ready.set()
        self.mode_changed.set()
        self.on_connect()

    def _dispatch(self, data: dict[str, Any]) -> None:
        try:
            self.on_event(data)
        except Exception as exc:  # one bad event must not end the stream
            log.error("kling_nb: handling an event failed: %s", redact(repr(exc)))


class _CappedLines(httpx.AsyncByteStream):
    """A response body that fails once a line runs past ``limit`` bytes without ending."""

    def __init__(self, stream: httpx.AsyncByteStream | httpx.SyncByteStream, limit: int) -> None:
        assert isinstance(stream, httpx.AsyncByteStream)
        self._stream, self._limit = stream, limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        run = 0  # bytes since the last line break
        async for chunk in self._stream:
            end = max(chunk.rfind(b"\n"), chunk.rfind(b"\r"))
            run = len(chunk) - end - 1 if end >= 0 else run + len(chunk)
            if run > self._limit:
                raise SSEError(f"an event-stream line passed {self._limit} bytes; reconnecting")
            yield chunk

    async def aclose(self) -> None:
        await self._stream.aclose()


def _completion(event: str, text: str) -> dict[str, Any] | None:
    """A completion event's data if it names a generation, else None (other events, junk)."""
    if event != COMPLETED:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if isinstance(data, dict) and isinstance(data.get("generation_id"), str):
        return data
    return None


_EXPECTED = (httpx.TransportError, SSEError, KlingError)


class _Unavailable(Exception):
    """The server has no event stream (404)."""
