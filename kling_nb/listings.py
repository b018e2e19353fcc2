"""Plain-text tables for ``%kling models``, ``jobs`` and ``history``: readable in a notebook's
output and in terminal IPython alike. Pure: catalog specs, jobs, ledger records or the server's
answers in, text out (``None`` when there is nothing to list)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from kling_nb.takes import Record, billed, fit_columns, model_alias, record_prompts, relative_path

if TYPE_CHECKING:
    from kling_nb.catalog import ModelSpec
    from kling_nb.jobs import Job
    from kling_nb.store import JobRecord

__all__ = [
    "count",
    "history_table",
    "jobs_table",
    "models_table",
    "remote_history_table",
    "remote_models_table",
    "unattached",
]

HISTORY_ROWS = 50
WIDTH = 100  # a terminal's or a notebook output's comfortable line
PROMPT_ROOM = 24


def models_table(specs: Iterable[ModelSpec]) -> str:
    """Alias, id, price per second, allowed shot and total durations, reference limit."""
    rows = []
    for spec in specs:
        price = _per_second(spec.price_per_second)
        if spec.supports_audio and spec.price_per_second_with_audio != spec.price_per_second:
            price += f" ({_per_second(spec.price_per_second_with_audio)} with audio)"
        low, high = spec.min_total_duration, spec.max_total_duration
        total = _seconds(range(low, high + 1)) if low is not None and high is not None else "-"
        refs = str(spec.max_references) if spec.max_references is not None else "-"
        rows.append([spec.alias, spec.id, price, _seconds(spec.allowed_durations), total, refs])
    return _table(["ALIAS", "MODEL ID", "PRICE", "SHOT", "TOTAL", "REFS"], rows)


def remote_models_table(models: Iterable[dict[str, Any]]) -> str:
    """The server's model objects: id and name."""
    rows = [[str(m.get("id")), str(m.get("name", ""))] for m in models]
    return _table(["MODEL ID", "NAME"], rows)


def jobs_table(
    jobs: Sequence[Job], records: Iterable[JobRecord], now: float, lost: Iterable[JobRecord] = ()
) -> str | None:
    """This session's jobs, then the ledger's unfinished ones it does not hold, marked (ledger),
    then the ``lost`` ones (simulated, their simulator gone: see ``kling_nb.lost``); one line
    each, within 100 columns (the prompt is cut to fit)."""
    rows = []
    for job in jobs:
        cost = "$0 (replayed)" if job.replayed else _cost(job.estimated_cost)
        status = job.status + _sim(job.simulated)
        prompt = " / ".join(shot.prompt for shot in job.request.shots)
        age = _age(now - job.created_at)
        rows.append([job.id, model_alias(str(job.request.model)), status, age, cost, prompt])
    marked = [(r, r.status) for r in records] + [(r, "lost") for r in lost]
    for record, shown in marked:
        status = f"{shown} (ledger){_sim(record.simulated)}"
        age, cost = _age(now - record.created_at), _cost(record.estimated_cost)
        prompt = " / ".join(record_prompts(record.request))
        rows.append([record.job_id, model_alias(record.model), status, age, cost, prompt])
    header = ["JOB", "MODEL", "STATUS", "AGE", "EST. COST", "PROMPT"]
    return fit_columns(header, rows, flex=5, width=WIDTH) if rows else None


