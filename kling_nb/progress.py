"""``%%kling --wait`` in a terminal: one progress line, rewritten in place until the job ends.

A notebook has the live view for this; a terminal would otherwise show minutes of silence.
"""

from __future__ import annotations

import contextlib
import time
from typing import IO, TYPE_CHECKING

from kling_nb.errors import WaitTimeoutError
from kling_nb.takes import eta_text, typical_for

if TYPE_CHECKING:
    from kling_nb.jobs import Job

__all__ = ["clock", "progress_line", "wait_with_progress"]


def clock(seconds: float) -> str:
    """``42s``, ``3m 05s``: as the job view's elapsed time reads."""
    s = max(0, int(seconds))
    return f"{s // 60}m {s % 60:02d}s" if s >= 60 else f"{s}s"


def progress_line(job: Job, elapsed: float, typical: float | None) -> str:
    """``Job ab12: processing · 42s elapsed · about 1m 20s left`` (the ETA only while running)."""
    line = f"Job {job.id}: {job.status.replace('_', ' ')} · {clock(elapsed)} elapsed"
    return line if job.done else f"{line} · {eta_text(typical, elapsed)}"


def wait_with_progress(job: Job, out: IO[str], every: float = 1.0) -> Job:
    """Block until ``job`` ends, rewriting one line on ``out`` every ``every`` seconds."""
    typical = typical_for(job)
    width = 0
    while True:
        text = progress_line(job, (job.finished_at or time.time()) - job.created_at, typical)
        out.write("\r" + text.ljust(width))
        out.flush()
        width = len(text)
        if job.done:
            out.write("\n")
            out.flush()
            return job
        with contextlib.suppress(WaitTimeoutError):
            job.wait(timeout=every)
