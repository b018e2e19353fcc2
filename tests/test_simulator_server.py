"""Serving the simulator (``simulator/server.py``): ``run`` and ``Simulator``'s lifecycle, control
from other threads before and while it serves, reset, stop, and a quiet log for cut downloads."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from kling_nb.simulator import Simulator, run
from kling_nb.simulator.faults import FaultError, Faults
from tests._simulator import Reader, api, enqueue, wait_final


@pytest.fixture
def client(sim: Simulator) -> Iterator[httpx.Client]:
    with api(sim) as c:
        yield c


def test_small_responses_are_not_held_back_by_nagle(sim: Simulator, client: httpx.Client) -> None:
    # Without TCP_NODELAY each small body waits ~40 ms for the client's delayed ACK: every
    # connection the simulator accepted has it set.
    client.get("/api/ai/queue")
    connections = list(sim._server.server_state.connections)
    assert connections
    for connection in connections:
        sock = connection.transport.get_extra_info("socket")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_stopping_the_simulator_ends_open_streams() -> None:
    sim = run(keepalive_seconds=60)
    reader = Reader(sim)
    started = time.monotonic()
    sim.stop()
    assert reader.closed.wait(5)
    assert time.monotonic() - started < 3
    reader.close()


def test_a_simulator_serves_from_run_until_it_is_stopped() -> None:
    sim = run()
    try:
        assert sim.running and repr(sim) == f"<Simulator {sim.base_url} running>"
        assert sim.base_url == f"http://127.0.0.1:{sim.port}"
        assert httpx.get(f"{sim.base_url}/api/ai/models").status_code == 200
        assert sim.start() is sim  # already serving: nothing more to start
    finally:
        sim.stop()
    assert not sim.running and repr(sim) == f"<Simulator {sim.base_url} stopped>"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{sim.base_url}/api/ai/models")


def test_faults_set_before_it_serves_are_served_once_it_runs() -> None:
    sim = Simulator(fail_next=2)
    try:
        assert not sim.running
        assert sim.faults()["fail_next"] == 2
        sim.set_faults(stuck=True)
        assert sim.stats()["enqueue_calls"] == 0
        sim.start()
        served = httpx.get(f"{sim.base_url}/_simulator/faults").json()
        assert served["fail_next"] == 2 and served["stuck"] is True
    finally:
        sim.stop()


def test_bad_faults_are_refused_at_start_and_while_serving(sim: Simulator) -> None:
    with pytest.raises(FaultError, match="unknown fault 'explode'"):
        run(explode=True)
    before = sim.faults()
    with pytest.raises(FaultError, match="fail_next must be a whole number"):
        sim.set_faults(stuck=True, fail_next="lots")
    assert sim.faults() == before


def test_reset_forgets_generations_and_counters_and_restores_the_start_faults() -> None:
    with run(fail_next=1) as sim, api(sim) as c:
        (failed,) = enqueue(c, prompt="a", duration=3)
        assert wait_final(c, failed)["status"] == "failed"  # fail_next is used up
        sim.set_faults(stuck=True)
        sim.reset()
        assert sim.faults() == Faults(fail_next=1).as_json()
        assert sim.stats()["enqueue_calls"] == 0 and sim.stats()["polls"] == 0
        assert c.get(f"/api/ai/queue/{failed}").status_code == 404
        (again,) = enqueue(c, prompt="a", duration=3)
        assert wait_final(c, again)["status"] == "failed"


def test_a_download_cut_short_on_purpose_logs_no_traceback(
    sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    sim.set_faults(download_truncate=1)
    with api(sim) as c:
        (gid,) = enqueue(c, prompt="a", duration=3)
        url = wait_final(c, gid)["result_url"]
    # uvicorn logs an app's exception before it drops the connection the client sees end.
    with (
        caplog.at_level(logging.ERROR, logger="uvicorn.error"),
        pytest.raises(httpx.RemoteProtocolError),
    ):
        httpx.get(url)
    assert [r.getMessage() for r in caplog.records if r.name.startswith("uvicorn")] == []
    assert sim.stats()["downloads_truncated"] == 1
