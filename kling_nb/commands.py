"""The ``%kling`` line commands: models, jobs, cancel, resume, history, gallery, config, simulator,
samples, form.

Each command prints plain text (readable in a notebook and in terminal IPython) and returns
``None``, except ``form`` and ``gallery``, which return the widget to display. Only ``resume``
and the ``--remote`` variants need a client; the others read the session and the ledgers and start
nothing (``samples`` starts the simulator when there is no key; ``jobs``, ``cancel all`` and
``resume`` first record as lost the simulated jobs whose simulator is gone: ``kling_nb.lost``).
"""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from IPython.core.error import UsageError

from kling_nb import listings
from kling_nb.env import API_KEY_ENV
from kling_nb.takes import ledger_records, ledgers

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
  %kling gallery [--last N] [--model M] [--search TEXT]   the saved videos, to compare takes
  %kling config              the effective settings (%config KlingMagics.<name> = ... changes them)
  %kling simulator start|stop|status   the bundled local simulator (start takes the options
                             of kling-nb simulator, e.g. --generation-seconds 10)
  %kling samples             the simulator's sample image URLs, for -i in simulated runs
  %kling form                a request builder with validation, cost and exports
  %kling client              this session's Client, for the Python API (client = %kling client)

Without OXEN_API_KEY every request goes to the bundled simulator, and says so
(%config KlingMagics.simulator_seconds sets how long its generations take)."""


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
        print(listings.remote_models_table(magics.session.client().models()))
        return
    from kling_nb.catalog import list_models

    print(listings.models_table(list_models()))
    print("Use an alias or an id with -m; %%kling --dry-run shows a request's cost.")


def _jobs(magics: KlingMagics, args: list[str]) -> None:
    _expect("jobs", args)
    jobs = magics.session.jobs
    lost = _settle_lost(magics)
    earlier = listings.unattached(ledger_records(magics.outputs_dir), jobs)
    table = listings.jobs_table(jobs, earlier, time.time(), lost)
    if table is None:
        print("No jobs yet in this session, and none unfinished in the ledger.")
        return
    print(table)
    if earlier:
        print(
            "Jobs marked (ledger) ran before this kernel started: %kling resume re-attaches them."
        )
    _say_lost(lost)


def _settle_lost(magics: KlingMagics) -> list[JobRecord]:
    """Record as lost the simulated jobs whose simulator is gone (``kling_nb.lost``)."""
    from kling_nb.lost import settle

    return [record for ledger in ledgers(magics.outputs_dir) for record in settle(ledger)]


def _say_lost(lost: list[JobRecord]) -> None:
    if lost:
        them = "it" if len(lost) == 1 else "them"
        print(
            f"Lost: {listings.count(len(lost), 'simulated job')} of an earlier kernel. The bundled "
            f"simulator that made {them} stopped with that kernel, so {them} can never finish; "
            f"the ledger now records {them} as failed (simulated results cost nothing: run the "
            "cell again)."
        )


def _cancel(magics: KlingMagics, args: list[str]) -> None:
    _expect("cancel", args, count=1)
    target = args[0]
    jobs = magics.session.jobs
    if target == "all":
        running = [job for job in jobs if _cancellable(job)]
        for job in running:
            job.cancel()
        print(f"Cancelled {listings.count(len(running), 'running job')}.")
        lost = _settle_lost(magics)
        left = listings.unattached(ledger_records(magics.outputs_dir), jobs)
        if left:
            earlier = listings.count(len(left), "job")
            print(f"{earlier} from before this kernel: %kling resume, then cancel.")
        _say_lost(lost)
        return
    for job in jobs:
        if target == job.id or target in job.generation_ids:
            if not _cancellable(job):
                print(f"Job {job.id} already ended ({job.status}); nothing to cancel.")
            else:
                job.cancel()
                print(f"Cancelled job {job.id}.")
            return
    raise UsageError(
        f"No job or generation {target!r} in this session: %kling jobs lists them, and "
        "%kling resume re-attaches ones that ran before a restart."
    )


def _cancellable(job: Job) -> bool:
    """Whether ``job`` may still run on the server: unfinished, or a take past the client's
    deadline (``timed_out`` is the client giving up, not the server; a client-side error has
    nothing to cancel), as ``Job.cancel`` decides."""
    if not job.done:
        return True
    return job.status != "error" and any(g.status == "timed_out" for g in job.generations)


def _resume(magics: KlingMagics, args: list[str]) -> None:
    _expect("resume", args)
    from IPython.display import display as _display

    display = cast("Callable[..., None]", _display)
    _say_lost(_settle_lost(magics))
    jobs = magics.session.client().resume()
    for job in jobs:
        magics.session.remember(job)
    if not jobs:
        print("Nothing to resume: the ledger has no generation that was still running.")
        return
    print(f"Re-attached {listings.count(len(jobs), 'job')}.")
    display(*jobs)


def _history(magics: KlingMagics, args: list[str]) -> None:
    _expect("history", args, allowed=["--remote"])
    if "--remote" in args:
        table = listings.remote_history_table(magics.session.client().history())
        print(table or "The server has no generations for this account yet.")
        return
    table = listings.history_table(ledger_records(magics.outputs_dir))
    print(table or f"The ledger in {magics.outputs_dir} is empty: nothing has been generated yet.")


def _config(magics: KlingMagics, args: list[str]) -> None:
    _expect("config", args)
    from kling_nb.env import BASE_URL_ENV
    from kling_nb.requests import format_cost

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
        ["budget_usd", "none" if magics.budget_usd is None else format_cost(magics.budget_usd)],
        ["deadline_seconds", f"{magics.deadline_seconds:g}"],
        ["simulator_seconds", f"{magics.simulator_seconds:g}"],
        [API_KEY_ENV, key],
        [BASE_URL_ENV, os.environ.get(BASE_URL_ENV) or "not set (Oxen.ai)"],
        ["simulator", simulator.base_url if simulator else "not running"],
    ]
    print("\n".join(f"{name:<19}{value}" for name, value in rows))
    print("Change a setting with %config KlingMagics.<name> = value.")


def _simulator(magics: KlingMagics, args: list[str]) -> Any:
    if not args or args[0] not in ("start", "stop", "status") or (args[0] != "start" and args[1:]):
        raise UsageError(f"Usage: {_USAGE['simulator']}")
    action = args[0]
    session = magics.session
    if action == "start":
        running = session.simulator
        options = _simulator_options(magics, args[1:])
        if running is not None and args[1:]:
            print(
                "The simulator is already running: %kling simulator stop, then start it with "
                "these options."
            )
        from kling_nb.simulator.faults import FaultError

        try:
            simulator = session.start_simulator(explicit=True, options=options)  # says so
        except (FaultError, OSError) as exc:
            raise UsageError(f"The simulator did not start: {exc}.") from None
        if running is not None:
            until = " until %kling simulator stop" if session.api_key() else ""
            print(f"Requests go to the simulator at {running.base_url}{until}.")
        return simulator  # `sim = %kling simulator start` gives sim.sample_url(name) and stats
    if action == "stop":
        if session.stop_simulator():
            again = "" if session.api_key() else " The next submission starts it again (no key)."
            print("Stopped the simulator." + again)
        else:
            print("The simulator is not running.")
        return None
    current = session.simulator
    if current is None:
        print("The simulator is not running.")
        return None
    stats = current.stats()
    print(
        f"The simulator is running at {current.base_url}: "
        f"{stats.get('enqueue_calls', 0)} enqueue calls, "
        f"{stats.get('generations_created', 0)} generations."
    )
    return current


def _simulator_options(magics: KlingMagics, args: list[str]) -> dict[str, Any]:
    """``%kling simulator start``'s options: exactly ``kling-nb simulator``'s, read by its own
    parser (a free port and ``simulator_seconds`` by default)."""
    from kling_nb.session import NO_SIMULATOR

    try:
        from kling_nb.simulator.cli import add_arguments, simulator_settings
    except ImportError:
        raise UsageError(NO_SIMULATOR) from None
    parser = _parser("%kling simulator start")
    add_arguments(parser)
    parser.set_defaults(port=0, generation_seconds=magics.simulator_seconds)
    return simulator_settings(parser.parse_args(args))


def _samples(magics: KlingMagics, args: list[str]) -> None:
    _expect("samples", args)
    from kling_nb.simulator.samples import SAMPLE_NAMES

    session = magics.session
    if session.simulator is None and not session.simulated:
        print("The simulator is not running (a key is set): %kling simulator start, then again.")
        return
    simulator = session.simulator or session.start_simulator()
    print("Sample images of the simulator, for -i, --element, --start or --end:")
    for name in SAMPLE_NAMES:
        print(f"  {name:<17}{simulator.sample_url(name)}")
    print("They exist only while this simulator runs; Oxen.ai cannot fetch them.")


def _gallery(magics: KlingMagics, args: list[str]) -> Any:
    parser = _parser("%kling gallery")
    parser.add_argument("--last", type=int, metavar="N", help="the latest N results")
    parser.add_argument("--model", metavar="M", help="only this model (id or alias)")
    parser.add_argument("--search", metavar="TEXT", help="only prompts containing TEXT")
    options = parser.parse_args(args)
    from kling_nb.widgets.gallery import gallery

    try:
        return gallery(
            magics.outputs_dir, last=options.last, model=options.model, search=options.search
        )
    except ValueError as exc:  # an unknown model, or --last 0
        raise UsageError(str(exc)) from None


def _parser(prog: str) -> Any:
    """An argument parser whose mistakes are ``UsageError`` lines, as the magic's own."""
    from IPython.core.magic_arguments import MagicArgumentParser

    # IPython's magic_arguments module has no type hints.
    return MagicArgumentParser(prog=prog, add_help=False)  # type: ignore[no-untyped-call]


