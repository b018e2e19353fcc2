"""The Oxen.ai error bodies and JSON body reading (``simulator/responses.py``): their shapes over
HTTP, the injected errors' shapes and Retry-After, and the body size limit."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.requests import Request

from kling_nb.simulator import Simulator, run
from kling_nb.simulator.faults import ErrorSpec
from kling_nb.simulator.responses import (
    ApiError,
    error_body,
    injected_error,
    invalid_params,
    read_json,
)
from tests._simulator import AUTH, BODY, api


@pytest.fixture
def client(sim: Simulator) -> Iterator[httpx.Client]:
    with api(sim) as c:
        yield c


def read(body: bytes, limit: int, *, declared: bool) -> dict[str, Any] | ApiError:
    """What :func:`read_json` makes of ``body`` sent in two parts, with or without its length."""
    half = len(body) // 2
    messages = [
        {"type": "http.request", "body": body[:half], "more_body": True},
        {"type": "http.request", "body": body[half:], "more_body": False},
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    headers = [(b"content-length", str(len(body)).encode())] if declared else []
    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    try:
        return asyncio.run(read_json(Request(scope, receive), limit))
    except ApiError as exc:
        return exc


def test_unknown_ids_answer_resource_not_found(client: httpx.Client) -> None:
    expected = {
        "error": {
            "type": "resource_not_found",
            "title": "The requested resource could not be found",
        },
        "status": "error",
        "status_message": "resource_not_found",
    }
    for method in ("GET", "DELETE"):
        response = client.request(method, "/api/ai/queue/4ef840a4-0000-0000-0000-000000000000")
        assert response.status_code == 404
        assert response.json() == expected


def test_malformed_json_and_non_objects_answer_400(client: httpx.Client) -> None:
    for raw in (b"{not json", b"[1, 2]", b"\xff\xfe"):
        response = client.post(
            "/api/ai/queue", content=raw, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400
        assert response.json()["error"]["type"] == "invalid_json"


def test_oversized_bodies_answer_413() -> None:
    with run(max_body_bytes=10_000) as sim, httpx.Client(base_url=sim.base_url, headers=AUTH) as c:
        big = {**BODY, "negative_prompt": "x" * 20_000}
        response = c.post("/api/ai/queue", json=big)
        assert response.status_code == 413
        assert response.json()["error"]["type"] == "payload_too_large"

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while reading
            yield b'{"model": "' + b"x" * 6_000
            yield b"y" * 6_000 + b'"}'

        streamed = c.post("/api/ai/queue", content=chunks())
        assert streamed.status_code == 413


def test_an_empty_body_is_not_json(client: httpx.Client) -> None:
    response = client.post(
        "/api/ai/queue", content=b"", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_json"


def test_a_body_of_exactly_the_limit_is_read_and_one_byte_more_is_refused() -> None:
    body = b'{"prompt": "' + b"x" * 86 + b'"}'
    assert len(body) == 100
    for declared in (True, False):
        assert read(body, 100, declared=declared) == {"prompt": "x" * 86}
        refused = read(body, 99, declared=declared)
        assert isinstance(refused, ApiError) and refused.status == 413
        assert refused.body["error"]["type"] == "payload_too_large"
        assert "99 bytes" in refused.body["error"]["detail"]


@pytest.mark.parametrize(
    ("status", "kind"),
    [(500, "internal_error"), (502, "upstream"), (503, "unavailable"), (504, "upstream")],
)
def test_injected_server_errors_carry_their_status_as_an_integer(status: int, kind: str) -> None:
    error = injected_error(ErrorSpec(status))
    assert error.status == status and error.headers == {}
    assert error.body["status"] == status and error.body["status_message"] == kind
    assert error.body["error"]["type"] == kind and error.body["error"]["title"]


def test_injected_client_errors_use_the_plain_error_shape() -> None:
    timeout = injected_error(ErrorSpec(408))
    assert timeout.body == error_body("timeout", "The request timed out")
    assert timeout.body["status"] == "error" and timeout.headers == {}
    teapot = injected_error(ErrorSpec(418))
    assert teapot.body == error_body("simulated_error", "Simulated HTTP 418")


def test_retry_after_goes_with_every_429_and_wherever_it_is_given() -> None:
    assert injected_error(ErrorSpec(429)).headers == {"Retry-After": "1"}
    assert injected_error(ErrorSpec(429, retry_after=1.5)).headers == {"Retry-After": "1.5"}
    response = injected_error(ErrorSpec(503, retry_after=30.0)).response()
    assert response.status_code == 503 and response.headers["retry-after"] == "30"


def test_error_bodies_leave_out_a_missing_detail() -> None:
    assert error_body("x", "Title") == {
        "error": {"type": "x", "title": "Title"},
        "status": "error",
        "status_message": "x",
    }
    refused = invalid_params("bad duration", status=422)
    assert refused.status == 422
    assert refused.body["error"] == {
        "type": "invalid_params",
        "title": "bad duration",
        "detail": "bad duration",
    }
