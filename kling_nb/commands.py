"""The ``%kling`` line commands: models, jobs, cancel, resume, history, config, simulator, form.

Each command prints plain text (readable in a notebook and in terminal IPython) and returns
``None``, except ``form``, which returns the widget to display. Only ``resume`` and the
``--remote`` variants need a client; the others read the session and the ledgers and start nothing.
"""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from IPython.core.error import UsageError

if TYPE_CHECKING:
    from kling_nb.jobs import Job
    from kling_nb.magics import KlingMagics
    from kling_nb.store import JobRecord

__all__ = ["GUIDE", "run_command"]

GUIDE = """\
kling_nb: Kling videos from this notebook (Oxen.ai).

  %%kling -m o3-pro -a 9:16 --audio -i https://example.com/face.jpg
  [5s] @Image1 walks toward the camera smiling
  [5s] She turns to the window, {style}

  The cell returns at once with a live job (also in _kling); -o NAME stores it too.
  [Ns] starts a shot of N seconds; without markers the body is one prompt (-d sets its seconds).
  {name} is your variable (in options too, as is $name), {{ and }} are braces.
  Re-running an unchanged cell replays its result at no cost (or shows its job, if still
  running); --force makes a new take. --dry-run shows the request, cost and exports; --wait
  blocks; --sync uses the synchronous endpoint. %%kling? lists every option.

  %kling models [--remote]   the models, their prices and limits
  %kling jobs                this session's jobs and the ledger's unfinished ones
  %kling cancel ID|all       cancel a job (or every running one)
  %kling resume              re-attach to generations still running after a restart
  %kling history [--remote]  what the ledger recorded (--remote: the server's, with costs)
  %kling config              the effective settings (%config KlingMagics.<name> = ... changes them)
  %kling simulator start|stop|status   the bundled local simulator
  %kling form                a request builder with validation, cost and exports

Without OXEN_API_KEY every request goes to the bundled simulator, and says so."""


def run_command(magics: KlingMagics, line: str) -> object:
    """Run ``%kling <line>``; an unknown command or argument is a ``UsageError``."""
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"Could not read the %kling command: {exc}.") from None
    name, args = (words[0], words[1:]) if words else ("help", [])
    command = _COMMANDS.get(name)
    if command is None:
        hint = (
            " (options belong to the %%kling cell magic, with two %)"
            if name.startswith("-")
            else ""
        )
        raise UsageError(
            f"Unknown %kling command {name!r}{hint}. Commands: {', '.join(_COMMANDS)}."
        )
    from kling_nb.errors import KlingError, redact

    try:
        return command(magics, args)
    except KlingError as exc:  # the server or the network: one line, like every mistake
        raise UsageError(redact(f"{type(exc).__name__}: {exc}")) from None


def _expect(name: str, args: list[str], allowed: Iterable[str] = (), count: int = 0) -> None:
    flags = [a for a in args if a.startswith("-")]
    positional = [a for a in args if not a.startswith("-")]
    wrong = [f for f in flags if f not in allowed]
    if wrong or len(positional) != count:
        raise UsageError(f"Usage: {_USAGE[name]}")


def _help(magics: KlingMagics, args: list[str]) -> None:
    print(GUIDE)


def _models(magics: KlingMagics, args: list[str]) -> None:
    _expect("models", args, allowed=["--remote"])
    if "--remote" in args:
        client = magics.session.client()
        rows = [[str(m.get("id")), str(m.get("name", ""))] for m in client.models()]
        print(_table(["MODEL ID", "NAME"], rows))
        return
    from kling_nb.catalog import list_models

    rows = []
    for spec in list_models():
        price = _per_second(spec.price_per_second)
        if spec.supports_audio and spec.price_per_second_with_audio != spec.price_per_second:
            price += f" ({_per_second(spec.price_per_second_with_audio)} with audio)"
        shot = _seconds(spec.allowed_durations)
        low, high = spec.min_total_duration, spec.max_total_duration
        total = _seconds(range(low, high + 1)) if low is not None and high is not None else "-"
        refs = str(spec.max_references) if spec.max_references is not None else "-"
        rows.append([spec.alias, spec.id, price, shot, total, refs])
    print(_table(["ALIAS", "MODEL ID", "PRICE", "SHOT", "TOTAL", "REFS"], rows))
    print("Use an alias or an id with -m; %%kling --dry-run shows a request's cost.")


def _per_second(usd: float | None) -> str:
    return "price unknown" if usd is None else f"${usd:.3f}/s"


