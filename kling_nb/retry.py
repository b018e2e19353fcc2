"""Every policy number in one place, and the retry rules as small pure functions.

``Policy`` holds timeouts, backoff, poll intervals and deadlines; ``Client(policy=Policy(...))``
changes them. ``should_retry`` decides whether a failed call may be sent again, ``retry_delay``
how long to wait first, ``download_retry`` what may help a failed result download.

Enqueue (``POST /api/ai/queue``) and the synchronous generate call are *unsafe*: a 5xx or a lost
response may have queued and billed the job, so they are resent only on 429 or when the connection
failed before anything was sent. GET and DELETE are *safe*: retried on 408, 429, 5xx and network
errors.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Literal

import httpx

from kling_nb.errors import DownloadError

__all__ = ["Policy", "download_retry", "parse_retry_after", "retry_delay", "should_retry"]

Safety = Literal["safe", "unsafe"]


@dataclass(frozen=True)
class Policy:
    """Timeouts (seconds), retry counts, backoff, poll intervals and limits for one client."""

    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    # Above the hub's 15 s keep-alive, so an idle but healthy stream never times out.
    events_read_timeout: float = 45.0
    # How long the first submission waits for the event stream before enqueueing anyway.
    events_connect_wait: float = 10.0
    sync_read_timeout: float = 1200.0
    max_retries: int = 4
    backoff_initial: float = 0.5
    backoff_max: float = 8.0
    retry_after_max: float = 60.0
    jitter: float = 0.25
    events_backoff_initial: float = 0.5
    events_backoff_max: float = 30.0
    # After this many failed connects in a row the client polls until the stream is back.
    events_failures_before_polling: int = 3
    safety_poll_interval: float = 30.0
    # While a generation is still queued: when it starts, the views say "processing".
    status_poll_interval: float = 5.0
    fallback_poll_min: float = 2.0
    fallback_poll_max: float = 15.0
    deadline_seconds: float = 1800.0
    # After a 5xx on enqueue, look for the generation in the queue list at these delays.
    enqueue_reconcile_delays: tuple[float, ...] = (0.0, 2.0)
    # Connections per client (the event stream takes one).
    max_connections: int = 10
    # Every call ends within its total limit, whatever the server does (a body trickling a byte
    # a second under a lying Content-Length, say): API calls, then a result's whole download.
    request_total_timeout: float = 180.0
    download_total_timeout: float = 1800.0
    # Far above a 15 s 4K clip (tens of MB); a body past it is cut off and fetched afresh.
    max_download_bytes: int = 2 << 30
    download_attempts: int = 3
    # Result bodies read at once, each on a thread: more would starve the runtime loop of the
    # GIL while a burst of results arrives (events then wait to be handled).
    download_threads: int = 4
    # An event-stream line longer than this drops the connection (reconnect and reconcile).
    events_max_line_bytes: int = 1 << 20
    # Trust the completion event's url instead of confirming each one with a GET.
    confirm_events: bool = False


_SAFE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Errors raised before a single byte of the request was sent: resending cannot duplicate it.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def should_retry(
    safety: Safety,
    *,
    status: int | None = None,
    error: BaseException | None = None,
) -> bool:
    """Whether a call that got ``status`` (or raised ``error``) may be sent again."""
    if error is not None:
        if isinstance(error, _NOT_SENT):
            return True
        return safety == "safe" and isinstance(error, httpx.TransportError)
    if status is None:
        return False
    if status == 429:
        return True
    return safety == "safe" and (status in _SAFE_STATUSES or status >= 500)


def download_retry(error: BaseException) -> Literal["same_url", "fresh_url", "stop"]:
    """What may help a failed download: the same URL again (a broken connection, a cut or
    throttled transfer, a 5xx), a fresh URL from the server (expired, or a body past its time
    or size limit), or nothing (a refusal, a full disk: the result stays paid for, for
    ``resume()``)."""
    if isinstance(error, DownloadError):
        return error.retry
    if isinstance(error, httpx.TransportError):
        return "same_url"
    return "stop"


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if now is None:
            import time

            now = time.time()
        seconds = when.timestamp() - now
    return max(0.0, seconds)


def retry_delay(
    attempt: int,
    policy: Policy,
    *,
    retry_after: str | None = None,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based).

    ``Retry-After`` wins when present (capped at ``policy.retry_after_max``); otherwise exponential
    backoff from ``backoff_initial`` capped at ``backoff_max``, less up to ``jitter`` of it.
    """
    header = parse_retry_after(retry_after)
    if header is not None:
        return min(header, policy.retry_after_max)
    return backoff(attempt, policy.backoff_initial, policy.backoff_max, policy.jitter, rand)


def backoff(
    attempt: int,
    initial: float,
    cap: float,
    jitter: float,
    rand: Callable[[], float] = random.random,
) -> float:
    """Capped exponential backoff: ``min(cap, initial * 2**(attempt-1))``, less jitter."""
    base = min(cap, initial * 2.0 ** max(0, attempt - 1))
    return base * (1.0 - jitter * rand())
