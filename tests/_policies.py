"""The fast ``Policy`` the client tests share: short backoffs and polls, so a retry, a reconnect
or an adoption after an uncertain enqueue shows within a test. A test that needs other values
writes ``replace(FAST, ...)``."""

from __future__ import annotations

from kling_nb.retry import Policy

FAST = Policy(
    backoff_initial=0.01,
    backoff_max=0.05,
    events_backoff_initial=0.05,
    events_backoff_max=0.2,
    safety_poll_interval=1.0,
    fallback_poll_min=0.1,
    fallback_poll_max=0.5,
    enqueue_reconcile_delays=(0.0, 0.3),
)
