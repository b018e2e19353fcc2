"""500 concurrent generations through one client: connections, extra requests, CPU, memory.

The simulator runs in its own process. Measured in the client process: event connections used,
HTTP requests per generation beyond enqueue and download, CPU time per generation (user+system,
from the first submit until every result is saved and hashed), and peak memory (max RSS).

    .venv/bin/python benchmarks/many_jobs.py [GENERATIONS] [PER_JOB]
"""

from __future__ import annotations

import asyncio
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from _simproc import simulator_process, stats

from kling_nb.client import Client
from kling_nb.requests import VideoRequest


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def thread_cpu() -> dict[str, float]:
    """CPU seconds so far of each live thread, summed by name (worker numbers dropped); Linux."""
    names = {t.native_id: t.name.split("_")[0] for t in threading.enumerate()}
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    totals: dict[str, float] = {}
    task = Path("/proc/self/task")
    for tid in task.iterdir() if task.is_dir() else ():
        try:
            fields = (tid / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        name = names.get(int(tid.name), "other")
        totals[name] = totals.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return totals


def bare_httpx_cpu_ms(base_url: str, n: int = 300) -> float:
    """CPU ms of one plain httpx GET here: the floor under any httpx-based client."""

    async def run() -> float:
        async with httpx.AsyncClient() as client:
            await client.get(base_url + "/_simulator/stats")
            start = cpu_seconds()
            for _ in range(n):
                await client.get(base_url + "/_simulator/stats")
            return (cpu_seconds() - start) * 1000 / n

    return asyncio.run(run())


def main(total: int, per_job: int) -> None:
    requests = [
        VideoRequest(prompt=f"A fox number {i} runs", duration=3) for i in range(total // per_job)
    ]
    with (
        simulator_process(generation_seconds=5.0, video_height=90) as base_url,
        tempfile.TemporaryDirectory() as folder,
        Client("benchmark-key", base_url, Path(folder)) as client,
    ):
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        threads0 = thread_cpu()
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        jobs = [client.submit(r, num_generations=per_job) for r in requests]
        submit_ms = (time.perf_counter() - t0) * 1000
        statuses = [job.wait(600).status for job in jobs]
        cpu = cpu_seconds() - cpu0
        wall = time.perf_counter() - t0
        threads = {k: v - threads0.get(k, 0.0) for k, v in thread_cpu().items()}
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        counts = stats(base_url)
        floor = bare_httpx_cpu_ms(base_url)
    generations = sum(len(j.generations) for j in jobs)
    by_path = counts["requests_by_path"]
    enqueues = by_path.get("/api/ai/queue", 0)  # POSTs and list GETs share the path
    downloads = sum(v for p, v in by_path.items() if p.startswith("/_simulator/results/"))
    control = sum(v for p, v in by_path.items() if p.startswith("/_simulator/")) - downloads
    extra = sum(by_path.values()) - downloads - control - counts["enqueue_calls"]
    others = {
        p: n
        for p, n in by_path.items()
        if not p.startswith("/_simulator/") and p != "/api/ai/queue"
    }
    print(f"many_jobs: {generations} generations in {len(jobs)} jobs, wall {wall:.1f} s")
    print(f"  final statuses: { {s: statuses.count(s) for s in set(statuses)} }")
    print(f"  submit() of all jobs: {submit_ms:.0f} ms ({submit_ms / len(jobs):.2f} ms per job)")
    print(f"  event connections: {counts['event_connections']} (target 1)")
    print(
        f"  requests beyond enqueue and download: {extra} = {extra / generations:.3f} per "
        f"generation (target < 0.2); polls {counts['polls']}, list calls {counts['list_calls']},"
        f" queue path total {enqueues}; other paths {others}"
    )
    per_gen = cpu * 1000 / generations
    print(f"  CPU: {cpu * 1000:.0f} ms = {per_gen:.2f} ms per generation (target < 2)")
    split = ", ".join(f"{k} {v * 1000 / generations:.2f}" for k, v in sorted(threads.items()))
    print(f"  by thread, ms per generation: {split} (kling-nb: the loop; main: submit())")
    print(
        f"  for scale: one bare httpx GET costs {floor:.2f} ms CPU here; the enqueue is one such "
        f"request (the download reads on a worker thread, see kling_nb/plainget.py)"
    )
    print(
        f"  peak RSS: {rss_after / 1024:.0f} MiB (before submitting {rss_before / 1024:.0f} MiB, "
        f"growth {(rss_after - rss_before) / 1024:.1f} MiB)"
    )


if __name__ == "__main__":
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    per_job = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    main(total, per_job)
