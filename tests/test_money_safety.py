"""No second bill, no lost result, no hang: each case over real loopback HTTP (the simulator, or a
hostile raw-socket server), with the simulator's count of enqueue calls where money is at stake."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from _policies import FAST

from kling_nb import Client, VideoRequest
from kling_nb.api import Api
from kling_nb.errors import APITimeoutError, DownloadError, LedgerError
from kling_nb.records import SubmissionRecord
from kling_nb.simulator import Simulator, run
from kling_nb.store import Ledger

KEY = "sk-kling-FAKE-KEY-money-4242"


def request(text: str = "A heron lands on a misty lake") -> VideoRequest:
    return VideoRequest(prompt=text, duration=3)


def until(check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


# -- paid twice -------------------------------------------------------------------------------
def test_a_rerun_long_after_the_deadline_adopts_the_job_and_saves_its_result(
    tmp_path: Path,
) -> None:
    """The kernel died while its generation ran; the unchanged cell runs again after the
    deadline: nothing is sent, and the late result is saved."""
    with run(generation_seconds=2.0, keepalive_seconds=0.5) as sim:
        with Client(KEY, sim.base_url, tmp_path, policy=FAST) as c:
            first = c.submit(request())
            until(lambda: bool(first.generation_ids))
        # a new kernel, whose deadline has long passed for that job
        with Client(KEY, sim.base_url, tmp_path, policy=FAST, deadline_seconds=0.001) as c:
            again = c.submit(request())
            assert again.id == first.id
            assert again.wait(10).status == "timed_out"  # it stops waiting, never resends
            until(lambda: again.status == "succeeded")  # the late result is still saved
            assert again.results[0].path.is_file()
        assert sim.stats()["enqueue_calls"] == 1


def test_a_rerun_adopts_an_enqueue_whose_answer_a_killed_kernel_never_heard(
    sim: Simulator, tmp_path: Path
) -> None:
    req = request("A fox the dead kernel sent")
    Ledger(tmp_path).append(
        SubmissionRecord(
            job_id="died-sending",
            request=req.canonical(),
            request_hash=req.request_hash,
            model=req.model,
            num_generations=2,
            base_url=sim.base_url,
        )
    )
    sent = httpx.post(  # what that kernel's enqueue did on the server
        f"{sim.base_url}/api/ai/queue",
        json={**req.payload(), "num_generations": 2},
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert sent.status_code == 200
    with Client(KEY, sim.base_url, tmp_path, policy=FAST) as c:
        job = c.submit(req, 2)  # the unchanged cell, run again
        assert job.id == "died-sending"
        assert job.wait(30).status == "succeeded"
    assert sorted(job.generation_ids) == sorted(
        g["generation_id"] for g in sent.json()["generations"]
    )
    assert sim.stats()["enqueue_calls"] == 1


def test_an_uncertain_enqueue_is_never_resent_by_a_rerun_only_by_force(
    sim: Simulator, tmp_path: Path
) -> None:
    """A 502 on enqueue may have billed the job; if it is not found on the server, the job ends
    `error`, and running the same request again looks for it again instead of paying twice."""
    sim.set_faults(enqueue_errors=[502])
    with Client(KEY, sim.base_url, tmp_path, policy=FAST) as c:
        first = c.submit(request())
        assert first.wait(30).status == "error" and "may still have been" in (first.error or "")
        assert c.submit(request()) is first  # the same cell again, in the same kernel
    with Client(KEY, sim.base_url, tmp_path, policy=FAST) as c:  # after a restart
        again = c.submit(request())
        assert again.id == first.id and again.wait(30).status == "error"
        assert sim.stats()["enqueue_calls"] == 1
    with Client(KEY, sim.base_url, tmp_path, policy=FAST) as c:
        assert c.resume() == []  # resume() has looked already: no endless suggestions
        forced = c.submit(request(), force=True)
        assert forced.wait(30).status == "succeeded"
    assert sim.stats()["enqueue_calls"] == 2


def test_a_partly_failed_job_rerun_replays_its_success_and_sends_only_the_rest(
    sim: Simulator, tmp_path: Path
) -> None:
    with Client(KEY, sim.base_url, tmp_path, policy=FAST) as c:
        sim.set_faults(fail_next=1)
        first = c.submit(request(), 2).wait(30)
        assert first.status == "partial"
        good = next(g for g in first.generations if g.status == "succeeded")
        again = c.submit(request(), 2).wait(30)
        assert again.status == "succeeded"
        assert again.replayed_takes == 1
        replayed, kept = again.generations[0].result, good.result
        assert replayed is not None and kept is not None and replayed.path == kept.path
        assert first.estimated_cost is not None
        assert again.estimated_cost == pytest.approx(first.estimated_cost / 2)
        assert sim.stats()["enqueue_calls"] == 2
        queued = sim.stats()["generations_created"]
        assert queued == 3  # two takes, then only the missing one
        forced = c.submit(request(), 2, force=True).wait(30)
        assert forced.replayed_takes == 0 and sim.stats()["generations_created"] == 5
    # a fresh client reads it all back from the ledger: the three results replay as one job
    with Client(KEY, sim.base_url, tmp_path, policy=FAST) as c:
        assert c.submit(request(), 2).replayed


# -- hangs ------------------------------------------------------------------------------------
@contextlib.contextmanager
def hostile_server(answer: Callable[[socket.socket], None]) -> Iterator[str]:
    """A raw HTTP server on loopback that answers every connection with ``answer``."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    conns: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conns.append(conn)
            conn.recv(65536)
            threading.Thread(target=answer, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        server.close()
        for conn in conns:
            conn.close()


def endless_chunks(conn: socket.socket) -> None:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: video/mp4\r\ntransfer-encoding: chunked\r\n\r\n"
    chunk = b"x" * 65536
    with contextlib.suppress(OSError):
        conn.sendall(head)
        while True:
            conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))


