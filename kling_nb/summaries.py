"""One-line descriptions of a job shared by its views, its summary and the job lists: every shot
of a multi-shot request, and what a job costs (estimated, replayed at no cost, or billed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["cost_text", "shots_text"]


def shots_text(shots: Sequence[Any], total_seconds: int, limit: int = 160) -> str:
    """``"3 shots, 15 s: A / B / C"`` (each prompt shortened to share ``limit`` characters), or
    ``"5 s: the prompt"`` for one."""
    from kling_nb.takes import shorten

    prompts = [" ".join(str(getattr(shot, "prompt", "")).split()) for shot in shots]
    head = f"{len(prompts)} shots, {total_seconds} s" if len(prompts) > 1 else f"{total_seconds} s"
    each = max(12, (limit - 3 * (len(prompts) - 1)) // max(1, len(prompts)))
    return f"{head}: " + " / ".join(shorten(p, each) for p in prompts)


def cost_text(job: Any, estimated: str = "") -> str:
    """The estimate (after ``estimated``, e.g. ``"est. "``) while it runs or when every take
    succeeded; ``$0 (replayed; made for $1.12)`` for a replay; ``billed $0.56 of est. $1.12`` for
    an ended job with takes that did not succeed (Oxen bills per second of video made)."""
    from kling_nb.requests import format_cost
    from kling_nb.state import FINAL
    from kling_nb.takes import billed

    estimate = format_cost(job.estimated_cost)
    if job.replayed:
        return f"$0 (replayed; made for {estimate})"
    succeeded = sum(g.status == "succeeded" for g in job.generations)
    ended = all(g.status in FINAL for g in job.generations)
    if not ended or succeeded == len(job.generations):
        return f"{estimated}{estimate}"
    paid = billed(job.estimated_cost, len(job.generations), succeeded)
    return f"billed {format_cost(paid)} of est. {estimate}"
