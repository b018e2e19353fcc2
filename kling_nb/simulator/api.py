"""The Oxen.ai endpoints: queue, poll, cancel, sync generation, models and history.

Enqueue checks only auth, model, ``num_generations`` and credits, like the hub; model rules are
checked when the generation runs (see :mod:`kling_nb.simulator.worker`).
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import math
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from kling_nb.catalog import ModelSpec, UnknownModelError, get_model, list_models
from kling_nb.requests import VideoRequest, estimate_cost, validate_num_generations
from kling_nb.simulator.model_objects import model_object
from kling_nb.simulator.responses import (
    ApiError,
    error_body,
    injected_error,
    invalid_params,
    model_not_found,
    not_found,
    read_json,
    unauthenticated,
)
from kling_nb.simulator.results import result_url
from kling_nb.simulator.state import ACTIVE, Generation, SimState
from kling_nb.simulator.worker import check_request, process, run_generation

__all__ = ["Api"]

STATUSES = ("queued", "processing", "succeeded", "failed", "cancelled")


class Api:
    """The request handlers, sharing one :class:`SimState`."""

    def __init__(self, state: SimState) -> None:
        self.state = state

    # ---- helpers -------------------------------------------------------------------------
    def authorize(self, request: Request) -> None:
        """401 unless ``Authorization: Bearer <key>`` (any non-empty key, or the configured one)."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise unauthenticated()
        expected = self.state.config.api_key
        if expected is not None and not hmac.compare_digest(token.encode(), expected.encode()):
            raise unauthenticated()

    def _spec(self, body: dict[str, Any]) -> ModelSpec:
        name = body.get("model")
        if not isinstance(name, str) or not name:
            raise invalid_params("model is required: name one of GET /api/ai/models")
        try:
            spec = get_model(name)
        except UnknownModelError:
            raise model_not_found(name) from None
        if spec.id != name:  # the hub knows full ids only, not kling_nb's aliases
            raise model_not_found(name)
        return spec

    def _check_credits(self, checked: VideoRequest | str, count: int) -> float:
        """The cost of one generation; 402 when the balance cannot cover ``count`` of them.
        A request that breaks a model rule costs nothing: it will fail."""
        cost = 0.0
        if isinstance(checked, VideoRequest):
            cost = estimate_cost(checked, 1) or 0.0
        credits = self.state.faults.credits_usd
        reserved = sum(g.cost_usd for g in self.state.generations.values() if g.status in ACTIVE)
        available = None if credits is None else credits - self.state.spent_usd - reserved
        if available is not None and cost * count > available + 1e-9:
            raise ApiError(
                402,
                error_body(
                    "insufficient_credits",
                    "Insufficient credits",
                    f"This request costs ${cost * count:.2f}; add credits to your account.",
                ),
            )
        return cost

    def row(self, generation: Generation) -> dict[str, Any]:
        """A generation as ``GET /api/ai/queue/{id}`` shows it: the request merged in."""
        url = None
        if generation.status == "succeeded":
            url = result_url(
                self.state.config,
                generation.generation_id,
                self.state.faults.result_url_ttl_seconds,
            )
        out = dict(generation.params)
        out.update(
            generation_id=generation.generation_id,
            model_name=generation.model,
            model=generation.model,
            prompt=generation.prompt,
            media_type="video",
            status=generation.status,
            result_url=url,
            error_message=generation.error_message,
            enqueued_at=generation.enqueued_at,
            started_at=generation.started_at,
            completed_at=generation.completed_at,
        )
        return out

    def _get(self, request: Request) -> Generation:
        generation = self.state.generations.get(str(request.path_params["generation_id"]))
        if generation is None:
            raise not_found()
        return generation

    # ---- /api/ai/queue -------------------------------------------------------------------
    async def enqueue(self, request: Request) -> Response:
        """``POST /api/ai/queue``."""
        self.state.stats.bump("enqueue_calls")
        self.authorize(request)
        body = await read_json(request, self.state.config.max_body_bytes)
        spec = self._spec(body)
        try:
            count = validate_num_generations(body.get("num_generations", 1))
        except ValueError as exc:
            raise invalid_params(str(exc)) from None
        params = {k: v for k, v in body.items() if k != "num_generations"}
        cost = self._check_credits(check_request(params), count)
        injected = self.state.faults.take_error("enqueue_errors")
        if injected is not None and not injected.queued:
            raise injected_error(injected)
        generations = []
        for index in range(count):
            generation = Generation(model=spec.id, params=params, index=index, cost_usd=cost)
            self.state.add(generation)
            generation.task = self.state.spawn(run_generation(self.state, generation))
            generations.append(generation)
        if injected is not None:
            raise injected_error(injected)
        return JSONResponse(
            {
                "generations": [
                    {"generation_id": g.generation_id, "status": g.status} for g in generations
                ]
            }
        )

    async def list_queue(self, request: Request) -> Response:
        """``GET /api/ai/queue``: active generations, or those with ``status=`` (comma list)."""
        self.state.stats.bump("list_calls")
        self.authorize(request)
        wanted = _statuses(request.query_params.get("status"))
        model = request.query_params.get("model")
        rows = [
            self.row(g)
            for g in reversed(self.state.generations.values())
            if g.endpoint == "queue" and g.status in wanted and (model is None or g.model == model)
        ]
        return JSONResponse({"generations": rows})

    async def poll(self, request: Request) -> Response:
        """``GET /api/ai/queue/{generation_id}``."""
        self.state.stats.bump("polls")
        self.authorize(request)
        injected = self.state.faults.take_error("poll_errors")
        if injected is not None:
            raise injected_error(injected)
        return JSONResponse(self.row(self._get(request)))

    async def cancel(self, request: Request) -> Response:
        """``DELETE /api/ai/queue/{generation_id}``: no effect once final; no event is sent."""
        self.state.stats.bump("cancels")
        self.authorize(request)
        generation = self._get(request)
        if generation.status in ACTIVE:
            generation.finish("cancelled")
            if generation.task is not None:
                generation.task.cancel()
        return JSONResponse({"status": "success", "generation_id": generation.generation_id})

    # ---- sync ----------------------------------------------------------------------------
    async def generate(self, request: Request) -> Response:
        """``POST /api/ai/videos/generate``: blocks for the generation time."""
        self.state.stats.bump("sync_calls")
        self.authorize(request)
        body = await read_json(request, self.state.config.max_body_bytes)
        spec = self._spec(body)
        checked = check_request(body)
        cost = self._check_credits(checked, 1)
        if isinstance(checked, str):
            raise ApiError(422, error_body("invalid_params", "Invalid request", checked))
        generation = Generation(model=spec.id, params=body, index=0, endpoint="sync", cost_usd=cost)
        self.state.add(generation)
        generation.mark_processing()
        if self.state.faults.stuck:
            while not await request.is_disconnected():
                await asyncio.sleep(0.1)
            return Response(status_code=499)  # the client gave up
        await process(self.state, generation, checked, self.state.config.generation_seconds)
        if generation.video is None:
            message = generation.error_message or "generation failed"
            raise ApiError(
                502,
                {
                    "error": {"type": "upstream", "title": message, "detail": message},
                    "status": 502,
                    "status_message": "upstream",
                },
            )
        video = generation.video
        if checked.response_format == "b64_json":
            item = {"b64_json": base64.b64encode(video).decode("ascii")}
        else:
            ttl = self.state.faults.result_url_ttl_seconds
            item = {"url": result_url(self.state.config, generation.generation_id, ttl)}
        return JSONResponse({"created": int(time.time()), "model": spec.id, "videos": [item]})

    # ---- models and history --------------------------------------------------------------
    async def models(self, request: Request) -> Response:
        """``GET /api/ai/models``: public."""
        self.state.stats.bump("model_calls")
        return JSONResponse({"object": "list", "data": [model_object(s) for s in list_models()]})

    async def model(self, request: Request) -> Response:
        """``GET /api/ai/models/{model_id}``: one bare model object."""
        self.state.stats.bump("model_calls")
        name = str(request.path_params["model_id"])
        for spec in list_models():
            if spec.id == name:
                return JSONResponse(model_object(spec))
        raise not_found()

    async def history(self, request: Request) -> Response:
        """``GET /api/ai/generations``: paginated, newest first, costs as decimal strings."""
        self.state.stats.bump("history_calls")
        self.authorize(request)
        query = request.query_params
        page = _positive_int(query.get("page", query.get("page_num", "1")), "page")
        size = min(_positive_int(query.get("page_size", "20"), "page_size"), 100)
        rows = list(reversed(self.state.generations.values()))
        chunk = rows[(page - 1) * size : page * size]
        total = sum(g.cost_usd for g in rows if g.status == "succeeded")
        return JSONResponse(
            {
                "generations": [
                    {**self.row(g), "cost": _money(g.cost_usd if g.status == "succeeded" else 0)}
                    for g in chunk
                ],
                "total_cost": _money(total),
                "page_number": page,
                "page_size": size,
                "total_pages": max(1, math.ceil(len(rows) / size)),
                "total_entries": len(rows),
            }
        )


def _statuses(value: str | None) -> set[str]:
    if value is None:
        return set(ACTIVE)
    wanted = {part.strip() for part in value.split(",") if part.strip()}
    unknown = wanted - set(STATUSES)
    if unknown or not wanted:
        raise invalid_params(f"status must be one or more of {', '.join(STATUSES)}")
    return wanted


def _positive_int(value: str, name: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise invalid_params(f"{name} must be a whole number >= 1")
    return int(value)


def _money(usd: float) -> str:
    return f"{usd:.3f}"
