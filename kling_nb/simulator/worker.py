"""Running generations: queued -> processing -> succeeded | failed, on the server's loop.

Model rules are checked when a generation runs, as on the real queue: a request that breaks one
fails with ``Getting model response error: 422 - <message>``. Videos are rendered in a worker
thread while the simulated generation time passes.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pydantic import ValidationError

from kling_nb.requests import VideoRequest
from kling_nb.simulator.events import publish_completion
from kling_nb.simulator.references import fetch_references
from kling_nb.simulator.state import Config, Generation, SimState
from kling_nb.simulator.video import render_video

__all__ = [
    "QUEUED_SHARE",
    "check_request",
    "pad_target",
    "process",
    "render",
    "run_generation",
    "validation_message",
]

QUEUED_SHARE = 0.25
"""The part of ``generation_seconds`` a generation spends ``queued`` before ``processing``."""


def validation_message(exc: ValidationError) -> str:
    """The server's wording for a request that breaks a model rule (first problem only)."""
    first = exc.errors(include_url=False)[0]
    return f"Getting model response error: 422 - {first['msg']}"


def check_request(params: dict[str, Any]) -> VideoRequest | str:
    """The validated request, or the error message the server gives for it."""
    try:
        return VideoRequest.model_validate(params)
    except ValidationError as exc:
        return validation_message(exc)


async def render(
    request: VideoRequest, index: int, config: Config, reference: bytes | None = None
) -> bytes:
    """Render the video in a thread (PyAV releases the GIL while encoding), showing
    ``reference``; with ``config.reuse_videos``, once per shape of request (the first one's
    video is reused)."""
    payload = request.canonical()
    if not config.reuse_videos:
        return await asyncio.to_thread(
            render_video, payload, index, height=config.video_height, reference=reference
        )
    shape = json.dumps(
        [
            payload.get("aspect_ratio"),
            [shot.duration for shot in request.shots],
            payload.get("generate_audio"),
        ]
    )
    video = config.reused.get(shape)
    if video is None:  # the first of its shape: later ones (running now, too) wait for it
        video = asyncio.ensure_future(
            asyncio.to_thread(render_video, payload, 0, height=config.video_height)
        )
        config.reused[shape] = video
    return await asyncio.shield(video)


def pad_target(size: int, wanted: int | None) -> int | None:
    """The padded size for ``result_size_bytes``: None when the video is already that large;
    at least 8 bytes more than the video, the smallest MP4 ``free`` box."""
    if wanted is None or wanted <= size:
        return None
    return max(wanted, size + 8)


async def process(
    state: SimState, generation: Generation, request: VideoRequest, seconds: float
) -> None:
    """The processing phase: render while ``seconds`` pass, then finish (unless cancelled
    meanwhile). ``fail_next``, a reference image that cannot be fetched and a payload the
    renderer cannot draw fail it."""
    if state.faults.take("fail_next"):
        await asyncio.sleep(seconds)
        generation.finish("failed", error=state.faults.fail_message)
        return
    reference = await fetch_references(state, generation.params)
    if isinstance(reference, str):
        generation.finish("failed", error=reference)
        return
    try:
        video, _ = await asyncio.gather(
            render(request, generation.index, state.config, reference), asyncio.sleep(seconds)
        )
    except ValueError as exc:
        generation.finish("failed", error=f"Getting model response error: 500 - {exc}")
        return
    if generation.cancelled:
        return
    generation.video = video
    generation.pad_to = pad_target(len(video), state.faults.result_size_bytes)
    state.spent_usd += generation.cost_usd
    generation.finish("succeeded")


async def run_generation(state: SimState, generation: Generation) -> None:
    """Drive one queued generation to its final status and announce it on the event stream."""
    config = state.config
    await asyncio.sleep(config.generation_seconds * QUEUED_SHARE)
    if generation.cancelled:
        return  # cancelled while queued
    generation.mark_processing()
    checked = check_request(generation.params)
    if isinstance(checked, str):
        generation.finish("failed", error=checked)
    elif state.faults.stuck:
        return  # stays processing until cancelled
    else:
        await process(state, generation, checked, config.generation_seconds * (1 - QUEUED_SHARE))
    if not generation.cancelled:
        publish_completion(state, generation)
