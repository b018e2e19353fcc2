"""``%%kling`` (a prompt in, a live job out) and the ``%kling`` commands.

``%load_ext kling_nb`` only registers :class:`KlingMagics`: no output, network or thread. The first
submission creates the session's client (see :mod:`kling_nb.session`). A cell is parsed once, into a
:class:`~kling_nb.requests.VideoRequest`; every mistake is a one-line ``UsageError``, and then
nothing is sent.
"""

from __future__ import annotations

import argparse
import keyword
import shlex
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from IPython.core import magic_arguments as _ma
from IPython.core.error import UsageError
from IPython.core.magic import Magics, magics_class
from IPython.core.magic import line_cell_magic as _line_cell_magic

from kling_nb.body import parse_body
from kling_nb.cell import build_request, dry_run_report, num_generations
from kling_nb.commands import run_command
from kling_nb.session import KEY_HELP, KlingSettings, Session

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

    from kling_nb.jobs import Job
    from kling_nb.requests import VideoRequest

__all__ = ["KlingMagics", "load_ipython_extension", "unload_ipython_extension"]

_F = TypeVar("_F", bound=Callable[..., Any])


class _Decorator(Protocol):
    def __call__(self, func: _F, /) -> _F: ...


# IPython's magic_arguments is untyped: typed views of it keep this module strict.
magic_arguments = cast("Callable[[], _Decorator]", _ma.magic_arguments)
argument = cast("Callable[..., _Decorator]", _ma.argument)
kwds = cast("Callable[..., _Decorator]", _ma.kwds)
line_cell_magic = cast("_Decorator", _line_cell_magic)
ASPECTS = ("16:9", "9:16", "1:1")
# argparse %-formats this and IPython puts a "%" before it: the first line reads %%kling.
_USAGE = """%%kling [-m MODEL] [-d SECONDS] [-a 16:9|9:16|1:1] [--audio] [-i URL]...
          [--element FRONT[,REF...]]... [--start URL] [--end URL] [--negative TEXT]
          [-n 1..4] [-o NAME] [--wait] [--force] [--dry-run] [--sync]
  %%kling [help | models [--remote] | jobs | cancel ID|all | resume | history [--remote]
          | gallery [--last N] [--model M] [--search TEXT] | config
          | simulator start [OPTIONS]|stop|status | samples | form]"""
_DURATION_HELP = "Seconds, for a single prompt (with [Ns] shots, each has its own)."
_ASPECT = "Aspect ratio (default: KlingMagics.aspect_ratio, else the model's)."
_IMAGE_HELP = "A reference image, @Image1, @Image2... in the prompt (repeatable)."
_ELEMENT = "An element, @Element1... in the prompt: a front view URL, then other angles."


