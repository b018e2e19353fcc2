"""Serving the simulator with uvicorn: in a background thread (``run``) or in the foreground."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any, TypeVar

import uvicorn

from kling_nb.simulator.app import build_app
from kling_nb.simulator.faults import Faults
from kling_nb.simulator.results import TruncatedDownload
from kling_nb.simulator.samples import SAMPLE_NAMES
from kling_nb.simulator.state import Config, SimState

__all__ = ["Simulator", "run"]

T = TypeVar("T")
_START_TIMEOUT = 10.0


class _QuietTruncation(logging.Filter):
    """Drop uvicorn's traceback for a download cut short on purpose (``download_truncate``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, TruncatedDownload)


_uvicorn_error = logging.getLogger("uvicorn.error")
if not any(isinstance(f, _QuietTruncation) for f in _uvicorn_error.filters):
    _uvicorn_error.addFilter(_QuietTruncation())


class _Server(uvicorn.Server):
    """uvicorn's server, which also ends open event streams when asked to exit."""

    def __init__(self, config: uvicorn.Config, state: SimState) -> None:
        super().__init__(config)
        self.state = state
        self.loop: asyncio.AbstractEventLoop | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        await super().startup(sockets=sockets)

    def request_exit(self) -> None:
        """Stop from any thread: end the event streams (they never end by themselves), then exit."""
        if self.loop is not None and not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop has just stopped
                self.loop.call_soon_threadsafe(self.state.close_streams)
        self.should_exit = True

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # A first SIGINT/SIGTERM stops cleanly (and is not re-raised afterwards, so the CLI
        # exits 0); a second SIGINT forces the exit, as in uvicorn.
        if self.should_exit:
            self.force_exit = True
            return
        self.request_exit()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and without
    # it every response body waits ~40 ms for the client's delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(2048)  # connect at once: the CLI announces its URL before uvicorn runs
    except OSError:
        sock.close()
        raise
    return sock


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class Simulator:
    """A running local Oxen.ai API. Use :func:`run` to make one.

    >>> with run(generation_seconds=0.2) as sim:  # doctest: +SKIP
    ...     sim.base_url
    'http://127.0.0.1:54321'
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        generation_seconds: float = 0.2,
        keepalive_seconds: float = 15.0,
        api_key: str | None = None,
        video_height: int = 180,
        max_body_bytes: int = 1_000_000,
        reuse_videos: bool = False,
        **faults: Any,
    ) -> None:
        initial = Faults()
        initial.update(faults)
        self.config = Config(
            generation_seconds=generation_seconds,
            keepalive_seconds=keepalive_seconds,
            api_key=api_key,
            video_height=video_height,
            max_body_bytes=max_body_bytes,
            reuse_videos=reuse_videos,
        )
        self._state = SimState(self.config, initial)
        self._sock = _bind(host, port)
        bound_port = self._sock.getsockname()[1]
        self.host = host
        self.port: int = bound_port
        self.config.base_url = f"http://{_url_host(host)}:{bound_port}"
        self._server = _Server(
            uvicorn.Config(
                build_app(self._state),
                log_config=None,
                log_level="warning",
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=2,
                timeout_keep_alive=30,
            ),
            self._state,
        )
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT``: give it to ``Client(base_url=...)`` or ``KLING_NB_BASE_URL``."""
        return self.config.base_url

    # ---- lifecycle ----------------------------------------------------------------------
    def serve_forever(self) -> None:
        """Serve in this thread until SIGINT/SIGTERM (the CLI)."""
        self._server.run(sockets=[self._sock])

    def start(self) -> Simulator:
        """Serve in a daemon thread; return once it accepts connections."""
        if self._thread is not None:
            return self
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            name=f"kling-nb-simulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.005)
        if not self._server.started:
            self.stop()
            raise RuntimeError(f"the simulator did not start on {self.base_url}")
        return self

    def stop(self) -> None:
        """Close the event streams, stop serving and wait for the thread."""
        self._server.request_exit()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """True while the server thread serves."""
        return self._thread is not None and self._thread.is_alive() and not self._server.should_exit

    def __repr__(self) -> str:
        return f"<Simulator {self.base_url} {'running' if self.running else 'stopped'}>"

    # ---- control from other threads -------------------------------------------------------
    def _on_loop(self, fn: Callable[[], T]) -> T:
        loop = self._server.loop
        if loop is None or self._thread is None or not self._thread.is_alive():
            return fn()  # not serving: nothing else touches the state

        async def call() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), loop).result(timeout=10)

    def stats(self) -> dict[str, Any]:
        """Request counters; see :class:`kling_nb.simulator.state.Stats`."""
        return self._on_loop(lambda: self._state.stats.as_json(len(self._state.subscribers)))

    def set_faults(self, **faults: Any) -> None:
        """Change fault settings (only those named); see :mod:`kling_nb.simulator.faults`."""
        self._on_loop(lambda: self._state.faults.update(faults))

    def faults(self) -> dict[str, Any]:
        """The current fault settings as JSON."""
        return self._on_loop(self._state.faults.as_json)

    def reset(self) -> None:
        """As good as a restart: forget every generation and counter, close open event streams,
        and put the faults back to those given at start."""
        self._on_loop(self._state.reset)

    def sample_url(self, name: str) -> str:
        """URL of a sample reference image: one of :data:`SAMPLE_NAMES`."""
        if name not in SAMPLE_NAMES:
            raise ValueError(f"unknown sample {name!r}; choose one of {', '.join(SAMPLE_NAMES)}")
        return f"{self.base_url}/_simulator/samples/{name}.png"


def run(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    generation_seconds: float = 0.2,
    keepalive_seconds: float = 15.0,
    api_key: str | None = None,
    video_height: int = 180,
    max_body_bytes: int = 1_000_000,
    reuse_videos: bool = False,
    **faults: Any,
) -> Simulator:
    """Start a simulator in a background thread; use it as a context manager to stop it.

    ``faults`` are any of :meth:`kling_nb.simulator.faults.Faults.names`, e.g.
    ``run(fail_next=1, result_url_ttl_seconds=5)``::

        with run(generation_seconds=0.2) as sim:
            client = Client(api_key="anything", base_url=sim.base_url)
    """
    return Simulator(
        host=host,
        port=port,
        generation_seconds=generation_seconds,
        keepalive_seconds=keepalive_seconds,
        api_key=api_key,
        video_height=video_height,
        max_body_bytes=max_body_bytes,
        reuse_videos=reuse_videos,
        **faults,
    ).start()