def trickle(conn: socket.socket) -> None:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n"
    with contextlib.suppress(OSError):
        conn.sendall(head)
        while True:
            conn.sendall(b" ")
            time.sleep(0.2)


def test_an_endless_result_body_stops_at_the_size_cap_and_asks_for_a_fresh_url(
    tmp_path: Path,
) -> None:
    policy = replace(FAST, max_download_bytes=4 << 20)
    with hostile_server(endless_chunks) as base:
        api = Api(base, KEY, policy)
        with pytest.raises(DownloadError, match="size cap") as caught:
            asyncio.run(api.download(f"{base}/result.mp4", tmp_path, "gen"))
    assert caught.value.retry == "fresh_url"
    assert list(tmp_path.iterdir()) == []  # no .part file left behind


def test_a_trickling_result_body_ends_at_the_download_time_limit(tmp_path: Path) -> None:
    policy = replace(FAST, download_total_timeout=1.0, read_timeout=30)
    with hostile_server(trickle) as base:
        api = Api(base, KEY, policy)
        with pytest.raises(DownloadError, match="did not arrive within 1 s") as caught:
            asyncio.run(api.download(f"{base}/result.mp4", tmp_path, "gen"))
    assert caught.value.retry == "fresh_url"
    assert list(tmp_path.iterdir()) == []


def test_a_trickling_enqueue_answer_ends_at_the_call_time_limit_as_maybe_sent() -> None:
    policy = replace(FAST, request_total_timeout=1.0, read_timeout=1.0)
    with hostile_server(trickle) as base:
        api = Api(base, KEY, policy)
        call = api.request("POST", "/api/ai/queue", safety="unsafe", json={"prompt": "x"})
        with pytest.raises(APITimeoutError) as caught:
            asyncio.run(call)
    assert caught.value.maybe_sent  # so the job is adopted, never resent


# -- wrong answers ----------------------------------------------------------------------------
def test_a_full_disk_at_submit_is_one_clear_error_and_nothing_is_sent(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*args: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Ledger, "_write", full)
    with Client(KEY, sim.base_url, tmp_path, policy=FAST) as c:
        with pytest.raises(LedgerError, match=r"No space left.*Nothing more was sent; free some"):
            c.submit(request())
        assert c.jobs == []
    assert sim.stats()["enqueue_calls"] == 0


def test_a_result_is_read_on_a_daemon_thread_that_never_holds_up_exit(tmp_path: Path) -> None:
    slow = {"result_size_bytes": 8_000_000, "download_bytes_per_second": 2_000_000}
    with run(generation_seconds=0.2, **slow) as sim, Client(KEY, sim.base_url, tmp_path) as c:
        job = c.submit(request())
        until(lambda: job.generations[0].status == "downloading")
        until(lambda: any(t.name == "AnyIO worker thread" for t in threading.enumerate()))
        readers = [t for t in threading.enumerate() if t.name == "AnyIO worker thread"]
        assert readers and all(t.daemon for t in readers)
        assert job.wait(30).status == "succeeded"
