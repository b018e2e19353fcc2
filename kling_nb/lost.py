"""Simulated jobs whose simulator is gone: recorded as lost, so that nothing offers to resume them.

The bundled simulator runs inside its kernel. When the kernel dies, the generations it was making
die with it, and no server will ever answer for them (the next kernel's simulator listens on
another port). ``simulator_gone`` decides which ledger jobs those are; ``settle`` records each as
failed, with ``LOST`` as the reason, once: from then on the ledger holds them as final, so job
lists, ``resume()`` and a re-run leave them alone.

A simulator counts as gone only when nothing accepts a connection at its address; one still
running (another kernel's, sharing the outputs folder) keeps its jobs.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from kling_nb.records import JobLine, JobRecord
from kling_nb.state import SERVER_FINAL

if TYPE_CHECKING:
    from kling_nb.store import Ledger

__all__ = ["LOST", "listening", "settle", "simulator_gone"]

LOST = (
    "lost: the bundled simulator that ran it stopped with its kernel, so it can never finish "
    "(simulated results cost nothing: run the cell again)"
)
_PROBE_SECONDS = 1.0


def simulator_gone(record: JobRecord, listening: Callable[[str], bool]) -> bool:
    """Whether ``record`` is a simulated job not yet final whose simulator no longer listens
    (``listening(base_url)``): it can never finish, and must never be resumed."""
    unfinished = bool(record.pending) or record.maybe_queued
    return record.simulated and unfinished and not listening(record.base_url)


def listening(base_url: str) -> bool:
    """Whether something accepts connections at ``base_url``; only a refused connection says
    no (a slow or unreachable host may still be running the jobs)."""
    parts = urlsplit(base_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=_PROBE_SECONDS):
            return True
    except ConnectionRefusedError:
        return False
    except OSError:
        return True


def settle(ledger: Ledger, probe: Callable[[str], bool] = listening) -> list[JobRecord]:
    """Record every job of ``ledger`` whose simulator is gone as failed, its unfinished takes
    too, with ``LOST`` as the reason; the jobs settled now (each is settled once)."""
    answers: dict[str, bool] = {}

    def cached(base_url: str) -> bool:  # one probe per simulator
        if base_url not in answers:
            answers[base_url] = probe(base_url)
        return answers[base_url]

    lost = [r for r in ledger.jobs().values() if simulator_gone(r, cached)]
    for record in lost:
        gens = sorted(record.generations.values(), key=lambda g: g.index)
        ended = [
            g.model_copy(update={"status": "failed", "error": LOST, "time": time.time()})
            for g in gens
            if g.status not in SERVER_FINAL
        ]
        status = "partial" if any(g.status == "succeeded" for g in gens) else "failed"
        ledger.append(*ended, JobLine(job_id=record.job_id, status=status, error=LOST))
    return lost
