"""The kling_nb exception tree, one status-to-class function, and API key redaction.

::

    KlingError
    ├── MissingAPIKeyError          no key configured at submit time
    ├── BudgetExceededError         the estimate would pass the client's remaining budget
    ├── DownloadError               a result could not be saved (bad URL, truncated, expired)
    ├── LedgerError                 the ledger could not be written; nothing more was sent
    ├── WaitTimeoutError            Job.wait(timeout=...) ran out (also a TimeoutError)
    ├── APIConnectionError          the server could not be reached or the connection broke
    │   └── APITimeoutError
    └── APIStatusError              the server answered with an error status
        ├── BadRequestError             400
        ├── AuthenticationError         401
        ├── InsufficientCreditsError    402
        ├── PermissionDeniedError       403
        ├── NotFoundError               404
        ├── RequestValidationError      422, or any 4xx whose message is a validation error
        ├── UpgradeRequiredError        426
        ├── RateLimitError              429
        └── ServerError                 5xx

``error_for_status(status, body)`` is the only place a status becomes a class. Every message says
what happened and what to do next, and never contains the API key: ``redact`` removes every key a
client registered with ``register_secret``, and any long start of one (a cut may leave one), before
a message or an error body is cut.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Literal

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceededError",
    "DownloadError",
    "InsufficientCreditsError",
    "KlingError",
    "LedgerError",
    "MissingAPIKeyError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestValidationError",
    "ServerError",
    "UpgradeRequiredError",
    "WaitTimeoutError",
    "error_for_status",
    "extract_message",
    "redact",
    "register_secret",
]

REDACTED = "***"
# A cut text (ours before redaction, or a server's) may keep the start of a key: that long a
# start is redacted wherever it is, a shorter one only where the text ends.
_START_ANYWHERE = 8
_START_AT_END = 4
_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def register_secret(secret: str | None) -> None:
    """Remember ``secret`` so that ``redact`` removes it from any text from now on."""
    if secret and len(secret) >= 4:
        with _secrets_lock:
            _secrets.add(secret)


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``, and any start of one that a
    cut may have left: ``_START_ANYWHERE`` characters or more anywhere, ``_START_AT_END`` or more
    where the text ends (where a cut falls)."""
    spans = [span for secret in tuple(_secrets) for span in _spans(text, secret)]
    if not spans:
        return text
    # Keys may share a start ("sk-live-..."): the union of every match is redacted at once.
    parts: list[str] = []
    done = 0
    for start, end in sorted(spans):
        if start > done or not parts:  # a new run (not one that overlaps or touches the last)
            parts += [text[done:start], REDACTED]
        done = max(done, end)
    return "".join(parts) + text[done:]


def _spans(text: str, secret: str) -> list[tuple[int, int]]:
    """Where ``text`` holds ``secret`` or a start of it long enough to redact."""
    head = secret[:_START_ANYWHERE]
    found = []
    start = text.find(head)
    while start != -1:
        end = start + len(head)
        while end < len(text) and end - start < len(secret) and text[end] == secret[end - start]:
            end += 1
        found.append((start, end))
        start = text.find(head, start + 1)
    tail = len(text) - min(len(secret), _START_ANYWHERE) + 1  # where a shorter start may begin
    start = text.find(secret[0], max(tail, 0))
    while start != -1 and len(text) - start >= _START_AT_END:
        if secret.startswith(text[start:]):
            found.append((start, len(text)))
            break
        start = text.find(secret[0], start + 1)
    return found


def _redact_value(value: Any) -> Any:
    """A parsed body with every text in it (keys too) redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {_redact_value(k): _redact_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_value(v) for v in value]
    return value


class KlingError(Exception):
    """Base class of every kling_nb error. The message is redacted of API keys."""

    def __init__(self, message: str) -> None:
        self.message = redact(message)
        super().__init__(self.message)


class MissingAPIKeyError(KlingError):
    """No API key was configured when a request needed one."""


class BudgetExceededError(KlingError):
    """The submission's estimated cost would pass the client's remaining ``budget_usd``."""


class DownloadError(KlingError):
    """A result could not be downloaded and saved.

    ``retry`` says what may help: the same URL again (a cut transfer, a 5xx), a fresh URL from
    the server (expired, endless or oversized body), or nothing (``retry.download_retry``).
    """

    retry: Literal["same_url", "fresh_url", "stop"] = "stop"

    def __init__(
        self, message: str, retry: Literal["same_url", "fresh_url", "stop"] = "stop"
    ) -> None:
        super().__init__(message)
        self.retry = retry


class LedgerError(KlingError):
    """The ledger could not be written (a full disk, a read-only folder); nothing was sent."""


class WaitTimeoutError(KlingError, TimeoutError):
    """``Job.wait(timeout=...)`` returned before the job finished; the job keeps running."""


class APIConnectionError(KlingError):
    """The server could not be reached, or the connection broke before a full answer.

    ``maybe_sent`` is false only when the connection failed before the request was sent.
    """

    maybe_sent: bool = True


class APITimeoutError(APIConnectionError):
    """The server did not answer in time."""


class APIStatusError(KlingError):
    """The server answered with an error status. ``status_code`` and ``body`` (redacted) hold
    the details."""

    def __init__(self, message: str, *, status_code: int, body: Any = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = _redact_value(body)


class BadRequestError(APIStatusError):
    """400: the server refused the request."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing or not valid."""


