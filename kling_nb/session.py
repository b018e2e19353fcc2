"""One IPython shell's kling_nb state: its settings, its default client, its simulator and its jobs.

Where requests go is decided at each submission, from the environment at that moment:

- ``OXEN_API_KEY`` set: a real :class:`~kling_nb.client.Client` (``KLING_NB_BASE_URL`` overrides
  the host, which is how the tests point a "real" session at a local simulator);
- no key, or after ``%kling simulator start``: the bundled simulator, started on first use and kept
  open for the session, with a throwaway non-secret key and ``simulated=True`` so that every view
  says the results are simulated. Its results go to ``<outputs_dir>/simulated`` so that a simulated
  video is never replayed as a real one once a key is set.

Nothing here starts a thread, opens a socket or prints until the first submission asks for a client.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from traitlets import Enum, Float, TraitError, Unicode, default, validate
from traitlets.config import Configurable

if TYPE_CHECKING:
    from kling_nb.client import Client
    from kling_nb.jobs import Job
    from kling_nb.simulator import Simulator

from kling_nb import env
from kling_nb.active import current_session, set_current
from kling_nb.env import BASE_URL_ENV, SIMULATOR_SECONDS_ENV

__all__ = ["KEY_HELP", "SIMULATED_NOTE", "KlingSettings", "Session", "current_session"]

# Sent to the local simulator only, which accepts any key. Not a secret, but random: every
# client's key is redacted from all text, starts of it included, and no word may look like it.
SIMULATOR_KEY = secrets.token_urlsafe(24)

KEY_HELP = "set a key with %env OXEN_API_KEY=... (or os.environ in Python)"
SIMULATED_NOTE = f"Simulated: no OXEN_API_KEY is set, so nothing reached Oxen.ai; {KEY_HELP}."
NO_SIMULATOR = (
    "No OXEN_API_KEY is set and the bundled simulator is not installed: "
    f"{KEY_HELP}, or pip install 'kling-nb[simulator]' to try kling_nb without a key."
)


class KlingSettings(Configurable):
    """The magics' settings, settable with ``%config KlingMagics.<name> = value``."""

    default_model = Unicode(
        "o3-pro", help="Model id or alias used when a %%kling cell has no -m."
    ).tag(config=True)
    aspect_ratio = Enum(
        ["16:9", "9:16", "1:1"],
        default_value=None,
        allow_none=True,
        help="Aspect ratio used when a cell has no -a and the model takes one (None: the model's).",
    ).tag(config=True)
    outputs_dir = Unicode(
        help="Folder for videos and the ledger (default: $KLING_NB_OUTPUTS or ./kling_outputs)."
    ).tag(config=True)
    budget_usd = Float(
        None, allow_none=True, help="Stop submitting once estimated spend would pass this (USD)."
    ).tag(config=True)
    deadline_seconds = Float(
        1800.0, help="Give up on a job that has not finished after this many seconds."
    ).tag(config=True)
    simulator_seconds = Float(
        help="How long each generation of the bundled simulator takes (default: "
        "$KLING_NB_SIMULATOR_SECONDS or 4, so that the live view can be seen). Applies when the "
        "simulator starts."
    ).tag(config=True)

    @default("simulator_seconds")
    def _default_simulator_seconds(self) -> float:
        return float(os.environ.get(SIMULATOR_SECONDS_ENV) or 4.0)

    @default("outputs_dir")
    def _default_outputs_dir(self) -> str:
        return str(env.outputs_dir())

    @validate("default_model")
    def _check_model(self, proposal: dict[str, Any]) -> str:
        from kling_nb.catalog import get_model

        try:
            get_model(proposal["value"])
        except ValueError as exc:
            raise TraitError(str(exc)) from None
        return str(proposal["value"])

    @validate("deadline_seconds")
    def _check_deadline(self, proposal: dict[str, Any]) -> float:
        if proposal["value"] <= 0:
            raise TraitError("deadline_seconds must be a positive number of seconds.")
        return float(proposal["value"])

    @validate("simulator_seconds")
    def _check_simulator_seconds(self, proposal: dict[str, Any]) -> float:
        if proposal["value"] < 0:
            raise TraitError("simulator_seconds must be 0 or more seconds.")
        return float(proposal["value"])