def _seconds(values: Sequence[int]) -> str:
    """``"1-15 s"`` for a run of whole seconds, ``"5, 10 s"`` otherwise, ``"-"`` for none."""
    known = sorted(set(values))
    if not known:
        return "-"
    low, high = known[0], known[-1]
    if known == list(range(low, high + 1)):
        return f"{low} s" if low == high else f"{low}-{high} s"
    return ", ".join(map(str, known)) + " s"


def _jobs(magics: KlingMagics, args: list[str]) -> None:
    _expect("jobs", args)
    now = time.time()
    jobs = magics.session.jobs
    rows = [_job_row(job, now) for job in jobs]
    for record in _unattached(magics, jobs):
        age = _age(now - record.created_at)
        cost = _cost(record.estimated_cost)
        status = f"{record.status} (ledger){_sim(record.simulated)}"
        rows.append([record.job_id, status, age, cost, _record_prompt(record)])
    if not rows:
        print("No jobs yet in this session, and none unfinished in the ledger.")
        return
    print(_table(["JOB", "STATUS", "AGE", "EST. COST", "PROMPT"], rows))
    if len(rows) > len(jobs):
        print(
            "Jobs marked (ledger) ran before this kernel started: %kling resume re-attaches them."
        )


def _cancel(magics: KlingMagics, args: list[str]) -> None:
    _expect("cancel", args, count=1)
    target = args[0]
    jobs = magics.session.jobs
    if target == "all":
        running = [job for job in jobs if not job.done]
        for job in running:
            job.cancel()
        print(f"Cancelled {_count(len(running), 'running job')}.")
        left = len(_unattached(magics, jobs))
        if left:
            print(f"{_count(left, 'job')} from before this kernel: %kling resume, then cancel.")
        return
    for job in jobs:
        if target == job.id or target in job.generation_ids:
            if job.done:
                print(f"Job {job.id} already ended ({job.status}); nothing to cancel.")
            else:
                job.cancel()
                print(f"Cancelled job {job.id}.")
            return
    raise UsageError(
        f"No job or generation {target!r} in this session: %kling jobs lists them, and "
        "%kling resume re-attaches ones that ran before a restart."
    )


def _resume(magics: KlingMagics, args: list[str]) -> None:
    _expect("resume", args)
    from IPython.display import display as _display

    display = cast("Callable[..., None]", _display)
    jobs = magics.session.client().resume()
    for job in jobs:
        magics.session.remember(job)
    if not jobs:
        print("Nothing to resume: the ledger has no generation that was still running.")
        return
    print(f"Re-attached {_count(len(jobs), 'job')}.")
    display(*jobs)


def _history(magics: KlingMagics, args: list[str]) -> None:
    _expect("history", args, allowed=["--remote"])
    if "--remote" in args:
        _remote_history(magics)
        return
    records = _records(magics)
    rows = []
    for folder, record in records[-_HISTORY_ROWS:]:
        results = ", ".join(
            str(folder / str(g.result.get("path")))
            for g in sorted(record.generations.values(), key=lambda g: g.index)
            if g.result
        )
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(record.created_at))
        cost = _cost(record.estimated_cost)
        prompt = _record_prompt(record)
        status = record.status + _sim(record.simulated)
        rows.append([when, record.job_id, status, cost, prompt, results or "-"])
    if not rows:
        print(f"The ledger in {magics.outputs_dir} is empty: nothing has been generated yet.")
        return
    print(_table(["CREATED", "JOB", "STATUS", "EST. COST", "PROMPT", "RESULTS"], rows))
    if len(records) > len(rows):
        print(f"The latest {len(rows)} of {len(records)} jobs; the ledger holds them all.")


def _remote_history(magics: KlingMagics) -> None:
    """The server's own record: every generation of the account, with what it cost."""
    answer = magics.session.client().history()
    rows = []
    for row in answer.get("generations") or answer.get("data") or []:
        when = row.get("enqueued_at") or row.get("created_at")
        stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(when)) if _is_number(when) else "-"
        model = str(row.get("model_name") or row.get("model") or "-")
        prompt = _clip(str(row.get("prompt") or ""))
        cost = f"${row['cost']}" if row.get("cost") is not None else "-"
        rows.append(
            [stamp, str(row.get("generation_id")), str(row.get("status")), cost, model, prompt]
        )
    if not rows:
        print("The server has no generations for this account yet.")
        return
    print(_table(["ENQUEUED", "GENERATION", "STATUS", "COST", "MODEL", "PROMPT"], rows))
    if answer.get("total_cost") is not None:
        print(f"Total cost: ${answer['total_cost']} (first page; the server's figures).")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _config(magics: KlingMagics, args: list[str]) -> None:
    _expect("config", args)
    from kling_nb.session import BASE_URL_ENV

    session = magics.session
    simulator = session.simulator
    if session.api_key() is None:
        key = "not set: requests go to the bundled simulator"
    else:
        key = "set (redacted)" + (
            "; ignored while the simulator is on" if session.simulated else ""
        )
    rows = [
        ["default_model", magics.default_model],
        ["aspect_ratio", str(magics.aspect_ratio or "the model's default")],
        ["outputs_dir", str(Path(magics.outputs_dir).expanduser().resolve())],
        ["budget_usd", "none" if magics.budget_usd is None else _cost(magics.budget_usd)],
        ["deadline_seconds", f"{magics.deadline_seconds:g}"],
        ["OXEN_API_KEY", key],
        [BASE_URL_ENV, _env(BASE_URL_ENV) or "not set (Oxen.ai)"],
        ["simulator", simulator.base_url if simulator else "not running"],
    ]
    print(_table(["SETTING", "VALUE"], rows))
    print("Change a setting with %config KlingMagics.<name> = value.")


