"""Where a job's changes go: the ledger first, then the job's observers, once per loop turn.

Every change made on the runtime loop hands its records (from ``Job.set``/``Job.fail``) to
``Journal.write``; at the end of the loop's turn they are appended in one write, in order, and
only then are the changed jobs' observers called, so the ledger is up to date when ``wait()``
returns and a burst of completions costs one write.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from kling_nb.errors import KlingError
from kling_nb.jobs import Job
from kling_nb.store import Ledger, Line

__all__ = ["Journal"]

log = logging.getLogger("kling_nb")


class Journal:
    """Batched ledger writes and job notifications on one loop."""

    def __init__(self, ledger: Ledger, loop: asyncio.AbstractEventLoop) -> None:
        self.ledger = ledger
        self.loop = loop
        self._lines: list[Line] = []
        self._jobs: dict[str, Job] = {}
        self._scheduled = False

    def write(self, job: Job, lines: Iterable[Line] = ()) -> None:
        """Record ``lines`` and notify ``job``'s observers at the end of this turn (loop thread)."""
        self._lines.extend(lines)
        self._jobs[job.id] = job
        if not self._scheduled:
            self._scheduled = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        """Append what was recorded in one write, then call the changed jobs' observers."""
        self._scheduled = False
        lines, self._lines = self._lines, []
        jobs, self._jobs = self._jobs, {}
        if lines:
            try:
                self.ledger.append(*lines)
            except KlingError as exc:  # the jobs still end; their views say what happened
                log.warning("kling_nb: %s", exc.message)
                for job in jobs.values():
                    job.error = job.error or exc.message
        for job in jobs.values():
            job.changed()