def _usable_folder(folder: Path) -> None:
    """Create ``folder`` if needed; a file in the way, or no permission, is a one-line
    ``UsageError`` saying how to choose another (videos and the ledger go there)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        problem = None if os.access(folder, os.W_OK | os.X_OK) else "it is not writable"
    except FileExistsError:
        problem = "it is a file"
    except NotADirectoryError:
        files = [p for p in folder.parents if p.is_file()]
        problem = f"{files[-1]} is a file" if files else "a part of its path is a file"
    except OSError as exc:
        problem = f"it cannot be created ({exc.strerror or exc})"
    if problem is not None:
        raise UsageError(
            f"Cannot save videos in the outputs folder {folder}: {problem}. Nothing was sent; "
            "choose a folder you can write to with %config KlingMagics.outputs_dir = '...'."
        )


@dataclass(frozen=True)
class _Target:
    """Client's arguments; a change in any of them means a new client (the budget is applied to
    whichever client is current, see ``Session._apply_budget``)."""

    api_key: str = dataclasses.field(repr=False)  # shown by %xmode Verbose, say
    base_url: str | None
    outputs_dir: Path
    deadline_seconds: float
    simulated: bool


class Session:
    """The state behind the magics of one shell.

    ``out`` receives the one-line notices (simulator started, switched to Oxen.ai); the magics
    pass ``print`` so they land in the running cell.
    """

    def __init__(self, settings: KlingSettings, out: Callable[[str], None] = print) -> None:
        self.settings = settings
        self._jobs: list[Job] = []
        self._out = out
        self._clients: dict[_Target, Client] = {}
        self._current: _Target | None = None
        self._simulator: Simulator | None = None
        self._simulator_stack = contextlib.ExitStack()
        self._use_simulator = False
        self._atexit = False
        self._said_simulated = False

    def activate(self) -> None:
        """Make this the session ``current_session()`` returns (``%load_ext kling_nb`` does)."""
        set_current(self)

    def say_simulated(self) -> None:
        """Print that results are simulated, once per session (each view's badge says it too)."""
        if not self._said_simulated:
            self._said_simulated = True
            self._out(SIMULATED_NOTE)

    # -- where requests go ------------------------------------------------------------------
    @staticmethod
    def api_key() -> str | None:
        """The key from the environment, or ``None`` (an empty value counts as unset)."""
        return env.api_key()

    @property
    def simulated(self) -> bool:
        """Whether the next submission goes to the bundled simulator."""
        return self._use_simulator or self.api_key() is None

    @property
    def simulator(self) -> Simulator | None:
        """The running simulator, if this session started one."""
        return self._simulator

    def client(self) -> Client:
        """The client for the current settings and environment, created (and maybe the simulator
        started) on first use; an outputs folder that cannot be used, or a key that cannot be
        sent, is a ``UsageError`` first."""
        _usable_folder(Path(self.settings.outputs_dir).expanduser())  # before any simulator
        target = self._target()
        _usable_folder(target.outputs_dir)
        client = self._clients.get(target)
        if client is None:
            from kling_nb.client import Client
            from kling_nb.errors import KlingError

            try:
                client = Client(**dataclasses.asdict(target))
            except KlingError as exc:  # a key that cannot be sent: one line, no frames to show
                raise UsageError(exc.message) from None
            self._clients[target] = client
            self._register_atexit()
        self._apply_budget(client)
        if self._current is not None and self._current.simulated and not target.simulated:
            self._out(f"kling_nb: OXEN_API_KEY is set: requests now go to {client.base_url}.")
        self._current = target
        return client

    def _apply_budget(self, client: Client) -> None:
        """One budget for the session: what its other clients (real, or simulated) spent counts."""
        budget = self.settings.budget_usd
        if budget is None:
            client.budget_usd = None
            return
        others = self._clients.values()
        spent = sum(
            c.spent_usd for c in others if c is not client and c.simulated == client.simulated
        )
        client.budget_usd = budget - spent

    def _target(self) -> _Target:
        settings = self.settings
        outputs = Path(settings.outputs_dir).expanduser()
        key = self.api_key()
        if key is None or self._use_simulator:
            simulator = self.start_simulator()
            return _Target(
                SIMULATOR_KEY,
                simulator.base_url,
                outputs / "simulated",
                settings.deadline_seconds,
                simulated=True,
            )
        return _Target(
            key,
            os.environ.get(BASE_URL_ENV) or None,
            outputs,
            settings.deadline_seconds,
            simulated=False,
        )

    # -- the bundled simulator --------------------------------------------------------------
    def start_simulator(
        self, *, explicit: bool = False, options: dict[str, Any] | None = None
    ) -> Simulator:
        """Start the bundled simulator (once per session) and say so; ``explicit`` (from
        ``%kling simulator start``) also sends requests to it while a key is set. ``options`` are
        ``kling_nb.simulator.run``'s (generation seconds default to ``simulator_seconds``)."""
        if explicit:
            self._use_simulator = True
        if self._simulator is not None:
            return self._simulator
        settings = {"generation_seconds": self.settings.simulator_seconds, **(options or {})}
        try:
            from kling_nb.simulator import run

            simulator = self._simulator_stack.enter_context(run(**settings))
        except ImportError:
            raise UsageError(NO_SIMULATOR) from None
        self._simulator = simulator
        self._said_simulated = True  # the line below says it
        self._register_atexit()
        why = "as asked" if self.api_key() else "because no OXEN_API_KEY is set"
        then = (
            "Requests go to it until %kling simulator stop."
            if self.api_key()
            else f"To use Oxen.ai, {KEY_HELP}: the next submission goes there."
        )
        if not self.api_key() and os.environ.get(BASE_URL_ENV):
            then += f" ({BASE_URL_ENV} is used only with a key; any key will do for a simulator.)"
        self._out(
            f"kling_nb: started the bundled simulator at {simulator.base_url} {why}. Results are "
            f"simulated, not real Kling videos, and cost nothing. {then}"
        )
        return simulator

    def stop_simulator(self) -> bool:
        """Close the simulator and the clients that talk to it; ``False`` if none was running."""
        self._use_simulator = False
        if self._simulator is None:
            return False
        for target in [t for t in self._clients if t.simulated]:
            self._clients.pop(target).close()
        if self._current is not None and self._current.simulated:
            self._current = None
        self._simulator = None
        self._simulator_stack.close()
        self._simulator_stack = contextlib.ExitStack()
        return True

    @property
    def jobs(self) -> list[Job]:
        """This session's jobs, oldest first: from its cells, and from its clients (the form's
        submissions, resumed jobs)."""
        for client in self._clients.values():
            for job in client.jobs:
                self.remember(job)
        return list(self._jobs)

    def remember(self, job: Job) -> None:
        """Add ``job`` to this session's jobs (``%kling jobs``, ``%kling cancel all``)."""
        if all(job is not known for known in self._jobs):
            self._jobs.append(job)

    # -- lifecycle --------------------------------------------------------------------------
    def existing_clients(self) -> list[Client]:
        """The clients created so far (none until the first submission)."""
        return list(self._clients.values())

    def close(self) -> None:
        """Close every client and the simulator (``%unload_ext`` and interpreter exit)."""
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        self._current = None
        self.stop_simulator()
        if self._atexit:
            atexit.unregister(self.close)
            self._atexit = False
        set_current(None, unless=self)

    def _register_atexit(self) -> None:
        if not self._atexit:
            atexit.register(self.close)
            self._atexit = True
