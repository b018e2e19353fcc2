"""Job, Generation and Result: the state of one submission, its observers, wait and await.

A Job's state changes only on the client's runtime thread; observers are called there after every
change (they must not print or display). ``wait`` blocks the caller on a
``concurrent.futures.Future``; ``await job`` wraps the same future.

Every change of a generation's status goes through ``Job.set`` (and a client-side failure through
``Job.fail``), which return the ledger records the change produces: the generation's line, and the
job's line once the job is final. The statuses themselves are described in ``kling_nb.state``.
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from kling_nb.errors import WaitTimeoutError, redact
from kling_nb.records import GenerationRecord, JobLine, JobRecord, SavedFile, SubmissionRecord
from kling_nb.state import FINAL, SERVER_FINAL, GenerationStatus, JobStatus, resumed_status

if TYPE_CHECKING:
    from kling_nb.requests import VideoRequest
    from kling_nb.store import Ledger

__all__ = ["Generation", "Job", "Result"]

log = logging.getLogger("kling_nb")
#: ``canceller(job, wait, index)``: cancel the job (``index`` None) or one of its takes.
Canceller = Callable[["Job", bool, "int | None"], None]


@dataclass(frozen=True)
class Result:
    """A saved result: the file, its sha256 and size, and the URL it came from (if any)."""

    generation_id: str
    path: Path
    sha256: str
    size: int
    url: str | None = None


@dataclass
class Generation:
    """One take of a job, as the server runs it."""

    index: int
    id: str | None = None
    status: GenerationStatus = "pending"
    enqueued_at: float | None = None
    started_at: float | None = None
    completed_at: float | None = None
    error: str | None = None
    result: Result | None = None
    #: Where a synchronous call's result is (it has no id to ask for a fresh URL with).
    result_url: str | None = None

    @property
    def done(self) -> bool:
        """Whether the status is final."""
        return self.status in FINAL

    def recall(self, rec: GenerationRecord, saved: Path | None = None) -> None:
        """Take ``rec``'s server id and times, and its result as the file at ``saved``."""
        self.id, self.enqueued_at = rec.generation_id, rec.enqueued_at
        self.started_at, self.completed_at = rec.started_at, rec.completed_at
        if saved is not None and rec.result:
            sha, size = rec.result["sha256"], rec.result["size"]
            self.result = Result(rec.generation_id or rec.job_id, saved, sha, size)

    def to_record(self, job_id: str, status: str | None = None) -> GenerationRecord:
        """The ledger record of this generation's state (``status`` overrides its status)."""
        result: SavedFile | None = None
        if self.result is not None:
            result = {
                "path": self.result.path.name,
                "sha256": self.result.sha256,
                "size": self.result.size,
            }
        return GenerationRecord(
            job_id=job_id,
            index=self.index,
            generation_id=self.id,
            status=status or self.status,
            enqueued_at=self.enqueued_at,
            started_at=self.started_at,
            completed_at=self.completed_at,
            error=self.error,
            result=result,
            result_url=self.result_url,
        )


