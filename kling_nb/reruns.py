"""What a submission finds in the ledger before anything is sent: recorded results to replay
(all of them, or the takes that succeeded when only some did), and requests read back."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kling_nb.jobs import Generation, Job
from kling_nb.local_images import localize
from kling_nb.records import GenerationRecord
from kling_nb.requests import VideoRequest, estimate_cost, validate_num_generations

__all__ = ["coerce", "fill", "replayed_job", "request_from"]

Takes = list[tuple[GenerationRecord, Path]]


def coerce(request: VideoRequest | Mapping[str, Any], n: int) -> tuple[VideoRequest, int]:
    """A ``VideoRequest`` and its ``num_generations`` from a request or a queue body, both
    checked (``ValidationError``, ``ValueError``)."""
    if isinstance(request, VideoRequest):
        return request, validate_num_generations(n)
    body = localize(request)  # local image paths, bytes, PIL images -> checked tokens
    if "num_generations" in body:
        given = body.pop("num_generations")
        n = given if n == 1 else n
    return VideoRequest.model_validate(body), validate_num_generations(n)


def request_from(canonical: dict[str, Any]) -> VideoRequest:
    """A recorded request, as the server took it (today's rules are not applied again)."""
    try:
        return VideoRequest.recorded(canonical)
    except ValidationError:  # e.g. a model no longer in the catalog: keep it as recorded
        return VideoRequest.model_construct(**canonical)


def fill(job: Job, takes: Takes) -> list[Generation]:
    """Give ``job``'s first generations the recorded results ``takes``; those generations."""
    filled = []
    for gen, (rec, path) in zip(job.generations, takes, strict=False):
        assert rec.result is not None
        gen.status = "succeeded"
        gen.recall(rec, path)
        filled.append(gen)
    return filled


def replayed_job(request: VideoRequest, n: int, takes: Takes, simulated: bool) -> Job:
    """A finished job showing recorded results: no network, no cost."""
    job = Job(
        request,
        n,
        job_id=uuid.uuid4().hex[:12],
        estimated_cost=estimate_cost(request, n),
        simulated=simulated,
        replayed=True,
    )
    fill(job, takes)
    job.changed()
    return job