def _simulator(magics: KlingMagics, args: list[str]) -> None:
    _expect("simulator", args, count=1)
    action = args[0]
    session = magics.session
    if action == "start":
        running = session.simulator
        session.start_simulator(explicit=True)  # says so when it starts one
        if running is not None:
            until = " until %kling simulator stop" if session.api_key() else ""
            print(f"Requests go to the simulator at {running.base_url}{until}.")
    elif action == "stop":
        if session.stop_simulator():
            again = "" if session.api_key() else " The next submission starts it again (no key)."
            print("Stopped the simulator." + again)
        else:
            print("The simulator is not running.")
    elif action == "status":
        simulator = session.simulator
        if simulator is None:
            print("The simulator is not running.")
        else:
            stats = simulator.stats()
            print(
                f"The simulator is running at {simulator.base_url}: "
                f"{stats.get('enqueue_calls', 0)} enqueue calls, "
                f"{stats.get('generations_created', 0)} generations."
            )
    else:
        raise UsageError(f"Usage: {_USAGE['simulator']}")


def _form(magics: KlingMagics, args: list[str]) -> Any:
    _expect("form", args)
    from kling_nb.widgets import RequestForm

    # No client yet: the form asks the session for one on Submit, so showing it starts nothing.
    return RequestForm()


def _unattached(magics: KlingMagics, jobs: list[Job]) -> list[JobRecord]:
    """Ledger jobs still running when last recorded that this session does not hold."""
    known = {job.id for job in jobs}
    return [r for _, r in _records(magics) if r.pending and r.job_id not in known]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _sim(simulated: bool) -> str:
    return " (simulated)" if simulated else ""


def _records(magics: KlingMagics) -> list[tuple[Path, JobRecord]]:
    """Every job in the ledgers of the outputs folder and its simulated subfolder, oldest first."""
    from kling_nb.store import LEDGER_NAME, Ledger

    outputs = Path(magics.outputs_dir).expanduser()
    found: list[tuple[Path, JobRecord]] = []
    for folder in (outputs, outputs / "simulated"):
        if (folder / LEDGER_NAME).is_file():
            found.extend((folder, record) for record in Ledger(folder).jobs().values())
    return sorted(found, key=lambda item: item[1].created_at)


def _job_row(job: Job, now: float) -> list[str]:
    cost = "none (replayed)" if job.replayed else _cost(job.estimated_cost)
    status = job.status + _sim(job.simulated)
    return [job.id, status, _age(now - job.created_at), cost, _prompt(job)]


def _prompt(job: Job) -> str:
    return _clip(job.request.shots[0].prompt if job.request.shots else "")


def _record_prompt(record: JobRecord) -> str:
    request = record.request
    shots = request.get("multi_prompt") or [{"prompt": request.get("prompt") or ""}]
    return _clip(str(shots[0].get("prompt", "")))


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cost(usd: float | None) -> str:
    from kling_nb.requests import format_cost

    return format_cost(usd)


def _age(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )


_HISTORY_ROWS = 50
_USAGE = {
    "models": "%kling models [--remote]",
    "jobs": "%kling jobs",
    "cancel": "%kling cancel ID|all",
    "resume": "%kling resume",
    "history": "%kling history [--remote]",
    "config": "%kling config",
    "simulator": "%kling simulator start|stop|status",
    "form": "%kling form",
    "help": "%kling help",
}
_COMMANDS: dict[str, Callable[[KlingMagics, list[str]], object]] = {
    "models": _models,
    "jobs": _jobs,
    "cancel": _cancel,
    "resume": _resume,
    "history": _history,
    "config": _config,
    "simulator": _simulator,
    "form": _form,
    "help": _help,
}
