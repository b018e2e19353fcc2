"""Shared by the client benchmarks: the simulator in its own process, so its CPU and memory
never count against the client being measured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

_CODE = """
import json, sys
from kling_nb.simulator import run
with run(**json.loads(sys.argv[1])) as sim:
    print(sim.base_url, flush=True)
    sys.stdin.read()
"""


@contextmanager
def simulator_process(cpus: set[int] | None = None, **settings: Any) -> Iterator[str]:
    """Run ``kling_nb.simulator.run(**settings)`` in a child process; yield its base URL.
    ``cpus``: the CPUs it may run on (Linux), to keep it off those of the process measured."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _CODE, json.dumps(settings)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    if cpus:
        os.sched_setaffinity(proc.pid, cpus)
    try:
        yield proc.stdout.readline().strip()
    finally:
        proc.stdin.close()
        proc.wait(30)
        proc.stdout.close()


def stats(base_url: str) -> dict[str, Any]:
    """The simulator's counters."""
    answer: dict[str, Any] = httpx.get(base_url + "/_simulator/stats").json()
    return answer


def percentile(values: list[float], p: float) -> float:
    """The ``p``-th percentile (0..100) by nearest rank."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def split_cpus() -> tuple[set[int], set[int]] | None:
    """(the client's CPUs, the simulator's CPU): the last CPU for the simulator, the rest for the
    process measured; None where affinity cannot be set or there is a single CPU."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    return set(cpus[:-1]), {cpus[-1]}
