"""What the ledger recorded, as rows for research notebooks, the gallery and time estimates.

Read from the ledger files alone (no client, no jobs in memory), so it works the same after a
restart. ``history()`` gives a pandas ``DataFrame`` when pandas is installed, else a list of dicts::

    >>> df = kling_nb.history()                               # doctest: +SKIP
    >>> df[df.status == "succeeded"].groupby("model").cost.sum()  # doctest: +SKIP
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kling_nb import env

if TYPE_CHECKING:
    from kling_nb.jobs import Job
    from kling_nb.store import JobRecord, Ledger

__all__ = [
    "ETA_SAMPLES",
    "Take",
    "billed",
    "eta_text",
    "fit_columns",
    "history",
    "ledger_records",
    "model_alias",
    "per_take",
    "record_prompts",
    "record_seconds",
    "relative_path",
    "shorten",
    "takes",
    "typical_for",
    "typical_seconds",
]

#: How many of the latest finished takes of the same model and length an estimate uses.
ETA_SAMPLES = 20
Record = tuple[Path, "JobRecord"]


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


def record_seconds(request: dict[str, Any]) -> int:
    """Seconds of video a recorded (canonical) request asked for."""
    shots = request.get("multi_prompt") or []
    if shots:
        return sum(int(shot.get("duration") or 0) for shot in shots)
    duration = request.get("duration")
    return int(duration) if isinstance(duration, int) else 5


def record_prompts(request: dict[str, Any]) -> list[str]:
    """Every prompt of a recorded request, one per shot."""
    shots = request.get("multi_prompt") or [{"prompt": request.get("prompt") or ""}]
    return [str(shot.get("prompt") or "") for shot in shots]


def model_alias(model: str) -> str:
    """The catalog's short alias of a model id (``o3-pro``), or the id itself if unknown."""
    from kling_nb.catalog import get_model

    try:
        return get_model(model).alias
    except ValueError:
        return model


def relative_path(path: Path) -> str:
    """``path`` relative to the working folder (the notebook's)."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)


@dataclass(frozen=True)
class Take:
    """One generation the ledger recorded, with its job's request (a history row)."""

    job_id: str
    take: int  # from 1
    created: datetime
    model: str  # the short alias
    status: str
    job_status: str
    takes: int
    seconds: int
    cost: float | None  # this take's share of the job's estimate
    prompt: str  # every shot's prompt, " / "-separated
    path: str | None  # relative to the working folder; None until saved
    took: float | None  # seconds from enqueue to completion
    simulated: bool
    generation_id: str | None
    request: dict[str, Any]


def takes(records: Iterable[Record]) -> list[Take]:
    """Every recorded generation, oldest job first, takes in order."""
    rows: list[Take] = []
    for folder, record in records:
        prompt = " / ".join(record_prompts(record.request))
        for gen in sorted(record.generations.values(), key=lambda g: g.index):
            took = None
            if gen.status == "succeeded" and gen.completed_at and gen.enqueued_at:
                took = max(0.0, gen.completed_at - gen.enqueued_at)
            path = folder / str(gen.result["path"]) if gen.result else None
            rows.append(
                Take(
                    job_id=record.job_id,
                    take=gen.index + 1,
                    created=datetime.fromtimestamp(record.created_at),
                    model=model_alias(record.model),
                    status=gen.status,
                    job_status=record.status,
                    takes=record.num_generations,
                    seconds=record_seconds(record.request),
                    cost=per_take(record.estimated_cost, record.num_generations),
                    prompt=prompt,
                    path=relative_path(path) if path else None,
                    took=took,
                    simulated=record.simulated,
                    generation_id=gen.generation_id,
                    request=record.request,
                )
            )
    return rows


def per_take(estimate: float | None, takes: int) -> float | None:
    """One take's share of a job's estimated cost."""
    return None if estimate is None else round(estimate / takes, 6)


def billed(estimate: float | None, takes: int, succeeded: int) -> float | None:
    """What a job cost: Oxen bills per second of video made, so only succeeded takes count."""
    share = per_take(estimate, takes)
    return None if share is None else round(share * succeeded, 6)


def history(outputs_dir: str | Path | None = None) -> Any:
    """Every recorded take as a row: a pandas ``DataFrame`` when pandas is installed, else a list
    of dicts. Columns: job_id, take, created, model, status, job_status, takes, seconds, cost,
    prompt, path, took, simulated, generation_id, request.

    ``outputs_dir`` defaults to the notebook session's (``%config KlingMagics.outputs_dir``),
    else ``$KLING_NB_OUTPUTS`` or ``kling_outputs``.
    """
    rows = [asdict(take) for take in takes(ledger_records(outputs_dir or default_outputs()))]
    try:
        import pandas as pd
    except ImportError:
        return rows
    columns = list(Take.__dataclass_fields__)
    return pd.DataFrame(rows, columns=columns)


def default_outputs() -> str:
    """The session's outputs folder, or the environment's default when no session is loaded."""
    from kling_nb.active import current_session

    session = current_session()
    if session is not None:
        return str(session.settings.outputs_dir)
    return str(env.outputs_dir())


def typical_seconds(records: Iterable[JobRecord], model: str, seconds: int) -> float | None:
    """The median time from enqueue to completion of the latest ``ETA_SAMPLES`` succeeded takes
    of ``model`` asking for ``seconds`` of video; None without any."""
    done: list[tuple[float, float]] = []
    for record in records:
        if record.model != model or record_seconds(record.request) != seconds:
            continue
        for gen in record.generations.values():
            if gen.status == "succeeded" and gen.completed_at and gen.enqueued_at:
                done.append((gen.completed_at, max(0.0, gen.completed_at - gen.enqueued_at)))
    if not done:
        return None
    latest = [took for _, took in sorted(done)[-ETA_SAMPLES:]]
    return float(statistics.median(latest))


def eta_text(typical: float | None, elapsed: float) -> str:
    """``about 1m 20s left``, ``any moment now`` past the typical time, or ``no estimate yet``."""
    if typical is None:
        return "no estimate yet"
    left = typical - elapsed
    if left < 1:
        return "any moment now"
    minutes, secs = divmod(int(left + 0.5), 60)
    return f"about {minutes}m {secs:02d}s left" if minutes else f"about {secs}s left"


def shorten(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: max(0, limit - 1)] + "…"


def fit_columns(
    header: Sequence[str], rows: list[list[str]], flex: int | None = None, width: int = 100
) -> str:
    """A plain table; with ``flex``, lines fit in ``width`` columns by shortening that column."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    if flex is not None:
        fixed = sum(w for i, w in enumerate(widths) if i != flex) + 2 * (len(header) - 1)
        room = max(len(header[flex]), width - fixed)
        rows = [[shorten(c, room) if i == flex else c for i, c in enumerate(row)] for row in rows]
        widths[flex] = max(len(row[flex]) for row in [header, *rows])
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [list(header), *rows]
    )


def typical_for(job: Job) -> float | None:
    """``typical_seconds`` for a job's model and length, from its client's ledger (None for a
    job without one)."""
    ledger = job.ledger
    if ledger is None:
        return None
    request = job.request
    return typical_seconds(ledger.jobs().values(), str(request.model), request.total_duration)
