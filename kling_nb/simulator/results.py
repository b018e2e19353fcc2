"""Result URLs: presigned-looking, expiring, served by the simulator itself without auth.

A URL reads ``{base}/_simulator/results/{generation_id}.mp4?expires=<unix>&signature=<hmac>``.
A wrong signature or a past ``expires`` gives 403, as an expired presigned S3 link does.
Downloads honour ``download_truncate`` (the connection is cut half way although the full
Content-Length was announced), ``download_bytes_per_second`` and ``result_size_bytes``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Iterator

from starlette.types import Receive, Scope, Send

from kling_nb.simulator.state import Config, Generation, SimState
from kling_nb.simulator.video import padded_chunks

__all__ = ["ResultDownload", "TruncatedDownload", "result_url"]

_CHUNK = 64 * 1024


def _signature(secret: bytes, generation_id: str, expires: str) -> str:
    message = f"{generation_id}:{expires}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def result_url(config: Config, generation_id: str, ttl_seconds: float) -> str:
    """A fresh signed URL for a generation's video, valid for ``ttl_seconds``."""
    expires = f"{time.time() + ttl_seconds:.3f}"
    signature = _signature(config.secret, generation_id, expires)
    return (
        f"{config.base_url}/_simulator/results/{generation_id}.mp4"
        f"?expires={expires}&signature={signature}"
    )


class TruncatedDownload(Exception):
    """Raised after a deliberately truncated body so the server drops the connection."""


def _size(generation: Generation, video: bytes) -> int:
    return max(len(video), generation.pad_to or 0)


class ResultDownload:
    """The raw ASGI endpoint for result downloads (raw, to be able to cut a body short)."""

    def __init__(self, state: SimState) -> None:
        self.state = state

    def _forbidden_reason(self, generation_id: str, expires: str, signature: str) -> str | None:
        try:
            deadline = float(expires)
        except ValueError:
            return "The link is malformed."
        expected = _signature(self.state.config.secret, generation_id, expires)
        if not hmac.compare_digest(expected, signature):
            return "The signature does not match."
        if time.time() > deadline:
            return "The link has expired; ask the API for the generation again to get a fresh one."
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one download."""
        from starlette.requests import Request

        request = Request(scope, receive)
        generation_id = str(request.path_params["generation_id"])
        query = request.query_params
        reason = self._forbidden_reason(
            generation_id, query.get("expires", ""), query.get("signature", "")
        )
        generation = self.state.generations.get(generation_id)
        if reason is None and (generation is None or generation.video is None):
            reason = "No such result."
        if reason is not None or generation is None or generation.video is None:
            await _send_text(send, 403, f"AccessDenied: {reason}")
            return
        self.state.stats.bump("downloads")
        video = generation.video
        size = _size(generation, video)
        truncate = self.state.faults.take("download_truncate")
        if truncate:
            self.state.stats.bump("downloads_truncated")
        rate = self.state.faults.download_bytes_per_second
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"video/mp4"),
                    (b"content-length", str(size).encode()),
                    (b"cache-control", b"private, max-age=0"),
                ],
            }
        )
        limit = size // 2 if truncate else size
        sent = 0
        started = time.monotonic()
        for chunk in _chunks(video, generation.pad_to):
            piece = chunk[: limit - sent]
            if piece:
                await send({"type": "http.response.body", "body": piece, "more_body": True})
                sent += len(piece)
            if rate is not None:
                wait = started + sent / rate - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
            if sent >= limit:
                break
        if truncate:
            raise TruncatedDownload(generation_id)
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _chunks(video: bytes, pad_to: int | None) -> Iterator[bytes]:
    for part in padded_chunks(video, pad_to, chunk_size=_CHUNK):
        for start in range(0, len(part), _CHUNK):
            yield part[start : start + _CHUNK]


async def _send_text(send: Send, status: int, text: str) -> None:
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})
