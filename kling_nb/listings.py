"""Plain-text tables for ``%kling models``, ``jobs`` and ``history``: readable in a notebook's
output and in terminal IPython alike. Pure: catalog specs, jobs, ledger records or the server's
answers in, text out (``None`` when there is nothing to list)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kling_nb.catalog import ModelSpec
    from kling_nb.jobs import Job
    from kling_nb.store import JobRecord, Ledger

__all__ = [
    "count",
    "history_table",
    "jobs_table",
    "ledger_records",
    "ledgers",
    "models_table",
    "remote_history_table",
    "remote_models_table",
    "unattached",
]

HISTORY_ROWS = 50
Record = tuple[Path, "JobRecord"]


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
    then the ``lost`` ones (simulated, their simulator gone: see ``kling_nb.lost``)."""
    rows = []
    for job in jobs:
        cost = "none (replayed)" if job.replayed else _cost(job.estimated_cost)
        status = job.status + _sim(job.simulated)
        prompt = job.request.shots[0].prompt if job.request.shots else ""
        rows.append([job.id, status, _age(now - job.created_at), cost, _clip(prompt)])
    marked = [(r, r.status) for r in records] + [(r, "lost") for r in lost]
    for record, shown in marked:
        status = f"{shown} (ledger){_sim(record.simulated)}"
        age, cost = _age(now - record.created_at), _cost(record.estimated_cost)
        rows.append([record.job_id, status, age, cost, _record_prompt(record)])
    return _table(["JOB", "STATUS", "AGE", "EST. COST", "PROMPT"], rows) if rows else None


def history_table(records: Sequence[Record]) -> str | None:
    """The latest ledger jobs, oldest first, with the paths of their saved results."""
    rows = []
    for folder, record in records[-HISTORY_ROWS:]:
        results = ", ".join(
            str(folder / str(g.result.get("path")))
            for g in sorted(record.generations.values(), key=lambda g: g.index)
            if g.result
        )
        status = record.status + _sim(record.simulated)
        cost, prompt = _cost(record.estimated_cost), _record_prompt(record)
        rows.append([_when(record.created_at), record.job_id, status, cost, prompt, results or "-"])
    if not rows:
        return None
    text = _table(["CREATED", "JOB", "STATUS", "EST. COST", "PROMPT", "RESULTS"], rows)
    if len(records) > len(rows):
        text += f"\nThe latest {len(rows)} of {len(records)} jobs; the ledger holds them all."
    return text


def remote_history_table(answer: dict[str, Any]) -> str | None:
    """``GET /api/ai/generations``: the server's own record of the account, with costs."""
    rows = []
    for row in answer.get("generations") or answer.get("data") or []:
        when = row.get("enqueued_at") or row.get("created_at")
        stamp = _when(when) if isinstance(when, int | float) and not isinstance(when, bool) else "-"
        ids = [str(row.get("generation_id")), str(row.get("status"))]
        cost = f"${row['cost']}" if row.get("cost") is not None else "-"
        model = str(row.get("model_name") or row.get("model") or "-")
        rows.append([stamp, *ids, cost, model, _clip(str(row.get("prompt") or ""))])
    if not rows:
        return None
    text = _table(["ENQUEUED", "GENERATION", "STATUS", "COST", "MODEL", "PROMPT"], rows)
    if answer.get("total_cost") is not None:
        text += f"\nTotal cost: ${answer['total_cost']} (first page; the server's figures)."
    return text


def ledgers(outputs_dir: str | Path) -> list[Ledger]:
    """The ledgers of the outputs folder and of its simulated subfolder, where there are some."""
    from kling_nb.store import LEDGER_NAME, Ledger

    outputs = Path(outputs_dir).expanduser().absolute()  # as the client writes them
    folders = (outputs, outputs / "simulated")
    return [Ledger(folder) for folder in folders if (folder / LEDGER_NAME).is_file()]


def ledger_records(outputs_dir: str | Path) -> list[Record]:
    """Every job in the ledgers of the outputs folder and its simulated subfolder, oldest first."""
    found = [(ledger.folder, r) for ledger in ledgers(outputs_dir) for r in ledger.jobs().values()]
    return sorted(found, key=lambda item: item[1].created_at)


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


def _record_prompt(record: JobRecord) -> str:
    request = record.request
    shots = request.get("multi_prompt") or [{"prompt": request.get("prompt") or ""}]
    return _clip(str(shots[0].get("prompt", "")))


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cost(usd: float | None) -> str:
    from kling_nb.requests import format_cost

    return format_cost(usd)


def _when(unix: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(unix))


def _age(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )
