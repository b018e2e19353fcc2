"""The exception tree, the status-to-class mapping, message extraction and redaction."""

from __future__ import annotations

import inspect

import pytest

from kling_nb import errors
from kling_nb.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InsufficientCreditsError,
    KlingError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestValidationError,
    ServerError,
    UpgradeRequiredError,
    WaitTimeoutError,
    error_for_status,
    extract_message,
    redact,
    register_secret,
)

FAKE_KEY = "sk-kling-FAKE-KEY-errors-4242"


def test_all_lists_every_public_name() -> None:
    public = {
        name
        for name, value in vars(errors).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and getattr(value, "__module__", "") == errors.__name__
    }
    assert public == set(errors.__all__)


def test_every_error_is_a_kling_error_and_drawn_in_the_docstring() -> None:
    doc = errors.__doc__ or ""
    for name in errors.__all__:
        value = getattr(errors, name)
        if inspect.isclass(value):
            assert issubclass(value, KlingError)
            assert name in doc, name
    assert issubclass(WaitTimeoutError, TimeoutError)
    assert issubclass(APITimeoutError, APIConnectionError)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"error": {"type": "x", "title": "T", "detail": "D"}, "status_message": "s"}, "D"),
        ({"error": {"type": "x", "title": "Please login"}, "status_message": "s"}, "Please login"),
        ({"error": {"message": "Model not found: x"}}, "Model not found: x"),
        ({"error": "plain error", "message": "m"}, "plain error"),
        ({"status": "error", "status_message": "unauthenticated"}, "unauthenticated"),
        ({"message": "only message"}, "only message"),
        ('{"error": {"detail": "from text"}}', "from text"),
        (b'{"error": {"title": "from bytes"}}', "from bytes"),
        ("<html>Bad Gateway</html>", "<html>Bad Gateway</html>"),
        ({"error": {"detail": "  "}, "message": "blank detail skipped"}, "blank detail skipped"),
        (None, ""),
    ],
)
def test_extract_message_follows_the_documented_order(body: object, expected: str) -> None:
    assert extract_message(body) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (402, InsufficientCreditsError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (422, RequestValidationError),
        (426, UpgradeRequiredError),
        (429, RateLimitError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (418, APIStatusError),
    ],
)
def test_error_for_status_picks_the_class(status: int, cls: type[APIStatusError]) -> None:
    exc = error_for_status(status, {"error": {"title": "something"}}, context="GET /x")
    assert type(exc) is cls
    assert exc.status_code == status
    assert exc.message.startswith(f"GET /x: HTTP {status}: something. ")
    assert exc.body == {"error": {"title": "something"}}


def test_a_4xx_carrying_a_validation_message_is_a_validation_error() -> None:
    body = {
        "error": {
            "detail": "Getting model response error: 422 - Value error, Cannot provide both "
            "'prompt' and 'multi_prompt'."
        }
    }
    exc = error_for_status(400, body)
    assert isinstance(exc, RequestValidationError)
    assert "Cannot provide both 'prompt' and 'multi_prompt'." in str(exc)
    assert "Fix the request" in str(exc)


def test_messages_say_what_to_do_next() -> None:
    assert "OXEN_API_KEY" in str(error_for_status(401, {"error": {"title": "Please login"}}))
    assert "credits" in str(error_for_status(402, {"error": {"type": "insufficient_credits"}}))
    assert "try again" in str(error_for_status(503, "")).lower()
    assert "User-Agent" in str(error_for_status(426, ""))


def test_registered_secrets_are_redacted_from_errors() -> None:
    register_secret(FAKE_KEY)
    exc = error_for_status(401, {"error": {"detail": f"bad key Bearer {FAKE_KEY}"}})
    assert FAKE_KEY not in str(exc)
    assert "Bearer ***" in str(exc)
    assert FAKE_KEY not in str(KlingError(f"key={FAKE_KEY}"))
    assert redact(f"a {FAKE_KEY} b {FAKE_KEY}") == "a *** b ***"


def test_short_or_empty_secrets_are_ignored() -> None:
    register_secret("")
    register_secret(None)
    register_secret("ab")
    assert redact("ab cd") == "ab cd"
