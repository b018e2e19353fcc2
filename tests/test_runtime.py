"""The background loop thread: run, spawn, errors at the task boundary, close."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from kling_nb.runtime import Runtime, wait_event


def test_run_returns_the_result_from_the_loop_thread() -> None:
    rt = Runtime()
    try:

        async def where() -> str:
            return threading.current_thread().name

        assert rt.run(where()) == "kling-nb"
        assert not rt.in_loop_thread()
    finally:
        rt.close()


def test_a_failing_task_reaches_its_handler(caplog: pytest.LogCaptureFixture) -> None:
    rt = Runtime()
    caught: list[BaseException] = []
    try:

        async def boom() -> None:
            raise ValueError("background failure")

        async def start() -> None:
            rt.spawn(boom(), on_error=caught.append)
            rt.spawn(boom())
            await asyncio.sleep(0.05)

        with caplog.at_level(logging.ERROR, logger="kling_nb"):
            rt.run(start())
        assert [str(e) for e in caught] == ["background failure"]
        assert "background failure" in caplog.text
    finally:
        rt.close()


def test_close_cancels_background_tasks_and_joins_the_thread() -> None:
    rt = Runtime()
    cancelled = threading.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            cancelled.set()

    async def start() -> None:
        rt.spawn(forever())

    rt.run(start())
    rt.close()
    rt.close()
    assert cancelled.is_set()
    assert rt.closed
    assert not any(t.name == "kling-nb" and t.is_alive() for t in [rt._thread])

    async def late() -> None:
        return None

    with pytest.raises(RuntimeError, match="closed"):
        rt.submit(late())


def test_blocking_from_the_loop_thread_is_refused() -> None:
    rt = Runtime()
    try:

        async def inner() -> None:
            return None

        async def outer() -> str:
            try:
                rt.run(inner())
            except RuntimeError as exc:
                return str(exc)
            return "no error"

        assert "runtime thread" in rt.run(outer())
    finally:
        rt.close()


def test_wait_event_times_out_sees_the_event_and_passes_cancellation_on() -> None:
    async def main() -> tuple[bool, bool, bool]:
        event = asyncio.Event()
        timed_out = await wait_event(event, 0.01)
        asyncio.get_running_loop().call_later(0.01, event.set)
        seen = await wait_event(event, 5)
        event.clear()
        task = asyncio.create_task(wait_event(event, 5))
        await asyncio.sleep(0.01)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return timed_out, seen, True
        return timed_out, seen, False

    assert asyncio.run(main()) == (False, True, True)


def test_call_soon_runs_every_call_in_order_from_any_thread(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rt = Runtime()
    seen: list[tuple[str, int]] = []
    threads_seen: set[str] = set()

    def note(source: str, i: int) -> None:
        threads_seen.add(threading.current_thread().name)
        if i == 3:
            raise ValueError("one bad call")
        seen.append((source, i))

    def burst(source: str) -> None:
        for i in range(500):
            rt.call_soon(lambda i=i: note(source, i))

    try:
        others = [threading.Thread(target=burst, args=(f"t{n}",)) for n in range(3)]
        for t in others:
            t.start()
        burst("main")
        for t in others:
            t.join()
        done = threading.Event()
        rt.call_soon(done.set)  # after every call above: all were queued before this one
        assert done.wait(10)
        for source in ("main", "t0", "t1", "t2"):
            assert [i for s, i in seen if s == source] == [i for i in range(500) if i != 3]
        assert threads_seen == {"kling-nb"}
        assert "one bad call" in caplog.text  # logged; the calls after it still ran
    finally:
        rt.close()


def test_close_cancels_a_call_whose_caller_stopped_waiting() -> None:
    rt = Runtime()
    cancelled = threading.Event()

    async def long_call() -> None:
        try:
            await asyncio.sleep(600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    future = rt.submit(long_call())
    with pytest.raises(concurrent.futures.TimeoutError):
        future.result(0.05)  # e.g. the caller was interrupted
    rt.close()
    assert cancelled.is_set()
    assert future.cancelled()


def test_stopping_tasks_spares_the_caller_and_stops_tasks_started_as_others_stop() -> None:
    rt = Runtime()
    stopped: list[str] = []

    async def forever(name: str, then: str | None = None) -> None:
        try:
            await asyncio.sleep(600)
        except asyncio.CancelledError:
            stopped.append(name)
            if then is not None:  # a handler that starts more work as it stops
                rt.spawn(forever(then))
            raise

    async def stop_all() -> str:
        rt.spawn(forever("first", then="second"))
        await asyncio.sleep(0)
        await rt.stop_tasks(timeout=10)
        return "the caller went on"

    assert rt.run(stop_all()) == "the caller went on"
    assert stopped == ["first", "second"]
    rt.close()


def test_a_script_ends_at_once_with_a_request_still_waiting_on_the_server(
    tmp_path: Path,
) -> None:
    """No close(), a server that never answers: the interpreter must not wait for the call."""
    script = tmp_path / "script.py"
    script.write_text(
        "import socket, threading, time, tempfile\n"
        "import kling_nb\n"
        "from kling_nb.retry import Policy\n"
        "s = socket.create_server(('127.0.0.1', 0))\n"
        "held = []\n"
        "def serve():\n"
        "    while True:\n"
        "        c, _ = s.accept(); held.append(c)\n"
        "threading.Thread(target=serve, daemon=True).start()\n"
        "base = f'http://127.0.0.1:{s.getsockname()[1]}'\n"
        "policy = Policy(read_timeout=600, events_connect_wait=0.1)\n"
        "client = kling_nb.Client('k', base, tempfile.mkdtemp(), policy=policy)\n"
        "job = client.submit(kling_nb.VideoRequest(prompt='a fox', duration=3))\n"
        "time.sleep(1.0)\n"
        "print('ending while', job.status, flush=True)\n"
    )
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=50)
    assert done.returncode == 0, done.stderr
    assert "ending while submitting" in done.stdout
    assert time.monotonic() - started < 30  # not the 60 s read timeout