def history_table(records: Sequence[Record]) -> str | None:
    """The latest ledger jobs, oldest first, one line each within 100 columns: when, model,
    status, takes saved, what it cost, the prompt (cut to fit) and the first result's path
    relative to the outputs folder (printed once above)."""
    rows = []
    latest = records[-HISTORY_ROWS:]
    folders = sorted(
        {
            relative_path(folder.parent if folder.name == "simulated" else folder)
            for folder, _ in latest
        }
    )
    for folder, record in latest:
        gens = sorted(record.generations.values(), key=lambda g: g.index)
        saved = [folder / str(g.result.get("path")) for g in gens if g.result]
        top = folder.parent if folder.name == "simulated" else folder
        first = os.path.relpath(saved[0], top) if saved else "-"
        more = f" +{len(saved) - 1}" if len(saved) > 1 else ""
        status = record.status + _sim(record.simulated)
        done = f"{len(saved)}/{record.num_generations}"
        prompt = " / ".join(record_prompts(record.request))
        rows.append([_when(record.created_at), model_alias(record.model), status, done])
        rows[-1] += [_record_cost(record, len(saved)), prompt, first + more]
    if not rows:
        return None
    header = ["CREATED", "MODEL", "STATUS", "SAVED", "COST", "PROMPT", "RESULT"]
    # The prompt keeps PROMPT_ROOM columns; a result path longer than what is left (a server's
    # generation id) loses its middle, and kling_nb.history() has it whole.
    fixed = sum(max(len(r[i]) for r in [header, *rows]) for i in range(5)) + 2 * 6
    room = max(len(header[6]), WIDTH - fixed - PROMPT_ROOM)
    for row in rows:
        row[6] = _middle(row[6], room)
    text = f"Results are in {', '.join(folders)}/ (RESULT is relative to it).\n"
    text += fit_columns(header, rows, flex=5, width=WIDTH)
    if len(records) > len(rows):
        text += f"\nThe latest {len(rows)} of {len(records)} jobs; kling_nb.history() has them all."
    return text


def remote_history_table(answer: dict[str, Any]) -> str | None:
    """``GET /api/ai/generations``: the server's own record of the account, with costs."""
    rows = []
    for row in answer.get("generations") or answer.get("data") or []:
        when = row.get("enqueued_at") or row.get("created_at")
        stamp = _when(when) if isinstance(when, int | float) and not isinstance(when, bool) else "-"
        ids = [str(row.get("generation_id")), str(row.get("status"))]
        cost = f"${row['cost']}" if row.get("cost") is not None else "-"
        model = model_alias(str(row.get("model_name") or row.get("model") or "-"))
        rows.append([stamp, *ids, cost, model, str(row.get("prompt") or "")])
    if not rows:
        return None
    header = ["ENQUEUED", "GENERATION", "STATUS", "COST", "MODEL", "PROMPT"]
    text = fit_columns(header, rows, flex=5, width=WIDTH)
    if answer.get("total_cost") is not None:
        text += f"\nTotal cost: ${answer['total_cost']} (first page; the server's figures)."
    return text


def unattached(records: Iterable[Record], jobs: Iterable[Job]) -> list[JobRecord]:
    """Ledger jobs still running when last recorded that ``jobs`` does not hold."""
    known = {job.id for job in jobs}
    return [r for _, r in records if r.pending and r.job_id not in known]


def count(n: int, noun: str) -> str:
    """``"1 job"``, ``"2 jobs"``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _per_second(usd: float | None) -> str:
    return "price unknown" if usd is None else f"${usd:.3f}/s"


def _seconds(values: Iterable[int]) -> str:
    """``"1-15 s"`` for a run of whole seconds, ``"5, 10 s"`` otherwise, ``"-"`` for none."""
    known = sorted(set(values))
    if not known:
        return "-"
    low, high = known[0], known[-1]
    if known == list(range(low, high + 1)):
        return f"{low} s" if low == high else f"{low}-{high} s"
    return ", ".join(map(str, known)) + " s"


def _sim(simulated: bool) -> str:
    return " (simulated)" if simulated else ""


def _cost(usd: float | None) -> str:
    from kling_nb.requests import format_cost

    return format_cost(usd)


def _middle(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters by an ellipsis in its middle."""
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return text[:head] + "…" + text[len(text) - (limit - 1 - head) :]


def _record_cost(record: JobRecord, saved: int) -> str:
    """What an ended job was billed (its succeeded takes), or ``est. $x`` while it runs."""
    if record.pending or record.unsent or record.status == "submitting":
        return "est. " + _cost(record.estimated_cost)
    return _cost(billed(record.estimated_cost, record.num_generations, saved))


def _when(unix: float) -> str:
    return time.strftime("%m-%d %H:%M", time.localtime(unix))


def _age(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _table(header: list[str], rows: list[list[str]]) -> str:
    return fit_columns(header, rows)