class Job:
    """One submission of a request: ``num_generations`` takes, their states and results.

    >>> job = client.submit(request)      # doctest: +SKIP
    >>> job.wait().status                 # doctest: +SKIP
    'succeeded'
    """

    def __init__(
        self,
        request: VideoRequest,
        num_generations: int = 1,
        *,
        job_id: str,
        estimated_cost: float | None = None,
        simulated: bool = False,
        replayed: bool = False,
        created_at: float | None = None,
        canceller: Canceller | None = None,
    ) -> None:
        self.id = job_id
        self.request = request
        self.num_generations = num_generations
        self.generations = [Generation(index=i) for i in range(num_generations)]
        self.estimated_cost = estimated_cost
        self.simulated = simulated
        self.replayed = replayed
        #: Generations replayed from an earlier, partly succeeded run of the same request.
        self.replayed_takes = 0
        #: The ledger of the client that runs it (views estimate the time left from it).
        self.ledger: Ledger | None = None
        self.created_at = time.time() if created_at is None else created_at
        self.finished_at: float | None = None
        self.error: str | None = None
        self._client_error = False
        self._observers: list[Callable[[Job], None]] = []
        self._future: concurrent.futures.Future[Job] = concurrent.futures.Future()
        self._canceller = canceller
        self.cancel_requested = False
        self._recorded_final: str | None = None
        self._uncertain = False

    # -- state -------------------------------------------------------------------------------
    @property
    def status(self) -> JobStatus:
        """The overall status, derived from the generations (see the module docstring)."""
        if self._client_error:
            return "error"
        states = [g.status for g in self.generations]
        if all(s in FINAL for s in states):
            if all(s == "succeeded" for s in states):
                return "succeeded"
            if "succeeded" in states:
                return "partial"
            if all(s == "cancelled" for s in states):
                return "cancelled"
            if "timed_out" in states:
                return "timed_out"
            return "failed"
        if "downloading" in states:
            return "downloading"
        if "processing" in states:
            return "processing"
        if all(s == "pending" for s in states):
            return "submitting"
        return "queued"

    @property
    def done(self) -> bool:
        """Whether the job has reached a final status."""
        return self._client_error or all(g.done for g in self.generations)

    @property
    def results(self) -> list[Result]:
        """The saved results, in generation order."""
        return [g.result for g in self.generations if g.result is not None]

    @property
    def generation_ids(self) -> list[str]:
        """The server's ids of the generations enqueued so far."""
        return [g.id for g in self.generations if g.id]

    def fail(self, message: str, uncertain: bool = False) -> list[JobLine]:
        """Mark a client-side failure (status ``error``); the ledger record it produces.
        ``uncertain``: the enqueue may have reached the server (a re-run looks for it)."""
        self.error = redact(message)
        self._client_error = True
        self._uncertain = uncertain
        return self._final_lines()

    def set(
        self,
        gen: Generation,
        status: GenerationStatus,
        *,
        error: str | None = None,
        result: Result | None = None,
        recorded_as: str | None = None,
    ) -> list[GenerationRecord | JobLine]:
        """Move ``gen`` to ``status`` (a final one stamps ``completed_at``); the ledger records
        the change produces (``recorded_as`` overrides the status written, e.g. "save_failed")."""
        gen.status = status
        gen.error = redact(error) if error else None
        if result is not None:
            gen.result = result
        if status in FINAL:
            gen.completed_at = gen.completed_at or time.time()
        return [gen.to_record(self.id, recorded_as), *self._final_lines()]

    def _final_lines(self) -> list[JobLine]:
        """The job's line, once per final status it reaches."""
        status = self.status
        if not self.done or self._recorded_final == status:
            return []
        self._recorded_final = status
        return [JobLine(job_id=self.id, status=status, error=self.error, uncertain=self._uncertain)]

    def changed(self) -> None:
        """Tell observers about a change, then settle the future when final (runtime thread).

        Observers run first so that when ``wait()`` returns every view already shows the end
        (a notebook's saved output is refreshed before the next cell runs).
        """
        settle = self.done and not self._future.done()
        if settle and self.finished_at is None:
            self.finished_at = time.time()
        for callback in list(self._observers):
            try:
                callback(self)
            except Exception as exc:
                log.error("kling_nb: a job observer failed: %s", redact(repr(exc)))
        if settle and not self._future.done():
            self._future.set_result(self)

    @classmethod
    def from_record(
        cls,
        record: JobRecord,
        request: VideoRequest,
        *,
        canceller: Canceller | None = None,
        folder: Path | None = None,
    ) -> Job:
        """A job with the recorded state of each generation (for ``resume``), not yet tracked;
        the takes it saved already keep their results (paths relative to ``folder``)."""
        job = cls(
            request,
            record.num_generations,
            job_id=record.job_id,
            estimated_cost=record.estimated_cost,
            simulated=record.simulated,
            created_at=record.created_at,
            canceller=canceller,
        )
        for gen in job.generations:
            rec = record.generations.get(gen.index)
            if rec is None:
                continue
            gen.status = resumed_status(rec.status)
            saved = None
            if folder is not None and gen.status == "succeeded" and rec.result:
                saved = folder / rec.result["path"]
            gen.recall(rec, saved)
            gen.error, gen.result_url = rec.error, rec.result_url
        return job

    def to_submission(
        self, identity: tuple[dict[str, Any], str], *, endpoint: str, forced: bool, base_url: str
    ) -> SubmissionRecord:
        """The job's first ledger line (``from_record`` reads it back); ``identity`` is the
        request's ``(canonical, request_hash)``."""
        return SubmissionRecord(
            job_id=self.id,
            request=identity[0],
            request_hash=identity[1],
            model=self.request.model,
            num_generations=self.num_generations,
            estimated_cost=self.estimated_cost,
            endpoint=endpoint,
            forced=forced,
            simulated=self.simulated,
            base_url=base_url,
        )

    # -- observing and waiting ---------------------------------------------------------------
    def observe(self, callback: Callable[[Job], None]) -> Callable[[], None]:
        """Call ``callback(job)`` on every change (from the runtime thread); returns unsubscribe."""
        self._observers.append(callback)

        def unsubscribe() -> None:
            if callback in self._observers:
                self._observers.remove(callback)

        return unsubscribe

    def wait(self, timeout: float | None = None) -> Job:
        """Block until the job is final and return it; ``WaitTimeoutError`` after ``timeout``."""
        try:
            return self._future.result(timeout)
        except concurrent.futures.TimeoutError:
            raise WaitTimeoutError(
                f"Job {self.id} is still {self.status} after {timeout:g} s. It keeps running in "
                "the background: call job.wait() again, or job.cancel() to stop it."
            ) from None

    def __await__(self) -> Generator[Any, None, Job]:
        import asyncio

        return asyncio.wrap_future(self._future).__await__()

    def cancel(self, wait: bool = True, index: int | None = None) -> None:
        """Cancel every generation still running, timed-out ones included, or only take
        ``index``; ``wait=False`` returns at once (a view's button must not hold up the
        kernel)."""
        gens = self.generations if index is None else [self.generations[index]]
        if index is None:
            self.cancel_requested = True
        running = any(g.status not in SERVER_FINAL for g in gens)
        if self._canceller is not None and running and not self._client_error:
            self._canceller(self, wait, index)

    # -- display -----------------------------------------------------------------------------
    def summary(self) -> str:
        """One line: id, model, status, takes, cost (estimated, replayed or billed), then the
        shots and one line per take."""
        from kling_nb.summaries import cost_text, shots_text

        parts = [f"Job {self.id}", str(self.request.model), self.status]
        parts.append(f"{self.num_generations} generation{'s' if self.num_generations > 1 else ''}")
        parts.append(cost_text(self, "est. "))
        if self.replayed:
            parts.append("replayed from the ledger")
        if self.simulated:
            parts.append("SIMULATED")
        text = " · ".join(parts)
        text += "\n  " + shots_text(self.request.shots, self.request.total_duration)
        for g in self.generations:
            line = f"\n  [{g.index}] {g.id or '-'} {g.status}"
            if g.result is not None:
                line += f" {g.result.path}"
            if g.error:
                line += f" ({g.error})"
            text += line
        if self.error:
            text += f"\n  {self.error}"
        return redact(text)

    def __repr__(self) -> str:
        return f"<{self.summary().splitlines()[0]}>"

    def _ipython_display_(self) -> None:
        # Displayed with a display_id, so the static fallback (status, poster, path) saved in the
        # notebook is refreshed when the job ends.
        from kling_nb.widgets.job_view import show

        show(cast(Any, self))

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        from kling_nb.widgets import JobView

        bundle = JobView(cast(Any, self))._repr_mimebundle_(include=include, exclude=exclude)
        return bundle if bundle is not None else {"text/plain": self.summary()}
