"""A 200 MB result: kling_nb's download throughput against curl on loopback, and memory growth.

The simulator (own process) pads each result to ``result_size_bytes``. kling_nb streams it to a
temporary file, hashing as it goes, then renames it; curl fetches a fresh result URL of the same
generation into a file in the same folder. Runs alternate (kling_nb, curl, a bare httpx read and
a bare socket loop, both discarding the body) and the best of each is kept, since the machine is
shared. Memory growth is the client process's max RSS after the first end-to-end job minus
before it.

    .venv/bin/python benchmarks/download.py [MEGABYTES]
"""

from __future__ import annotations

import hashlib
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _simproc import simulator_process, split_cpus

from kling_nb.client import Client
from kling_nb.jobs import Job
from kling_nb.requests import VideoRequest

KEY = "benchmark-key"


def max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def plain_socket_read(url: str) -> float:
    """Seconds for a bare socket loop (one GET, ``recv_into`` 1 MiB, body discarded): the floor."""
    u = httpx.URL(url)
    start = time.perf_counter()
    with socket.create_connection((u.host, u.port or 80)) as sock:
        target = u.raw_path.decode()
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {u.netloc.decode()}\r\n\r\n".encode())
        buffer = bytearray(1 << 20)
        head, got, length = b"", 0, None
        while length is None:
            head += sock.recv(65536)
            if b"\r\n\r\n" in head:
                raw, _, rest = head.partition(b"\r\n\r\n")
                fields = dict(line.split(b": ", 1) for line in raw.split(b"\r\n")[1:])
                length, got = int(fields[b"content-length"]), len(rest)
        while got < length:
            n = sock.recv_into(buffer)
            if not n:
                break
            got += n
    return time.perf_counter() - start


def sync_httpx_read(url: str) -> float:
    """Seconds for httpx's sync client (kling_nb's reader) to stream the body and drop it."""
    with httpx.Client() as client:
        start = time.perf_counter()
        with client.stream("GET", url) as response:
            for _ in response.iter_raw():
                pass
        return time.perf_counter() - start


def inline_work(path: Path) -> tuple[float, float]:
    """Seconds to sha256 and to write the body in 64 KiB pieces, from memory: the per-byte work
    kling_nb does inline that curl does not (the hash) or does too (the write)."""
    data = path.read_bytes()
    pieces = [data[i : i + 65536] for i in range(0, len(data), 65536)]
    start = time.perf_counter()
    digest = hashlib.sha256()
    for piece in pieces:
        digest.update(piece)
    hashing = time.perf_counter() - start
    target = path.with_name("w.bin")
    start = time.perf_counter()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    for piece in pieces:
        os.write(fd, piece)
    os.close(fd)
    writing = time.perf_counter() - start
    target.unlink()
    return hashing, writing


def main(megabytes: int, rounds: int = 5) -> None:
    size = megabytes * 1_000_000
    marks: dict[str, float] = {}

    def observer(job: Job) -> None:
        status = job.generations[0].status
        if status in ("downloading", "succeeded") and status not in marks:
            marks[status] = time.perf_counter()

    # The simulator on one CPU, this process (and curl, its child) on the others: the sender
    # never competes with the reader being measured.
    split = split_cpus()
    if split:
        os.sched_setaffinity(0, split[0])
    with (
        simulator_process(
            cpus=split[1] if split else None, generation_seconds=0.5, result_size_bytes=size
        ) as base_url,
        tempfile.TemporaryDirectory() as tmp,
        Client(KEY, base_url, Path(tmp)) as client,
    ):
        folder = Path(tmp)
        client.submit(VideoRequest(prompt="warm up", duration=3)).wait(120)
        rss_before = max_rss_mib()
        job = client.submit(VideoRequest(prompt="A fox runs far away", duration=3))
        job.observe(observer)
        job.wait(600)
        rss_after = max_rss_mib()
        result = job.results[0]
        first = marks["succeeded"] - marks["downloading"]
        row = httpx.get(
            f"{base_url}/api/ai/queue/{result.generation_id}",
            headers={"Authorization": f"Bearer {KEY}"},
        ).json()
        url = row["result_url"]
        times: dict[str, list[float]] = {"kling_nb": [first], "curl": [], "httpx": [], "socket": []}
        api = client.engine.api
        for i in range(rounds):
            # A new name each time: a file already there with the same bytes would be hashed
            # again to check it, which is not a download's cost.
            start = time.perf_counter()
            saved = client.runtime.run(api.download(url, folder, f"again-{i}"))
            times["kling_nb"].append(time.perf_counter() - start)
            saved.path.unlink()
            out = folder / f"curl-{i}.mp4"
            start = time.perf_counter()
            subprocess.run(["curl", "-sS", "-o", str(out), url], check=True)
            times["curl"].append(time.perf_counter() - start)
            out.unlink()
            times["httpx"].append(sync_httpx_read(url))
            times["socket"].append(plain_socket_read(url))
        hashing, writing = inline_work(result.path)
    mb = result.size / 1e6
    ours, curl, bare, floor = (min(times[k]) for k in ("kling_nb", "curl", "httpx", "socket"))
    median = statistics.median(times["curl"]) / statistics.median(times["kling_nb"])
    pinned = "simulator pinned to its own CPU" if split else "not pinned"
    print(f"download: {mb:.0f} MB result over loopback, best of {rounds} ({pinned})")
    print(f"  kling_nb:    {ours:.2f} s = {mb / ours:4.0f} MB/s (stream, sha256, write, link)")
    print(f"  curl:        {curl:.2f} s = {mb / curl:4.0f} MB/s (to a file)")
    print(f"  bare httpx:  {bare:.2f} s = {mb / bare:4.0f} MB/s (sync stream, body discarded)")
    print(f"  bare socket: {floor:.2f} s = {mb / floor:4.0f} MB/s (recv_into, body discarded)")
    print(f"  inline work from memory: sha256 {hashing:.2f} s, write {writing:.2f} s")
    print(
        f"  ratio kling_nb/curl throughput: {curl / ours:.2f} best, {median:.2f} median "
        "(target >= 0.5)"
    )
    print(f"  ratio kling_nb/bare httpx:      {bare / ours:.2f}")
    print(
        f"  max RSS {rss_before:.0f} -> {rss_after:.0f} MiB: growth "
        f"{rss_after - rss_before:.1f} MiB (target < 32)"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
