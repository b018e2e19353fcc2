"""Shared fixtures: ``sim``, a fresh local Oxen.ai simulator for each test, and ``client``, a
client of it; ``hub``, a fake hub for ``httpx.MockTransport``, and ``mock_client``, a client
talking to it. Both clients use the fast test policy (``_policies.FAST``). In every test, no
job is enqueued twice."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _hub import BASE, KEY, Hub
from _policies import FAST

from kling_nb.client import Client
from kling_nb.enqueue import Sender
from kling_nb.jobs import Job
from kling_nb.simulator import Simulator, run

# The session's simulator paces generations for people (4 s); the tests, and the kernels they
# start (which inherit this), keep it fast.
os.environ.setdefault("KLING_NB_SIMULATOR_SECONDS", "0.2")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run last: Playwright's sync API keeps an event loop running in the main
    thread for the rest of the session, and asyncio.run() refuses to start under it."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture(autouse=True)
def _each_job_is_enqueued_once(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test, faults and all: no job's enqueue call is made twice in this process (a
    retry inside the call is only made where the server certainly queued nothing)."""
    sent: Counter[str] = Counter()
    enqueue = Sender._enqueue

    async def counted(self: Sender, job: Job, payload: dict[str, Any]) -> Any:
        sent[job.id] += 1
        return await enqueue(self, job, payload)

    monkeypatch.setattr(Sender, "_enqueue", counted)
    yield
    twice = {job_id: n for job_id, n in sent.items() if n > 1}
    assert not twice, f"jobs enqueued more than once: {twice}"


@pytest.fixture(scope="session")
def _shared_simulator() -> Iterator[list[Simulator]]:
    holder: list[Simulator] = []
    yield holder
    for simulator in holder:
        simulator.stop()


@pytest.fixture
def sim(_shared_simulator: list[Simulator]) -> Simulator:
    """A running simulator: generations take 0.2 s, keep-alives every 0.5 s, any key accepted.

    One server is shared by the session and reset before each test (no generations, counters,
    faults or open event streams), which is as fresh as a new one and saves ~0.2 s per test.
    A test that stops it gets a new one next time.
    """
    if not _shared_simulator or not _shared_simulator[0].running:
        _shared_simulator[:] = [run(generation_seconds=0.2, keepalive_seconds=0.5)]
    simulator = _shared_simulator[0]
    simulator.reset()
    return simulator


@pytest.fixture
def hub() -> Hub:
    return Hub()


@pytest.fixture
def mock_client(hub: Hub, tmp_path: Path) -> Iterator[Client]:
    """A client whose every call goes to ``hub`` (results from ``cdn.test`` included)."""
    with Client(KEY, BASE, tmp_path, transport=httpx.MockTransport(hub), policy=FAST) as c:
        yield c


@pytest.fixture
def client(sim: Simulator, tmp_path: Path) -> Iterator[Client]:
    """A client of ``sim`` whose outputs go to ``tmp_path / "out"``."""
    with Client(KEY, sim.base_url, tmp_path / "out", policy=FAST) as c:
        yield c
