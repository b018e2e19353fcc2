"""Job, Generation and Result: the state of one submission, its observers, wait and await.

A Job's state changes only on the client's runtime thread; observers are called there after every
change (they must not print or display). ``wait`` blocks the caller on a
``concurrent.futures.Future``; ``await job`` wraps the same future.

Generation statuses: ``pending`` (not yet enqueued), ``queued``, ``processing``, ``downloading``
(the server succeeded, the file is being saved), and the final ``succeeded``, ``failed``,
``cancelled`` and ``timed_out`` (past the client's deadline; a late success is still saved).
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from kling_nb.errors import WaitTimeoutError, redact

if TYPE_CHECKING:
    from kling_nb.client import Client
    from kling_nb.requests import VideoRequest

__all__ = ["FINAL", "Generation", "GenerationStatus", "Job", "JobStatus", "Result"]

log = logging.getLogger("kling_nb")

GenerationStatus = Literal[
    "pending",
    "queued",
    "processing",
    "downloading",
    "succeeded",
    "failed",
    "cancelled",
    "timed_out",
]
JobStatus = Literal[
    "submitting",
    "queued",
    "processing",
    "downloading",
    "succeeded",
    "partial",
    "failed",
    "cancelled",
    "timed_out",
    "error",
]
FINAL: frozenset[str] = frozenset({"succeeded", "failed", "cancelled", "timed_out"})


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

    @property
    def done(self) -> bool:
        """Whether the status is final."""
        return self.status in FINAL


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
        canceller: Callable[[Job], None] | None = None,
        client: Client | None = None,
    ) -> None:
        self.id = job_id
        #: The client that runs the job: views use it to cancel a single take.
        self.client = client
        self.request = request
        self.num_generations = num_generations
        self.generations = [Generation(index=i) for i in range(num_generations)]
        self.estimated_cost = estimated_cost
        self.simulated = simulated
        self.replayed = replayed
        self.created_at = time.time() if created_at is None else created_at
        self.finished_at: float | None = None
        self.error: str | None = None
        self._client_error = False
        self._observers: list[Callable[[Job], None]] = []
        self._future: concurrent.futures.Future[Job] = concurrent.futures.Future()
        self._canceller = canceller
        self.cancel_requested = False

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

    def fail(self, message: str) -> None:
        """Mark a client-side failure (status ``error``); call on the runtime thread."""
        self.error = redact(message)
        self._client_error = True
        self.changed()

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

    def cancel(self) -> None:
        """Cancel every generation still running, timed-out ones included (blocks briefly)."""
        self.cancel_requested = True
        settled = ("succeeded", "failed", "cancelled")
        running = any(g.status not in settled for g in self.generations)
        if self._canceller is not None and running and not self._client_error:
            self._canceller(self)

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
