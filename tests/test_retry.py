"""The retry rules: which calls may be resent, and how long to wait first."""

from __future__ import annotations

from email.utils import formatdate

import httpx
import pytest

from kling_nb.retry import Policy, backoff, parse_retry_after, retry_delay, should_retry

REQ = httpx.Request("POST", "https://hub.oxen.ai/api/ai/queue")


@pytest.mark.parametrize(
    ("status", "unsafe", "safe"),
    [
        (400, False, False),
        (401, False, False),
        (404, False, False),
        (408, False, True),
        (422, False, False),
        (429, True, True),
        (500, False, True),
        (502, False, True),
        (503, False, True),
        (504, False, True),
        (599, False, True),
    ],
)
def test_should_retry_by_status(status: int, unsafe: bool, safe: bool) -> None:
    assert should_retry("unsafe", status=status) is unsafe
    assert should_retry("safe", status=status) is safe


@pytest.mark.parametrize(
    ("error", "unsafe"),
    [
        (httpx.ConnectError("refused", request=REQ), True),
        (httpx.ConnectTimeout("slow", request=REQ), True),
        (httpx.PoolTimeout("pool", request=REQ), True),
        (httpx.ReadTimeout("slow", request=REQ), False),
        (httpx.ReadError("reset", request=REQ), False),
        (httpx.WriteError("broken", request=REQ), False),
        (httpx.RemoteProtocolError("closed", request=REQ), False),
    ],
)
def test_enqueue_is_resent_only_when_nothing_was_sent(error: Exception, unsafe: bool) -> None:
    assert should_retry("unsafe", error=error) is unsafe
    assert should_retry("safe", error=error) is True


def test_non_network_errors_are_never_retried() -> None:
    assert should_retry("safe", error=ValueError("bug")) is False
    assert should_retry("safe") is False


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = Policy(backoff_initial=0.5, backoff_max=8.0, jitter=0.25)
    delays = [retry_delay(n, policy, rand=lambda: 0.0) for n in range(1, 8)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_jitter_shortens_by_at_most_its_fraction() -> None:
    policy = Policy(backoff_initial=1.0, jitter=0.25)
    assert retry_delay(1, policy, rand=lambda: 1.0) == 0.75
    assert retry_delay(1, policy, rand=lambda: 0.5) == 0.875
    assert 0.75 <= retry_delay(1, policy) <= 1.0


def test_retry_after_wins_and_is_capped() -> None:
    policy = Policy(retry_after_max=60.0)
    assert retry_delay(1, policy, retry_after="3") == 3.0
    assert retry_delay(5, policy, retry_after="0.5") == 0.5
    assert retry_delay(1, policy, retry_after="3600") == 60.0


def test_retry_after_as_an_http_date() -> None:
    now = 1_800_000_000.0
    header = formatdate(now + 30, usegmt=True)
    assert parse_retry_after(header, now=now) == pytest.approx(30.0)
    assert parse_retry_after(formatdate(now - 30, usegmt=True), now=now) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "Thu, 99 Foo"])
def test_unreadable_retry_after_falls_back_to_backoff(value: str | None) -> None:
    assert parse_retry_after(value) is None
    policy = Policy(backoff_initial=2.0)
    assert retry_delay(1, policy, retry_after=value, rand=lambda: 0.0) == 2.0


def test_backoff_helper_for_the_event_stream() -> None:
    assert backoff(1, 0.5, 30.0, 0.0) == 0.5
    assert backoff(10, 0.5, 30.0, 0.0) == 30.0
    assert backoff(0, 0.5, 30.0, 0.0) == 0.5


def test_policy_defaults_match_the_design() -> None:
    policy = Policy()
    assert policy.deadline_seconds == 1800.0
    assert policy.events_read_timeout > 15.0  # above the hub's keep-alive interval
    assert policy.safety_poll_interval == 30.0