def _client(magics: KlingMagics, args: list[str]) -> Any:
    _expect("client", args)
    # The session's client for the current key (or the simulator), for the Python API:
    # client = %kling client; client.submit_many(requests, max_in_flight=2)
    return magics.session.client()


def _form(magics: KlingMagics, args: list[str]) -> Any:
    _expect("form", args)
    from kling_nb.widgets import RequestForm

    # No client yet: the form asks the session for one on Submit, so showing it starts nothing.
    return RequestForm()


_USAGE = {
    "models": "%kling models [--remote]",
    "jobs": "%kling jobs",
    "cancel": "%kling cancel ID|all",
    "resume": "%kling resume",
    "history": "%kling history [--remote]",
    "gallery": "%kling gallery [--last N] [--model M] [--search TEXT]",
    "samples": "%kling samples",
    "config": "%kling config",
    "simulator": "%kling simulator start [OPTIONS of kling-nb simulator]|stop|status",
    "form": "%kling form",
    "client": "%kling client",
    "help": "%kling help",
}
_COMMANDS: dict[str, Callable[[KlingMagics, list[str]], object]] = {
    "models": _models,
    "jobs": _jobs,
    "cancel": _cancel,
    "resume": _resume,
    "history": _history,
    "gallery": _gallery,
    "samples": _samples,
    "config": _config,
    "simulator": _simulator,
    "form": _form,
    "client": _client,
    "help": _help,
}
