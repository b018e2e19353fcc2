"""One daemon thread running one asyncio loop: where all of a client's network I/O happens.

Tasks on the kernel's own loop freeze while a cell runs; a thread of our own keeps delivering
updates. Public sync calls wait on a ``concurrent.futures.Future``; async callers wrap the same
future with ``asyncio.wrap_future``. Background tasks are kept in a set until they finish, and
``close`` cancels and awaits them before stopping the loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from kling_nb.errors import redact

__all__ = ["Runtime", "wait_event"]

T = TypeVar("T")
log = logging.getLogger("kling_nb")


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait for ``event`` at most ``timeout`` seconds; whether it was set.

    Not ``asyncio.wait_for``: before Python 3.12 it can swallow a cancellation that lands just as
    the wait ends, which would keep a cancelled background loop running for ever.
    """
    if event.is_set():
        return True
    waiter = asyncio.ensure_future(event.wait())
    try:
        done, _ = await asyncio.wait({waiter}, timeout=timeout)
    finally:
        waiter.cancel()
    return bool(done)


class Runtime:
    """A background event loop with owned tasks.

    >>> rt = Runtime()
    >>> async def two() -> int: return 2
    >>> rt.run(two())
    2
    >>> rt.close()
    """

    def __init__(self, name: str = "kling-nb") -> None:
        self.loop = asyncio.new_event_loop()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        ready = threading.Event()
        self._thread = threading.Thread(target=self._main, args=(ready,), name=name, daemon=True)
        self._thread.start()
        ready.wait()

    def _main(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(ready.set)
        try:
            self.loop.run_forever()
        finally:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    @property
    def closed(self) -> bool:
        """Whether ``close`` has been called."""
        return self._closed

    def in_loop_thread(self) -> bool:
        """Whether the caller runs on this runtime's thread."""
        return threading.current_thread() is self._thread

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the loop; its result arrives in the returned future. Like a
        spawned task it is cancelled by ``close`` (a caller that stopped waiting, say after
        an interrupt, leaves nothing running behind)."""
        if self._closed:
            coro.close()
            raise RuntimeError("This kling_nb client is closed; create a new Client().")
        return asyncio.run_coroutine_threadsafe(self._owned(coro), self.loop)

    async def _owned(self, coro: Coroutine[Any, Any, T]) -> T:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            return await coro
        finally:
            if task is not None:
                self._tasks.discard(task)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and block until it is done (never call from the loop thread)."""
        if self.in_loop_thread():
            coro.close()
            raise RuntimeError("Blocking call made from the kling_nb runtime thread.")
        return self.submit(coro).result(timeout)

    def spawn(
        self,
        coro: Coroutine[Any, Any, Any],
        on_error: Callable[[BaseException], None] | None = None,
    ) -> asyncio.Task[Any]:
        """Start a background task (call on the loop thread); keep it until it ends.

        An exception escaping the task goes to ``on_error`` (or the log), never into the void.
        """
        task = self.loop.create_task(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if t.cancelled():
                return
            exc = t.exception()
            if exc is None:
                return
            if on_error is not None:
                try:
                    on_error(exc)
                    return
                except Exception as handler_exc:
                    log.error("kling_nb: error handler failed: %s", redact(repr(handler_exc)))
            log.error("kling_nb: background task failed: %s", redact(repr(exc)))

        task.add_done_callback(done)
        return task

    def call_soon(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` on the loop thread soon (thread-safe), after those given before it."""
        if not self._closed:
            self.loop.call_soon_threadsafe(fn)

    async def stop_tasks(self, timeout: float) -> None:
        """Cancel every background task but the caller's and wait for them (at most
        ``timeout`` seconds). Before a connection pool closes: a request still connecting when
        its pool closes would finish on a connection the pool no longer knows, and nothing
        would ever close that socket. Tasks started while others stop are stopped too."""
        current = asyncio.current_task()
        deadline = self.loop.time() + timeout
        while tasks := [t for t in self._tasks if not t.done() and t is not current]:
            left = deadline - self.loop.time()
            if left <= 0:
                return
            for t in tasks:
                t.cancel()
            await asyncio.wait(tasks, timeout=left)

    def close(self, timeout: float = 5.0) -> None:
        """Cancel every background task, wait for them, stop the loop and join the thread."""
        if self._closed:
            return
        self._closed = True

        if self.in_loop_thread():
            raise RuntimeError("Client.close() called from the kling_nb runtime thread.")
        try:
            stopping = asyncio.run_coroutine_threadsafe(self.stop_tasks(timeout), self.loop)
            stopping.result(timeout + 1)
        except (concurrent.futures.TimeoutError, RuntimeError):
            log.warning("kling_nb: background tasks did not stop in time")
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
