"""The async side of one client, assembled: the ledger journal, the tracker (events, polling,
downloads) and the sender (enqueue, adoption), on the client's runtime loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from kling_nb.api import Api
from kling_nb.enqueue import Sender
from kling_nb.files import clean_parts
from kling_nb.jobs import Job
from kling_nb.journal import Journal
from kling_nb.retry import Policy
from kling_nb.runtime import Runtime
from kling_nb.store import Ledger
from kling_nb.tracking import Tracker
from kling_nb.uploads import Uploader

__all__ = ["Engine"]


class Engine:
    """One client's background work; every method runs on the runtime loop."""

    def __init__(self, api: Api, ledger: Ledger, policy: Policy, runtime: Runtime) -> None:
        self.api, self.policy, self.runtime = api, policy, runtime
        self.journal = Journal(ledger, runtime.loop)
        self.tracker = Tracker(api, policy, runtime, self.journal)
        self.sender = Sender(self.tracker, Uploader(api, ledger))
        self._started = False

    def start(self) -> None:
        """Start the listener and the poll loop once, after removing the ``.part`` files a
        killed process left in the outputs folder."""
        if self._started:
            return
        self._started = True
        clean_parts(self.journal.ledger.folder)
        self.runtime.spawn(self.tracker.listener.run())
        self.runtime.spawn(self.tracker.poll_loop())

    async def aclose(self, jobs: list[Job]) -> None:
        """Stop all background work (listener, poll loop, sends, downloads), close the HTTP
        client, and end ``jobs`` still running with a note (not recorded: to the ledger they
        still run, for ``resume()``). From now on no failure is recorded: a download cut short
        stays pending, too."""
        self.api.closing = True
        await self.runtime.stop_tasks(timeout=5)  # nothing may use the HTTP client as it closes
        self.journal.flush()  # nothing recorded is left unwritten
        await self.api.aclose()
        for job in jobs:
            if not job.done:
                job.fail(
                    f"The client was closed while job {job.id} was running; its generations "
                    "continue on the server. Client().resume() re-attaches to them."
                )
                job.changed()

    def send(self, job: Job, payload: dict[str, Any], slot: asyncio.Semaphore | None) -> None:
        """Enqueue ``job`` in the background (any thread); its errors end the job."""

        def start() -> None:
            self.start()
            self.runtime.spawn(self.sender.run_job(job, payload, slot), on_error=self._crash(job))

        self.runtime.call_soon(start)

    async def reattach(self, jobs: list[Job], unsent: set[str]) -> None:
        """Track resumed jobs again; those maybe never enqueued are looked for on the server."""
        self.start()
        for job in jobs:
            if job.id not in unsent:
                self.tracker.track_existing(job)
                continue
            sending = [g for g in job.generations if g.status == "pending"]
            payload = {**job.request.payload(), "num_generations": len(sending)}
            self.runtime.spawn(self.sender.adopt_unsent(job, payload), on_error=self._crash(job))

    async def cancel(self, job: Job, index: int | None = None) -> None:
        """Cancel ``job`` (or only its take ``index``), also while it is being sent."""
        if index is None:
            await self.tracker.cancel_job(job, sending=job.id in self.sender.sending)
            return
        gid = job.generations[index].id
        if gid is not None:  # a take not sent yet: the whole job's cancel covers it
            await self.tracker.cancel_generation(gid)

    async def cancel_jobs(self, jobs: list[Job]) -> None:
        """Cancel several jobs at once."""
        await asyncio.gather(*(self.cancel(job) for job in jobs))

    def _crash(self, job: Job) -> Callable[[BaseException], None]:
        def crashed(exc: BaseException) -> None:
            message = (
                f"Internal error while running job {job.id}: {type(exc).__name__}: {exc}. The "
                "job may have been queued: check client.history() or `%kling jobs`."
            )
            self.journal.write(job, job.fail(message, uncertain=True))

        return crashed
