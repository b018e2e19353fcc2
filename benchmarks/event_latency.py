"""Completion-to-Job latency: kling_nb's event stream against the seeds' 5 s polling loop.

In one run against the simulator (in its own process), N generations are submitted with
kling_nb; for each, a thread runs the seeds' Python poll loop (``requests.get`` then
``time.sleep(5)``), started at a random moment as a user would. Latency is the time from the
server's ``completed_at`` to (a) the kling_nb ``Generation`` leaving queued/processing (the
completion is known) and (b) its file being saved, and (c) the seed loop seeing a final status.

    .venv/bin/python benchmarks/event_latency.py [N]
"""

from __future__ import annotations

import random
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from _simproc import percentile, simulator_process

from kling_nb.client import Client
from kling_nb.jobs import Job
from kling_nb.requests import VideoRequest

KEY = "benchmark-key"


def seed_poll_loop(base_url: str, generation_id: str, seen: dict[str, float]) -> None:
    """The seeds' own client (003/000 pages), with the 5 s sleep."""
    time.sleep(random.uniform(0, 5))
    while True:
        data = requests.get(
            f"{base_url}/api/ai/queue/{generation_id}",
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=30,
        ).json()
        if data["status"] in {"succeeded", "failed", "cancelled"}:
            break
        time.sleep(5)
    seen[generation_id] = time.time()


def main(n: int) -> None:
    known: dict[str, float] = {}
    saved: dict[str, float] = {}
    polled: dict[str, float] = {}

    def observer(job: Job) -> None:
        now = time.time()
        for gen in job.generations:
            if gen.id and gen.status in ("downloading", "succeeded") and gen.id not in known:
                known[gen.id] = now
            if gen.id and gen.status == "succeeded" and gen.id not in saved:
                saved[gen.id] = now

    with (
        simulator_process(generation_seconds=3.0, keepalive_seconds=15.0) as base_url,
        tempfile.TemporaryDirectory() as folder,
        Client(KEY, base_url, Path(folder)) as client,
    ):
        jobs = []
        for i in range(n):
            job = client.submit(VideoRequest(prompt=f"A fox number {i} runs", duration=3))
            job.observe(observer)
            jobs.append(job)
            time.sleep(random.uniform(0.0, 0.2))
        pollers = []
        for job in jobs:
            while not job.generation_ids and not job.done:
                time.sleep(0.01)
            for gid in job.generation_ids:
                t = threading.Thread(target=seed_poll_loop, args=(base_url, gid, polled))
                t.start()
                pollers.append(t)
        for job in jobs:
            job.wait(120)
        for t in pollers:
            t.join(120)
        completed = {}
        for job in jobs:
            for gid in job.generation_ids:
                row = requests.get(
                    f"{base_url}/api/ai/queue/{gid}",
                    headers={"Authorization": f"Bearer {KEY}"},
                    timeout=30,
                ).json()
                completed[gid] = float(row["completed_at"])

    def lat(seen: dict[str, float]) -> list[float]:
        return [(seen[g] - completed[g]) * 1000 for g in completed if g in seen]

    rows = [("kling_nb, completion known", lat(known)), ("kling_nb, file saved", lat(saved))]
    rows.append(("seeds' 5 s poll loop", lat(polled)))
    print(f"event_latency: {n} generations, completion -> client (ms)")
    for name, values in rows:
        p50, p95 = percentile(values, 50), percentile(values, 95)
        print(f"  {name:28s} n={len(values):3d}  p50={p50:8.1f}  p95={p95:8.1f}")
    k50, k95 = percentile(lat(known), 50), percentile(lat(known), 95)
    s50, s95 = percentile(lat(polled), 50), percentile(lat(polled), 95)
    print(
        f"  ratio poll/kling_nb: p50 {s50 / max(k50, 0.001):.0f}x, p95 {s95 / max(k95, 0.001):.0f}x"
    )
    print(f"  target kling_nb p95 < 50 ms: {'met' if k95 < 50 else 'NOT met'} ({k95:.1f} ms)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
