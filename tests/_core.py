"""The client's core parts for module tests: a job recorded in a real ledger, and an ``Engine``
(journal, tracker, downloads, sender) on its own runtime loop, talking over an injected
``httpx.MockTransport`` as a client would; ``until``, waiting for what a background thread does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
from _hub import BASE, KEY
from _policies import FAST

from kling_nb.api import Api
from kling_nb.engine import Engine
from kling_nb.files import file_sha256
from kling_nb.jobs import Job
from kling_nb.records import GenerationRecord, JobRecord, SubmissionRecord
from kling_nb.requests import VideoRequest
from kling_nb.retry import Policy
from kling_nb.runtime import Runtime
from kling_nb.store import Ledger

T = TypeVar("T")
# Simulator faults for a result that takes 2 s to arrive: its job is still running (downloading)
# when the test looks at it next, however quickly the generation itself ends.
SLOW_DOWNLOAD = {"result_size_bytes": 2_000_000, "download_bytes_per_second": 1_000_000}


def request(text: str = "A red fox runs through fresh snow") -> VideoRequest:
    return VideoRequest(prompt=text, duration=3)


REQUEST = request()


def until(check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def submission(
    req: VideoRequest, job_id: str, n: int = 1, base_url: str = BASE
) -> SubmissionRecord:
    """``req`` sent as job ``job_id`` for ``n`` takes, as the ledger's submission line."""
    return SubmissionRecord(
        job_id=job_id,
        request=req.canonical(),
        request_hash=req.request_hash,
        model=req.model,
        num_generations=n,
        base_url=base_url,
    )


def recorded_job(ledger: Ledger, n: int = 1, job_id: str = "job-1") -> Job:
    """A job whose submission is in ``ledger`` (so its generation lines fold into it)."""
    ledger.append(submission(REQUEST, job_id, n))
    return Job(REQUEST, n, job_id=job_id)


@contextmanager
def engine(
    folder: Path,
    handler: Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]],
    policy: Policy = FAST,
) -> Iterator[Engine]:
    """An engine on a fresh runtime whose HTTP calls go to ``handler``; closed afterwards.
    Nothing runs in the background until a test starts it (``Engine.start``)."""
    runtime = Runtime()
    api = Api(BASE, KEY, policy, transport=httpx.MockTransport(handler))
    try:
        yield Engine(api, Ledger(folder), policy, runtime)
    finally:
        runtime.run(api.aclose())
        runtime.close()


def on_loop(eng: Engine, call: Callable[[], T]) -> T:
    """Run ``call`` on the engine's loop thread (where every core method runs), then let the
    turn end so that the journal has written what it recorded."""

    async def run() -> T:
        result = call()
        await asyncio.sleep(0)  # the journal flushes at the end of this turn
        return result

    return eng.runtime.run(run())


def settled(eng: Engine, coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the engine's loop and let the journal write what it recorded."""

    async def run() -> T:
        result = await coro
        await asyncio.sleep(0)
        return result

    return eng.runtime.run(run())


def assert_saved(job: Job) -> None:
    for gen in job.generations:
        if gen.status == "succeeded":
            assert gen.result is not None
            assert gen.result.path.is_file()
            assert gen.result.path.stat().st_size == gen.result.size > 0
            assert file_sha256(gen.result.path) == gen.result.sha256
            assert gen.result.path.stat().st_mode & 0o777 == 0o644


def statuses(folder: Path, job_id: str) -> list[str]:
    """The recorded status of each of a job's generations, read back from the ledger file."""
    record = Ledger(folder).jobs()[job_id]
    return [g.status for _, g in sorted(record.generations.items())]


def job_record(i: int, gen: GenerationRecord, request: dict[str, Any], **fields: Any) -> JobRecord:
    """One-take job ``j<i>`` as the ledger reads it back, made at ``1000 * i`` s; ``fields``
    override the rest (``model`` defaults to O3 Pro's reference-to-video)."""
    defaults: dict[str, Any] = {
        "model": "kling-video-o3-pro-reference-to-video",
        "request_hash": "h",
        "num_generations": 1,
        "estimated_cost": 1.0,
        "endpoint": "queue",
        "simulated": False,
        "base_url": "",
        "created_at": 1000.0 * i,
    }
    return JobRecord(job_id=f"j{i}", request=request, generations={0: gen}, **(defaults | fields))
