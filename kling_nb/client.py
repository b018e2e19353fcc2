"""``Client``: submit Kling generations to Oxen.ai without blocking, and keep every result.

>>> with Client() as client:                                   # doctest: +SKIP
...     job = client.submit(VideoRequest(prompt="A fox in the snow"), num_generations=2)
...     job.wait()
...     [r.path for r in job.results]

The public methods are thin: they validate and record on the caller's thread, then hand the work
to the client's runtime thread (one asyncio loop, see ``runtime``) and either return at once
(``submit``) or wait on a future (``generate``, ``cancel``, ``models``, ``history``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from kling_nb import budget, env, reruns
from kling_nb.catalog import with_request_schema
from kling_nb.errors import (
    KlingError,
    MissingAPIKeyError,
    redact,
)
from kling_nb.jobs import Job
from kling_nb.lost import settle as settle_lost
from kling_nb.records import GenerationRecord, JobRecord
from kling_nb.retry import Policy
from kling_nb.store import Ledger

if TYPE_CHECKING:
    from kling_nb.engine import Engine
    from kling_nb.requests import VideoRequest
    from kling_nb.runtime import Runtime

__all__ = ["Client"]

log = logging.getLogger("kling_nb")
_CALL_TIMEOUT = 120.0


class Client:
    """A connection to the Oxen.ai inference API (or the bundled simulator).

    Defaults come from ``OXEN_API_KEY``, ``KLING_NB_BASE_URL`` (else ``https://hub.oxen.ai``) and
    ``KLING_NB_OUTPUTS`` (else ``./kling_outputs``). No network or thread is used until the first
    call that needs one. ``budget_usd`` caps the estimated cost of this client's submissions;
    ``deadline_seconds`` (default 1800) is how long this client waits for a job before it reports
    it ``timed_out`` (it never means "send again"); ``transport`` replaces httpx's network
    transport (``httpx.MockTransport`` in tests).
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        outputs_dir: str | os.PathLike[str] | None = None,
        *,
        budget_usd: float | None = None,
        deadline_seconds: float | None = 1800.0,
        simulated: bool = False,
        transport: httpx.MockTransport | None = None,
        policy: Policy | None = None,
    ) -> None:
        self._api_key = env.sendable_key(env.api_key(api_key))
        url = env.base_url(base_url)
        if httpx.URL(url).scheme not in ("http", "https"):
            raise KlingError(f"base_url must be an http(s) URL, got {redact(url)!r}.")
        self.base_url = url.rstrip("/")
        self.outputs_dir = env.outputs_dir(outputs_dir).expanduser().absolute()
        self.budget_usd = budget_usd
        self.simulated = simulated
        self.policy = policy or Policy()
        if deadline_seconds is not None:
            self.policy = replace(self.policy, deadline_seconds=float(deadline_seconds))
        self.ledger = Ledger(self.outputs_dir)
        self.jobs: list[Job] = []
        self._by_id: dict[str, Job] = {}  # self.jobs by id
        self.spent_usd = 0.0
        self._transport = transport
        self._runtime: Runtime | None = None
        self._engine: Engine | None = None
        self._closed = False

    def __repr__(self) -> str:
        sim = ", simulated=True" if self.simulated else ""
        key = "set" if self._api_key else "missing"
        return f"Client(base_url={self.base_url!r}, api_key=<{key}>{sim})"

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the background work; running generations continue on the server.

        Jobs still running are settled with status ``error`` and a note that
        ``Client().resume()`` re-attaches to them (the ledger still lists them as pending).
        """
        if self._closed:
            return
        self._closed = True
        runtime, engine = self._runtime, self._engine
        try:
            if runtime is not None and engine is not None:
                runtime.run(engine.aclose(self.jobs), timeout=10)
        except concurrent.futures.TimeoutError:
            log.warning("kling_nb: closing the client took too long; stopping it anyway")
        finally:
            if runtime is not None:
                runtime.close()
            self.ledger.close()

    @property
    def engine(self) -> Engine:
        """The async core, created on first use."""
        if self._closed:
            raise KlingError("This client is closed; create a new Client().")
        if self._engine is None:
            from kling_nb.api import Api
            from kling_nb.engine import Engine
            from kling_nb.runtime import Runtime

            runtime = Runtime()
            api = Api(self.base_url, self._api_key, self.policy, self._transport)
            self._runtime = runtime
            self._engine = Engine(api, self.ledger, self.policy, runtime)
        return self._engine

    @property
    def runtime(self) -> Runtime:
        """The background loop thread."""
        _ = self.engine
        assert self._runtime is not None
        return self._runtime

    # -- submitting --------------------------------------------------------------------------
    def submit(
        self,
        request: VideoRequest | Mapping[str, Any],
        num_generations: int = 1,
        force: bool = False,
    ) -> Job:
        """Queue ``request`` and return its ``Job`` at once.

        A request recorded as succeeded in the ledger is replayed from its saved files (no network,
        no cost, ``job.replayed``) unless ``force=True``; one still running on this server (the
        same request and ``num_generations``, e.g. sent before a kernel restart) is re-attached
        to and returned, and nothing is sent. Raises ``ValueError`` for a bad
        ``num_generations``, ``BudgetExceededError`` past ``budget_usd`` and
        ``MissingAPIKeyError`` without a key, all before any network call.
        """
        return self._submit(request, num_generations, force, None)

    def submit_many(
        self,
        requests: Iterable[VideoRequest | Mapping[str, Any]],
        num_generations: int = 1,
        max_in_flight: int = 4,
        force: bool = False,
    ) -> list[Job]:
        """Submit a batch; at most ``max_in_flight`` of its jobs run at once (the rest wait).

        The batch is all or nothing before any network call: every request is validated, and
        the estimated cost of those that will not replay is checked against the remaining
        ``budget_usd`` as a whole, so a batch is never cut off half way by the budget.
        """
        from kling_nb.requests import estimate_cost

        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        batch = [reruns.coerce(r, num_generations) for r in requests]
        identities = {id(req): req.identity() for req, _ in batch}
        if self.budget_usd is not None:
            fresh = [
                (req, n)
                for req, n in batch
                if force or not self._recorded(identities[id(req)][1], n)
            ]
            costs = [estimate_cost(req, n) for req, n in fresh]
            budget.check_batch(self.budget_usd, self.spent_usd, costs)
        slot = asyncio.Semaphore(max_in_flight)
        return [self._submit(req, n, force, slot, identities[id(req)]) for req, n in batch]

    def _submit(
        self,
        request: VideoRequest | Mapping[str, Any],
        num_generations: int,
        force: bool,
        slot: Any,
        identity: tuple[dict[str, Any], str] | None = None,
    ) -> Job:
        from kling_nb.requests import estimate_cost

        req, n = reruns.coerce(request, num_generations)
        identity = identity or req.identity()  # computed once for every lookup and record
        takes: list[tuple[GenerationRecord, Path]] = []
        if not force:
            found = self._existing(req, n, identity[1])
            if found is not None:
                return found
            takes = self.ledger.partial_takes(identity[1], n, **self._server)
        cost = estimate_cost(req, n - len(takes))
        job = self._new_job(
            req, n, cost, endpoint="queue", force=force, identity=identity, takes=takes
        )
        self.engine.send(job, {**req.payload(), "num_generations": n - len(takes)}, slot)
        return job

    def _new_job(
        self,
        req: VideoRequest,
        n: int,
        cost: float | None,
        *,
        endpoint: str,
        force: bool,
        identity: tuple[dict[str, Any], str],
        takes: list[tuple[GenerationRecord, Path]] | None = None,
    ) -> Job:
        """A job recorded in the ledger before anything is sent; ``takes`` are recorded
        results it replays (a partly succeeded job run again: only the rest is sent)."""
        self._require_key()
        budget.check(self.budget_usd, self.spent_usd, cost)
        _ = self.engine  # raises on a closed client, before anything is recorded
        job = Job(
            req,
            n,
            job_id=uuid.uuid4().hex[:12],
            estimated_cost=cost,
            simulated=self.simulated,
            canceller=self._cancel_job,
        )
        replayed = reruns.fill(job, takes or [])
        submission = job.to_submission(
            identity, endpoint=endpoint, forced=force, base_url=self.base_url
        )
        self.ledger.append(submission, *(g.to_record(job.id) for g in replayed))
        job.replayed_takes = len(replayed)
        self.spent_usd += cost or 0.0
        self._add(job)
        return job

    def _add(self, job: Job) -> None:
        job.ledger = self.ledger
        self.jobs.append(job)
        self._by_id[job.id] = job

    def _require_key(self) -> None:
        if not self._api_key:
            raise MissingAPIKeyError(
                "No Oxen API key. Set OXEN_API_KEY in the environment (in a notebook: "
                "%env OXEN_API_KEY=...) or pass Client(api_key=...). Without a key, the %%kling "
                "magic uses the bundled simulator."
            )

    @property
    def _server(self) -> dict[str, Any]:
        """Which ledger records are this client's: same server, same simulated flag."""
        return {"simulated": self.simulated, "base_url": self.base_url}

    def _recorded(self, request_hash: str, n: int) -> bool:
        """Whether this request would replay or rejoin instead of being sent."""
        replay = self.ledger.find_replay(request_hash, n, **self._server)
        return replay is not None or self._still_running(request_hash, n) is not None

    def _existing(self, req: VideoRequest, n: int, request_hash: str) -> Job | None:
        """This request's recorded success replayed, or its job still running rejoined."""
        found = self.ledger.find_replay(request_hash, n, **self._server)
        if found is None:
            return self._rejoin(n, request_hash)
        job = reruns.replayed_job(req, n, found[1], self.simulated)
        self._add(job)
        return job

    def _still_running(self, request_hash: str, n: int) -> Job | JobRecord | None:
        """This request's job maybe still running on this server, however old (a deadline only
        stops waiting, never resends): this client's own ``Job`` as it is, or the ledger record
        of one an earlier client (a kernel since restarted) started or was sending."""
        found = self.ledger.find_pending(request_hash, n, **self._server)
        return self._by_id.get(found[0].job_id, found[0]) if found else None

    def _rejoin(self, n: int, request_hash: str) -> Job | None:
        """Re-attach to (or return) this request's job still running, instead of paying again."""
        found = self._still_running(request_hash, n)
        if isinstance(found, JobRecord):
            (found,) = self._reattach([found])
            log.info("kling_nb: re-attached to job %s, still running; nothing was sent", found.id)
        return found

    # -- synchronous endpoint ----------------------------------------------------------------
    def generate(self, request: VideoRequest | Mapping[str, Any], force: bool = False) -> Job:
        """Generate through the synchronous endpoint (blocks 1 to 15 minutes); result saved.

        Like ``submit`` it replays a recorded success, or waits for the same request's queued
        job still running, unless ``force=True``. The sync call is never
        resent after a 5xx or a lost answer (it may have been billed).
        """
        req, _ = reruns.coerce(request, 1)
        identity = req.identity()
        if not force:  # a success replays; a job queued before a kernel restart is waited for
            found = self._existing(req, 1, identity[1])
            if found is not None:
                return found.wait()
        from kling_nb.requests import estimate_cost

        job = self._new_job(
            req, 1, estimate_cost(req, 1), endpoint="sync", force=force, identity=identity
        )
        self.runtime.run(self.engine.sender.run_sync(job, req.payload()))
        return job.wait()

    # -- resume and cancel -------------------------------------------------------------------
    def resume(self) -> list[Job]:
        """Re-attach to every generation the ledger shows as still running (never re-enqueues).

        A job recorded but never answered (the process stopped while sending it) is looked for
        in the server's queue and adopted; if it is not there it ends ``error``, saying so.
        """
        settle_lost(self.ledger)  # simulated jobs whose simulator is gone: final, never resumed
        pending = self.ledger.pending(base_url=self.base_url)
        records = [r for r in pending if r.job_id not in self._by_id]
        return self._reattach(records) if records else []

    def _reattach(self, records: list[JobRecord]) -> list[Job]:
        """Jobs for ledger records still running on the server, tracked again (never resent)."""
        self._require_key()
        engine = self.engine
        jobs = [
            Job.from_record(
                r,
                reruns.request_from(r.request),
                canceller=self._cancel_job,
                folder=self.outputs_dir,
            )
            for r in records
        ]
        for job in jobs:
            self._add(job)
        unsent = {r.job_id for r in records if r.maybe_queued}
        self.runtime.run(engine.reattach(jobs, unsent), timeout=_CALL_TIMEOUT)
        return jobs

    def cancel(self, generation_id: str) -> None:
        """Cancel one generation by its server id (a finished one is left as it is)."""
        self._require_key()
        cancel = self.engine.tracker.cancel_generation(generation_id)
        self.runtime.run(cancel, timeout=_CALL_TIMEOUT)

    def cancel_all(self) -> None:
        """Cancel every job of this session that is still running (or waiting to be sent)."""
        running = [job for job in self.jobs if not job.done or job.status == "timed_out"]
        for job in running:  # first, so that no waiting job gets sent meanwhile
            job.cancel_requested = True
        if running:
            self.runtime.run(self.engine.cancel_jobs(running), timeout=_CALL_TIMEOUT)

    def _cancel_job(self, job: Job, wait: bool, index: int | None) -> None:
        cancel = self.engine.cancel(job, index)
        if not wait or self.runtime.in_loop_thread():
            self.runtime.call_soon(lambda: self.runtime.spawn(cancel))
        else:
            self.runtime.run(cancel, timeout=_CALL_TIMEOUT)

    # -- other endpoints ---------------------------------------------------------------------
    def models(self) -> list[dict[str, Any]]:
        """``GET /api/ai/models``: the server's model objects (``request_schema`` always set)."""
        answer = self._get("/api/ai/models")
        data = answer.get("data", []) if isinstance(answer, dict) else answer
        return [with_request_schema(m) for m in data if isinstance(m, dict)]

    def model(self, model_id: str) -> dict[str, Any]:
        """``GET /api/ai/models/{id}``: one model object (``request_schema`` always set)."""
        answer = self._get(f"/api/ai/models/{quote(model_id, safe='')}")
        return with_request_schema(answer if isinstance(answer, dict) else {})

    def history(self, **params: str | int) -> dict[str, Any]:
        """``GET /api/ai/generations``: past generations with their cost (params as given)."""
        self._require_key()
        answer = self._get("/api/ai/generations", {k: str(v) for k, v in params.items()})
        return answer if isinstance(answer, dict) else {"data": answer}

    def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        request = self.engine.api.request("GET", path, safety="safe", params=params)
        return self.runtime.run(request, timeout=_CALL_TIMEOUT)
