"""The states of a generation and a job, described once.

A generation is ``pending`` (not yet enqueued), ``queued``, ``processing``, ``downloading`` (the
server succeeded, the file is being saved), then final: ``succeeded``, ``failed``, ``cancelled``,
or ``timed_out`` (past the client's deadline; a late success is still saved). The ledger also
records ``save_failed``: the server succeeded but the file is not saved yet (paid for, so never
final for ``resume()``).
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "ACTIVE",
    "FINAL",
    "JOB_FINAL",
    "SERVER_FINAL",
    "GenerationStatus",
    "JobStatus",
    "resumed_status",
]

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

#: Final for this client: nothing more will happen to the generation while it waits.
FINAL: frozenset[str] = frozenset({"succeeded", "failed", "cancelled", "timed_out"})
#: Final on the server: the generation will never change again.
SERVER_FINAL: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})
#: Recorded statuses that may still end in a saved (and paid) result: ``resume()`` and a re-run
#: re-attach to these, however old, and never send the request again.
ACTIVE: frozenset[str] = frozenset(
    {"pending", "queued", "processing", "downloading", "save_failed", "timed_out"}
)

_KEPT: dict[str, GenerationStatus] = {
    "pending": "pending",
    "queued": "queued",
    "processing": "processing",
    "succeeded": "succeeded",
    "failed": "failed",
    "cancelled": "cancelled",
}


def resumed_status(recorded: str) -> GenerationStatus:
    """The status a re-attached generation starts from: a final, running or unsent one as
    recorded; anything else ("downloading" interrupted, "save_failed" and "timed_out" that may
    still end in a saved result) is polled again as "queued"."""
    return _KEPT.get(recorded, "queued")


#: Final job statuses (``Job.status``).
JOB_FINAL: frozenset[str] = frozenset(
    {"succeeded", "partial", "failed", "cancelled", "timed_out", "error"}
)