class InsufficientCreditsError(APIStatusError):
    """402: the account (or ``target_namespace``) has no credits left."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not do this."""


class NotFoundError(APIStatusError):
    """404: no such generation or model."""


class RequestValidationError(APIStatusError):
    """The server found the request parameters invalid."""


class UpgradeRequiredError(APIStatusError):
    """426: the server took this client for an outdated command-line tool."""


class RateLimitError(APIStatusError):
    """429: too many requests."""


class ServerError(APIStatusError):
    """5xx: the server failed."""


_MESSAGE_CHARS = 500  # of a whole body taken as the message


def _parse(body: str | bytes | dict[str, Any] | None) -> Any:
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            return json.loads(body)
        except ValueError:
            return body
    return body


def extract_message(body: str | bytes | dict[str, Any] | None) -> str:
    """The human message in an Oxen error body, redacted (then cut to 500 characters when it is
    the whole body).

    Tried in order: ``error.detail``, ``error.title``, ``error.message``, ``error`` as a string,
    ``status_message``, ``message``, then the raw text.
    """
    data = _parse(body)
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            for key in ("detail", "title", "message"):
                value = error.get(key)
                if isinstance(value, str) and value.strip():
                    return redact(value.strip())
        if isinstance(error, str) and error.strip():
            return redact(error.strip())
        for key in ("status_message", "message"):
            value = data.get(key)
            if isinstance(value, str) and value.strip():
                return redact(value.strip())
        return redact(json.dumps(data))[:_MESSAGE_CHARS]
    if data is None:
        return ""
    return redact(str(data).strip())[:_MESSAGE_CHARS]


_VALIDATION_MARKERS = ("value error", "field required", "input should be", "is invalid", "exceeds")

_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: InsufficientCreditsError,
    403: PermissionDeniedError,
    404: NotFoundError,
    422: RequestValidationError,
    426: UpgradeRequiredError,
    429: RateLimitError,
}

_NEXT_STEP: dict[type[APIStatusError], str] = {
    BadRequestError: "Check the request parameters against the model's rules (client.model(ID)).",
    AuthenticationError: (
        "Check your API key: set OXEN_API_KEY in the environment (or %env OXEN_API_KEY=...) "
        "or pass Client(api_key=...)."
    ),
    InsufficientCreditsError: (
        "Add credits to your Oxen.ai account, or set target_namespace to an organisation "
        "that has credits."
    ),
    PermissionDeniedError: "Check that this key may use the model and the target_namespace.",
    NotFoundError: "Check the generation id or model name (client.models() lists the models).",
    RequestValidationError: "Fix the request as the message says, then submit it again.",
    UpgradeRequiredError: (
        "The server took this client for an outdated tool; check that no proxy rewrites the "
        "User-Agent, and update kling_nb."
    ),
    RateLimitError: "Too many requests: wait a minute, then try again.",
    ServerError: "The Oxen service failed; try again in a few minutes.",
    APIStatusError: "Check the message above; if it persists, look at the Oxen.ai status page.",
}


def error_for_status(
    status: int, body: str | bytes | dict[str, Any] | None, *, context: str = ""
) -> APIStatusError:
    """The exception for an error response: ``status`` picks the class, the body the message.

    ``context`` (e.g. ``"GET /api/ai/queue/ID"``) is prefixed to the message.
    """
    message = extract_message(body)
    cls: type[APIStatusError]
    if status in _CLASSES:
        cls = _CLASSES[status]
    elif status >= 500:
        cls = ServerError
    else:
        cls = APIStatusError
    lowered = message.lower()
    if cls in (BadRequestError, APIStatusError) and any(m in lowered for m in _VALIDATION_MARKERS):
        cls = RequestValidationError
    prefix = f"{context}: " if context else ""
    text = f"{prefix}HTTP {status}: {message or 'no message'}. {_NEXT_STEP[cls]}"
    return cls(text, status_code=status, body=_parse(body))
