"""One daemon thread running one asyncio loop: where all of a client's network I/O happens.

Tasks on the kernel's own loop freeze while a cell runs; a thread of our own keeps delivering
updates. Public sync calls wait on a ``concurrent.futures.Future``; async callers wrap the same
future with ``asyncio.wrap_future``. Background tasks are kept in a set until they finish, and
``close`` cancels and awaits them before stopping the loop.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import functools
import logging
import queue
import threading
import weakref
from collections.abc import Callable, Coroutine
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

from kling_nb.errors import redact

__all__ = ["DaemonExecutor", "Inbox", "Runtime", "run_in_thread", "wait_event"]

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


class Inbox:
    """Calls from other threads, run on one loop in the order posted. Calls posted while earlier
    ones still wait share one wake-up of the loop (a burst costs one, not one each). A call that
    raises is logged; the ones after it still run."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._calls: collections.deque[Callable[[], Any]] = collections.deque()
        self._scheduled = False

    def post(self, call: Callable[[], Any]) -> None:
        """Run ``call`` on the loop soon (any thread)."""
        self._calls.append(call)
        if not self._scheduled:
            self._scheduled = True
            try:
                self.loop.call_soon_threadsafe(self.drain)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                self._calls.clear()

    def drain(self) -> None:
        """Run every call posted so far (loop thread)."""
        self._scheduled = False  # first: a call posted meanwhile is run here or wakes the loop
        calls = self._calls
        while calls:
            call = calls.popleft()
            try:
                call()
            except Exception as exc:
                log.error("kling_nb: a scheduled call failed: %s", redact(repr(exc)))


class DaemonExecutor(Executor):
    """``ThreadPoolExecutor``'s job on daemon threads, which the interpreter does not wait for
    at exit (it joins a ``ThreadPoolExecutor``'s threads before any ``atexit`` handler runs,
    so a request waiting on the network would hold a finished script or kernel for up to its
    read timeout). Threads start as work arrives, up to ``max_workers``, and are reused."""

    def __init__(self, max_workers: int, name: str) -> None:
        self._max = max_workers
        self._name = name
        self._work: queue.SimpleQueue[_WorkItem | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._shutdown = False

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            future: Future[T] = Future()
            self._work.put((future, fn, args, kwargs))
            if not self._idle.acquire(blocking=False) and len(self._threads) < self._max:
                thread = threading.Thread(
                    target=self._run, name=f"{self._name}_{len(self._threads)}", daemon=True
                )
                thread.start()
                self._threads.append(thread)
        return future

    def _run(self) -> None:
        while True:
            item = self._work.get()
            if item is None:
                return
            future, fn, args, kwargs = item
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            del item, future, fn, args, kwargs
            self._idle.release()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shutdown = True
            threads = list(self._threads)
        if cancel_futures:
            while True:
                try:
                    item = self._work.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    item[0].cancel()
        for _ in threads:
            self._work.put(None)
        if wait:
            for thread in threads:
                thread.join()


_WorkItem = tuple["Future[Any]", Callable[..., Any], tuple[Any, ...], dict[str, Any]]


_INBOXES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Inbox] = weakref.WeakKeyDictionary()


async def run_in_thread(executor: Executor, fn: Callable[..., T], *args: Any) -> T:
    """``loop.run_in_executor``, with the result handed back through the loop's ``Inbox``: a
    burst of calls ending together wakes the loop once, and no future is chained per call."""
    loop = asyncio.get_running_loop()
    inbox = _INBOXES.get(loop)
    if inbox is None:
        inbox = _INBOXES[loop] = Inbox(loop)
    future: asyncio.Future[T] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if future.done():  # the caller was cancelled meanwhile
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def work() -> None:
        try:
            result = fn(*args)
        except BaseException as exc:
            inbox.post(functools.partial(settle, False, exc))
        else:
            inbox.post(functools.partial(settle, True, result))

    executor.submit(work)
    return await future


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
        self._inbox = Inbox(self.loop)
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
        """Run ``fn`` on the loop thread soon (thread-safe), after those given before it.

        Calls made while earlier ones still wait share one wake-up of the loop (a burst of
        submissions costs one, not one each).
        """
        if not self._closed:
            self._inbox.post(fn)

    def close(self, timeout: float = 5.0) -> None:
        """Cancel every background task, wait for them, stop the loop and join the thread."""
        if self._closed:
            return
        self._closed = True

        async def shutdown() -> None:
            tasks = [t for t in self._tasks if not t.done()]
            for t in tasks:
                t.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=timeout)

        if self.in_loop_thread():
            raise RuntimeError("Client.close() called from the kling_nb runtime thread.")
        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(timeout + 1)
        except (concurrent.futures.TimeoutError, RuntimeError):
            log.warning("kling_nb: background tasks did not stop in time")
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
