"""``GET /api/events``: the Server-Sent Events stream, as the hub sends it.

One ``media_generation_completed`` event per succeeded or failed generation, with compact JSON
(``"generation_id":"..."`` is matched literally by the docs' own awk client); nothing for
cancelled ones; ``: keep-alive`` comments while idle; no ``id:``, no replay for late subscribers.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from kling_nb.simulator.responses import ApiError, not_found
from kling_nb.simulator.results import result_url
from kling_nb.simulator.state import Generation, SimState, Subscriber

__all__ = ["EventStream", "completion_data", "publish_completion"]

EVENT_NAME = "media_generation_completed"
KEEPALIVE = ": keep-alive\n\n"


def _frame(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def completion_data(state: SimState, generation: Generation) -> dict[str, Any]:
    """The event's data, key order as in the docs: url/error/model, not the poll names."""
    data: dict[str, Any] = {
        "generation_id": generation.generation_id,
        "status": generation.status,
        "media_type": "video",
    }
    if generation.status == "succeeded":
        data["model"] = generation.model
        data["url"] = result_url(
            state.config, generation.generation_id, state.faults.result_url_ttl_seconds
        )
    else:
        data["error"] = generation.error_message
    return data


def _foreign_frames() -> list[str]:
    other = str(uuid.uuid4())
    return [
        _frame("deployment_status_changed", {"deployment_id": other, "status": "running"}),
        _frame(
            EVENT_NAME,
            {
                "generation_id": other,
                "status": "succeeded",
                "media_type": "image",
                "model": "flux-2-pro",
                "url": "https://example.invalid/other-users-image.png",
            },
        ),
    ]


def publish_completion(state: SimState, generation: Generation) -> None:
    """Send a finished generation's event to everyone connected now (no one later)."""
    if state.faults.take("events_lose"):
        state.stats.bump("events_lost")
        return
    frames = _foreign_frames() if state.faults.events_foreign else []
    frame = _frame(EVENT_NAME, completion_data(state, generation))
    frames += [frame, frame] if state.faults.events_duplicate else [frame]
    for sub in state.subscribers:
        for item in frames:
            sub.queue.put_nowait(item)


class EventStream:
    """The raw ASGI endpoint (raw, to notice a client leaving even while idle)."""

    def __init__(self, state: SimState, authorize: Callable[[Request], None]) -> None:
        self.state = state
        self.authorize = authorize

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Stream events until the client leaves, the drop fault fires or the server stops."""
        request = Request(scope, receive)
        try:
            self.authorize(request)
            if self.state.faults.events_unavailable:
                raise not_found()
        except ApiError as exc:
            await exc.response()(scope, receive, send)
            return
        sub = Subscriber()
        self.state.subscribers.add(sub)
        self.state.stats.bump("event_connections")
        watcher = asyncio.get_running_loop().create_task(_watch_disconnect(receive, sub))
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"text/event-stream; charset=utf-8"),
                        (b"cache-control", b"no-cache"),
                        (b"x-accel-buffering", b"no"),
                    ],
                }
            )
            await self._pump(sub, send)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            pass  # the client went away mid-write
        finally:
            self.state.subscribers.discard(sub)
            watcher.cancel()

    async def _pump(self, sub: Subscriber, send: Send) -> None:
        sent = 0
        while True:
            try:
                item = await asyncio.wait_for(
                    sub.queue.get(), timeout=self.state.config.keepalive_seconds
                )
            except asyncio.TimeoutError:  # not the builtin before Python 3.11
                await _write(send, KEEPALIVE)
                self.state.stats.bump("keepalives_sent")
                continue
            if item is None:
                return
            await _write(send, item)
            sent += 1
            self.state.stats.bump("events_sent")
            limit = self.state.faults.events_drop_after
            if limit is not None and sent >= limit:
                return


async def _write(send: Send, text: str) -> None:
    await send({"type": "http.response.body", "body": text.encode(), "more_body": True})


async def _watch_disconnect(receive: Receive, sub: Subscriber) -> None:
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            sub.queue.put_nowait(None)
            return
