"""The Oxen.ai error bodies, one exception carrying them, and JSON request-body reading."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from kling_nb.simulator.faults import ErrorSpec

__all__ = [
    "ApiError",
    "error_body",
    "injected_error",
    "invalid_params",
    "model_not_found",
    "not_found",
    "read_json",
    "unauthenticated",
]


class ApiError(Exception):
    """Raised by a handler to answer with an error status and body."""

    def __init__(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        """The JSON response for this error."""
        return JSONResponse(self.body, status_code=self.status, headers=self.headers)


def error_body(kind: str, title: str, detail: str | None = None) -> dict[str, Any]:
    """``{"error":{"type","title"[,"detail"]},"status":"error","status_message":type}``."""
    error: dict[str, Any] = {"type": kind, "title": title}
    if detail is not None:
        error["detail"] = detail
    return {"error": error, "status": "error", "status_message": kind}


def unauthenticated() -> ApiError:
    """401, as the hub answers a missing or wrong key."""
    return ApiError(401, error_body("unauthenticated", "Please login"))


def not_found() -> ApiError:
    """404 ``resource_not_found``."""
    return ApiError(
        404, error_body("resource_not_found", "The requested resource could not be found")
    )


def model_not_found(name: object) -> ApiError:
    """404 ``{"error":{"message":"Model not found: x"}}`` (the hub's second error shape)."""
    return ApiError(404, {"error": {"message": f"Model not found: {name}"}})


def invalid_params(message: str, status: int = 400) -> ApiError:
    """``invalid_params`` with the message as title and detail."""
    return ApiError(status, error_body("invalid_params", message, message))


_TITLES = {
    408: ("timeout", "The request timed out"),
    429: ("rate_limited", "Too many requests; slow down and retry after the given delay"),
    500: ("internal_error", "Internal server error"),
    502: ("upstream", "Bad gateway: the model provider did not answer"),
    503: ("unavailable", "Service unavailable; try again shortly"),
    504: ("upstream", "Gateway timeout: the model provider did not answer in time"),
}


def injected_error(spec: ErrorSpec) -> ApiError:
    """The error for a fault entry; 5xx use the ``upstream`` shape with an integer status."""
    kind, title = _TITLES.get(spec.status, ("simulated_error", f"Simulated HTTP {spec.status}"))
    headers: dict[str, str] = {}
    if spec.status == 429 or spec.retry_after is not None:
        headers["Retry-After"] = _format_seconds(
            1.0 if spec.retry_after is None else spec.retry_after
        )
    if spec.status >= 500:
        body: dict[str, Any] = {
            "error": {"type": kind, "title": title},
            "status": spec.status,
            "status_message": kind,
        }
    else:
        body = error_body(kind, title)
    return ApiError(spec.status, body, headers)


def _format_seconds(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    """The request body as a JSON object: 413 past ``limit`` bytes, 400 if not a JSON object."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(
            400,
            error_body("invalid_json", "The request body is not valid JSON", f"{exc}"),
        ) from None
    if not isinstance(value, dict):
        raise ApiError(400, error_body("invalid_json", "The request body must be a JSON object"))
    return value


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        error_body(
            "payload_too_large",
            "Request body too large",
            f"The body exceeds {limit} bytes; send image URLs rather than inline data.",
        ),
    )