@magics_class
class KlingMagics(Magics, KlingSettings):
    """The ``%%kling`` cell magic and the ``%kling`` line commands, with their settings."""

    def __init__(self, shell: InteractiveShell | None = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self.session = Session(self)

    @magic_arguments()
    @kwds(usage=_USAGE)
    @argument("-m", "--model", help="Model id or alias (default: KlingMagics.default_model).")
    @argument("-d", "--duration", type=int, metavar="SECONDS", help=_DURATION_HELP)
    @argument("-a", "--aspect-ratio", choices=ASPECTS, metavar="|".join(ASPECTS), help=_ASPECT)
    @argument("--audio", action="store_true", help="Generate native audio.")
    @argument("-i", "--image", action="append", default=[], metavar="URL", help=_IMAGE_HELP)
    @argument("--element", action="append", default=[], metavar="FRONT[,REF...]", help=_ELEMENT)
    @argument("--start", metavar="URL", help="The first frame.")
    @argument("--end", metavar="URL", help="The last frame (needs --start).")
    @argument("--negative", metavar="TEXT", help="What to avoid.")
    @argument("-n", "--num-generations", default="1", metavar="1..4", help="Takes (1 to 4).")
    @argument("-o", "--output", metavar="NAME", help="Also store the job in this variable.")
    @argument("--wait", action="store_true", help="Block until the job ends.")
    @argument("--force", action="store_true", help="A new take, even if this request has a result.")
    @argument("--dry-run", action="store_true", help="Show request, cost, exports; send nothing.")
    @argument("--sync", action="store_true", help="Use the synchronous endpoint (blocks).")
    @line_cell_magic
    def kling(self, line: str, cell: str | None = None) -> object:
        """Generate a Kling video from the cell body, or run a %kling command.

        The body is the prompt; a line starting with [Ns] starts a shot of N seconds, lines
        after it continue that shot. {name} is a variable of yours, {{ and }} are braces.
        The cell returns the job at once (also in _kling). %kling help lists the commands:
        models, jobs, cancel, resume, history, gallery, config, simulator, samples, form.
        """
        if cell is None:
            return run_command(self, line)
        return self._cell(line, cell)

    # -- %%kling ----------------------------------------------------------------------------
    def _cell(self, line: str, cell: str) -> Job | None:
        options = _parse_options(self.kling, line)
        num = num_generations(options.num_generations)
        if options.sync and num != 1:
            raise UsageError(
                "--sync makes one generation: drop -n, or drop --sync to use the queue."
            )
        if options.output is not None and not _is_name(options.output):
            raise UsageError(f"-o takes a Python variable name, not {options.output!r}.")
        body = parse_body(cell, self.shell.user_ns if self.shell else {})
        request = build_request(options, body, self)
        if options.dry_run:
            print(dry_run_report(request, num, sync=options.sync))
            if self.session.simulated:
                print(f"\n{NO_KEY_DRY_RUN}")
            return None
        return self._submit(request, num, options)

    def _submit(self, request: VideoRequest, num: int, options: argparse.Namespace) -> Job | None:
        from kling_nb.errors import BudgetExceededError, KlingError, redact

        # --sync too: an interrupted --sync call keeps running, and a re-run must not pay again.
        running = None if options.force else self._running(request, num)
        if running is not None:
            self._keep(running, options.output)
            print(
                f"This unchanged request is still running as job {running.id}: here it is again, "
                "and nothing was sent. Run with --force for a new take."
            )
            if options.wait:
                wait_for(running)
            return running
        client = self.session.client()  # may start the simulator, which says so
        known = len(client.jobs)
        try:
            if options.sync:
                job = client.generate(request, force=options.force)
            else:
                job = client.submit(request, num_generations=num, force=options.force)
        except KeyboardInterrupt:
            # generate() blocks; its job is already on the client's list, and keeps running.
            started = client.jobs[known:]
            if not started:
                print("Interrupted before anything was sent.")
                return None
            job = started[-1]
            self._keep(job, options.output)
            print(_interrupted(job))
            return job
        except KlingError as exc:
            hint = ""
            if isinstance(exc, BudgetExceededError):
                hint = " (%config KlingMagics.budget_usd = ... sets this session's budget)"
            raise UsageError(redact(f"{type(exc).__name__}: {exc}{hint}")) from None
        self._keep(job, options.output)
        notes = []
        if job.replayed:
            notes.append(
                "Replayed the recorded result of this unchanged request: nothing was sent, no "
                "cost. Run with --force for a new take."
            )
        if job.replayed_takes:
            notes.append(partial_note(job))
        if notes:
            print("\n".join(notes))
        if job.simulated:
            self.session.say_simulated()
        if options.wait and not job.done:
            wait_for(job)
        return job

    def _running(self, request: VideoRequest, num: int) -> Job | None:
        """This session's unfinished job for the same request (re-running a cell must not pay
        twice while the first take is still being made)."""
        simulated = self.session.simulated
        for job in reversed(self.session.jobs):
            same = job.request.request_hash == request.request_hash
            if same and job.num_generations == num and job.simulated == simulated and not job.done:
                return job
        return None

    def _keep(self, job: Job, name: str | None) -> None:
        """Remember ``job`` in the session, in ``_kling``, and in ``name`` if given."""
        self.session.remember(job)
        if self.shell is not None:
            self.shell.user_ns["_kling"] = job
            if name:
                self.shell.user_ns[name] = job


def partial_note(job: Job) -> str:
    """What a re-run of a partly succeeded request did: "1 take replayed, 1 sent: $1.12"."""
    from kling_nb.requests import format_cost

    replayed, sent = job.replayed_takes, job.num_generations - job.replayed_takes
    takes = "take" if replayed == 1 else "takes"
    return (
        f"{replayed} {takes} replayed, {sent} sent: {format_cost(job.estimated_cost)} "
        "(the recorded takes of this request cost nothing again; --force sends all)."
    )


def wait_for(job: Job) -> None:
    """Block until ``job`` ends; an interrupt stops the waiting, never the job. In a terminal
    one progress line (status, elapsed, estimate) is rewritten meanwhile."""
    import sys

    from kling_nb.progress import wait_with_progress

    try:
        if sys.stdout.isatty():
            wait_with_progress(job, sys.stdout)
        else:
            job.wait()
    except KeyboardInterrupt:
        print(_interrupted(job))


def _interrupted(job: Job) -> str:
    return (
        f"Stopped waiting; job {job.id} continues in the background (it is in _kling). "
        f"Cancel it with %kling cancel {job.id} (or _kling.cancel())."
    )


def _parse_options(magic: Any, line: str) -> argparse.Namespace:
    """The cell's options, quoted the shell's way (IPython's own split keeps the quotes)."""
    try:
        argv = shlex.split(line)
    except ValueError as exc:  # unbalanced quotes
        raise UsageError(f"Could not read the %%kling options: {exc}.") from None
    parser = cast("argparse.ArgumentParser", magic.parser)
    try:
        options = parser.parse_args(argv)  # MagicArgumentParser: UsageError, never SystemExit
    except UsageError as exc:  # one line, whatever characters the options held
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(exc))
        raise UsageError(text) from None
    # Python < 3.12.7 argparse drops a value of exactly "--" (``--negative=--``), leaving [];
    # put it back, so that every text the exports write reads back as itself.
    given = {t[:-3] for t in argv if t.startswith("-") and t.endswith("=--")}
    for action in parser._actions:
        if not given.intersection(action.option_strings):
            continue
        value = getattr(options, action.dest)
        if value == []:
            setattr(options, action.dest, "--")
        elif isinstance(value, list):
            setattr(options, action.dest, ["--" if v == [] else v for v in value])
    return options


NO_KEY_DRY_RUN = (
    "No OXEN_API_KEY is set: running this cell would use the bundled simulator "
    f"(simulated results); {KEY_HELP}."
)


def _is_name(text: str) -> bool:
    return text.isidentifier() and not keyword.iskeyword(text)


def load_ipython_extension(ipython: InteractiveShell) -> None:
    """Register the magics, and nothing else (no output, network or thread)."""
    magics = KlingMagics(ipython)
    ipython.register_magics(magics)
    magics.session.activate()


def unload_ipython_extension(ipython: InteractiveShell) -> None:
    """Close the session (its clients and simulator) and remove the magics."""
    magics = ipython.magics_manager.registry.pop("KlingMagics", None)
    if isinstance(magics, KlingMagics):
        magics.session.close()
        configurables = cast("list[object]", ipython.configurables)
        if magics in configurables:
            configurables.remove(magics)
    for kind in ("line", "cell"):
        ipython.magics_manager.magics[kind].pop("kling", None)
