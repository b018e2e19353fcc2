"""The ledger: an append-only JSON Lines record of every submission in an outputs folder.

One ``submission`` record is written before any waiting, then ``generation`` and ``job`` records as
things change; the latest record of each generation wins. Each line is written with one
``O_APPEND`` write under ``fcntl.flock``, so kernels sharing a folder never interleave lines; a
torn last line (a process killed mid-write) is skipped when read and closed off by the next writer.
A record of another format version, or with a field of the wrong type, is skipped too (with one
warning per ``Ledger``), so one bad line never stops submissions, replay or resume.
No key material is ever written (every line passes through ``redact``).

Record types (all carry ``v`` (format 1), ``type``, ``time`` (Unix seconds) and ``job_id``)::

    submission  request (canonical JSON object), request_hash, model, num_generations,
                estimated_cost, endpoint ("queue" or "sync"), forced, simulated, base_url,
                kling_nb_version
    generation  index, generation_id, status, enqueued_at, started_at, completed_at, error,
                result ({"path" relative to the folder, "sha256", "size"} or null)
    job         status, error
    copy        index, path (relative to the folder), sha256, size, audio: a copy of a result
                with other audio (``audio`` "mp3": one VS Code plays with sound); informational,
                replay and resume ignore it
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from kling_nb._version import __version__
from kling_nb.errors import redact

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: appends stay whole lines, unlocked
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "LEDGER_NAME",
    "GenerationRecord",
    "JobRecord",
    "Ledger",
    "copy_line",
    "file_sha256",
    "generation_line",
    "job_line",
]

_T = TypeVar("_T")
LEDGER_NAME = "ledger.jsonl"
FORMAT = 1
# "save_failed": the server succeeded but the file was not saved; "timed_out": past the
# client's deadline. Both may still end in a saved result, so resume() re-attaches to them.
_ACTIVE = frozenset({"pending", "queued", "processing", "downloading", "save_failed", "timed_out"})


_COMPACT = (",", ":")
_MAX_GENERATIONS = 4  # the API's limit (requests.validate_num_generations)
log = logging.getLogger("kling_nb")


class _Malformed(Exception):
    """A ledger record that parses as JSON but not as this format's types."""


def _field(r: dict[str, Any], key: str, kind: type[_T], default: _T) -> _T:
    """``r[key]`` if it is a ``kind`` (a bool is not an int here), ``default`` if absent."""
    value = r.get(key)
    if value is None:
        return default
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _Malformed
    return value


def _optional(r: dict[str, Any], key: str, kind: type[_T]) -> _T | None:
    """``r[key]`` if it is a ``kind``, or None when absent or null."""
    value = r.get(key)
    if value is not None and not isinstance(value, kind):
        raise _Malformed
    return value


def _number(r: dict[str, Any], key: str) -> float | None:
    """``r[key]`` as a float if it is a number (not a bool), or None when absent or null."""
    value = r.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Malformed
    return float(value)


def file_sha256(path: Path) -> str:
    """The sha256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class GenerationRecord:
    """The latest recorded state of one generation."""

    index: int
    generation_id: str | None = None
    status: str = "pending"
    enqueued_at: float | None = None
    started_at: float | None = None
    completed_at: float | None = None
    error: str | None = None
    result: dict[str, Any] | None = None


@dataclass
class JobRecord:
    """Everything the ledger knows about one submission."""

    job_id: str
    request: dict[str, Any]
    request_hash: str
    model: str
    num_generations: int
    estimated_cost: float | None
    endpoint: str
    simulated: bool
    base_url: str
    created_at: float
    status: str = "submitting"
    error: str | None = None
    generations: dict[int, GenerationRecord] = field(default_factory=dict)

    @property
    def pending(self) -> list[GenerationRecord]:
        """Generations with a server id that were still running when last recorded."""
        return [g for g in self.generations.values() if g.generation_id and g.status in _ACTIVE]

    @property
    def unsent(self) -> bool:
        """Recorded, but no answer to its enqueue was: the process stopped while sending it."""
        no_ids = not any(g.generation_id for g in self.generations.values())
        return self.endpoint == "queue" and self.status == "submitting" and no_ids


def generation_line(job_id: str, gen: GenerationRecord) -> dict[str, Any]:
    """The ``generation`` record of one generation's state (for ``Ledger.append``)."""
    return {
        "type": "generation",
        "job_id": job_id,
        "index": gen.index,
        "generation_id": gen.generation_id,
        "status": gen.status,
        "enqueued_at": gen.enqueued_at,
        "started_at": gen.started_at,
        "completed_at": gen.completed_at,
        "error": gen.error,
        "result": gen.result,
    }


def job_line(job_id: str, status: str, error: str | None) -> dict[str, Any]:
    """The ``job`` record of a job's overall status (for ``Ledger.append``)."""
    return {"type": "job", "job_id": job_id, "status": status, "error": error}


def copy_line(
    job_id: str, index: int, path: str, sha256: str, size: int, audio: str = "mp3"
) -> dict[str, Any]:
    """The ``copy`` record of a copy made of one generation's result (for ``Ledger.append``)."""
    return {
        "type": "copy",
        "job_id": job_id,
        "index": index,
        "path": path,
        "sha256": sha256,
        "size": size,
        "audio": audio,
    }


class Ledger:
    """The ledger file of one outputs folder (``<folder>/ledger.jsonl``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LEDGER_NAME
        self._lock = threading.Lock()
        self._offset = 0
        self._jobs: dict[str, JobRecord] = {}
        self._by_hash: dict[str, list[str]] = {}  # request hash -> job ids, oldest first
        self._write_fd: int | None = None
        self._warned = False  # about unreadable records: once per Ledger
        self._finalizer: weakref.finalize[Any, Any] | None = None

    # -- writing -----------------------------------------------------------------------------
    def append(self, *records: dict[str, Any]) -> None:
        """Append records, one line each, in one write (adds ``v`` and ``time`` when missing).

        When nothing was appended since this ``Ledger`` last read the file (the usual case), the
        lines are folded into its index as written, without reading them back.
        """
        now = time.time()
        full = [{"v": FORMAT, "time": now, **r} for r in records]
        texts = [json.dumps(r, separators=_COMPACT, ensure_ascii=False) for r in full]
        lines = [redact(text) for text in texts]
        data = "".join(line + "\n" for line in lines).encode("utf-8")
        with self._lock:
            fd = self._fd()
            try:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                size = os.fstat(fd).st_size
                # Read up to ``size`` already: it ends a line (``_refresh`` stops at the last one).
                caught_up = size == self._offset
                if size and not caught_up and os.pread(fd, 1, size - 1) != b"\n":
                    data = b"\n" + data  # close off a torn line left by a killed writer
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_UN)
            if caught_up:
                self._offset = size + len(data)
                # A line that redact left alone says what its record says: fold the record
                # itself (not parsed back); a redacted one as the file has it.
                self._fold(
                    [
                        record if line is text else line.encode("utf-8")
                        for record, text, line in zip(full, texts, lines, strict=True)
                    ]
                )

    def _fd(self) -> int:
        """The append descriptor, kept open; reopened if the file was deleted or replaced."""
        if self._write_fd is not None:
            if self._still_the_file(self._write_fd):
                return self._write_fd
            self.close()
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        self._write_fd = fd
        self._finalizer = weakref.finalize(self, os.close, fd)
        return fd

    def _still_the_file(self, fd: int) -> bool:
        """Whether ``fd`` is still the file at ``self.path`` (not deleted, moved or replaced)."""
        try:
            return os.stat(self.path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False

    def close(self) -> None:
        """Close the append descriptor (the next append opens it again)."""
        if self._write_fd is not None and self._finalizer is not None:
            self._finalizer()
            self._write_fd = None

    def record_submission(
        self,
        *,
        job_id: str,
        request: dict[str, Any],
        request_hash: str,
        model: str,
        num_generations: int,
        estimated_cost: float | None,
        endpoint: str,
        forced: bool,
        simulated: bool,
        base_url: str,
    ) -> None:
        """The first record of a submission, written before any network call or waiting."""
        self.append(
            {
                "type": "submission",
                "job_id": job_id,
                "request": request,
                "request_hash": request_hash,
                "model": model,
                "num_generations": num_generations,
                "estimated_cost": estimated_cost,
                "endpoint": endpoint,
                "forced": forced,
                "simulated": simulated,
                "base_url": base_url,
                "kling_nb_version": __version__,
            }
        )

    def record_generation(self, job_id: str, gen: GenerationRecord) -> None:
        """The current state of one generation."""
        self.append(generation_line(job_id, gen))

    def record_job(self, job_id: str, status: str, error: str | None) -> None:
        """The job's overall status (written when it becomes final)."""
        self.append(job_line(job_id, status, error))

    # -- reading -----------------------------------------------------------------------------
    def jobs(self) -> dict[str, JobRecord]:
        """Every recorded job, folded from the lines appended so far (by any process)."""
        with self._lock:
            self._refresh()
            return dict(self._jobs)

    def _refresh(self) -> None:
        """Fold in the lines appended since the last read (by any process)."""
        fd = self._write_fd
        if fd is not None and not self._still_the_file(fd):  # deleted or replaced meanwhile
            self.close()
            fd = None
        try:
            if fd is not None:  # already open for appending: no need to open the file again
                size = os.fstat(fd).st_size
                if size == self._offset:
                    return
                if size < self._offset:
                    self._offset, self._jobs, self._by_hash = 0, {}, {}
                data = os.pread(fd, size - self._offset, self._offset)
            else:
                with self.path.open("rb") as f:
                    if os.fstat(f.fileno()).st_size < self._offset:
                        self._offset, self._jobs, self._by_hash = 0, {}, {}
                    f.seek(self._offset)
                    data = f.read()
        except FileNotFoundError:
            self._offset, self._jobs, self._by_hash = 0, {}, {}
            return
        end = data.rfind(b"\n") + 1  # a torn last line waits until it is closed off
        self._offset += end
        self._fold(data[:end].splitlines())

    def _fold(self, lines: list[bytes] | list[bytes | dict[str, Any]]) -> None:
        """Fold whole lines (or records already parsed) into the index; unreadable ones are
        skipped (one warning)."""
        skipped: list[bytes] = []
        for raw in lines:
            if isinstance(raw, dict):
                record: Any = raw
            else:
                try:
                    record = json.loads(raw)
                except ValueError:
                    continue  # a torn line closed off by a later writer
            try:
                if not isinstance(record, dict):
                    raise _Malformed
                self._apply(record)
            except _Malformed:
                skipped.append(raw if isinstance(raw, bytes) else json.dumps(raw).encode())
        if skipped and not self._warned:
            self._warned = True
            log.warning(
                "kling_nb: skipped %d line(s) of %s that this version cannot read (a field of "
                "the wrong type or an unknown format version), first: %s. The jobs they describe "
                "are left out of replay, resume and job lists; fix or delete those lines, or "
                "upgrade kling_nb if a newer version wrote them.",
                len(skipped),
                self.path,
                redact(skipped[0][:200].decode("utf-8", "replace")),
            )

    def _apply(self, r: dict[str, Any]) -> None:
        """Fold one record in; raises ``_Malformed`` (changing nothing) for one it cannot read."""
        kind, job_id, version = r.get("type"), r.get("job_id"), r.get("v")
        if type(version) is not int or version != FORMAT:
            raise _Malformed
        if not isinstance(job_id, str):
            if kind in ("submission", "generation", "job"):
                raise _Malformed
            return
        if kind == "submission":
            n = _field(r, "num_generations", int, 1)
            if not 1 <= n <= _MAX_GENERATIONS:
                raise _Malformed
            record = JobRecord(
                job_id=job_id,
                request=_field(r, "request", dict, {}),
                request_hash=_field(r, "request_hash", str, ""),
                model=_field(r, "model", str, ""),
                num_generations=n,
                estimated_cost=_number(r, "estimated_cost"),
                endpoint=_field(r, "endpoint", str, "queue"),
                simulated=_field(r, "simulated", bool, False),
                base_url=_field(r, "base_url", str, ""),
                created_at=_number(r, "time") or 0.0,
                generations={i: GenerationRecord(index=i) for i in range(n)},
            )
            self._jobs[job_id] = record
            self._by_hash.setdefault(record.request_hash, []).append(job_id)
            return
        job = self._jobs.get(job_id)
        if job is None:
            return
        if kind == "generation":
            index = _field(r, "index", int, 0)
            if not 0 <= index < job.num_generations:
                raise _Malformed
            result = _optional(r, "result", dict)
            if result is not None and not (
                isinstance(result.get("path"), str)
                and isinstance(result.get("sha256"), str)
                and type(result.get("size")) is int
            ):
                raise _Malformed
            job.generations[index] = GenerationRecord(
                index=index,
                generation_id=_optional(r, "generation_id", str),
                status=_field(r, "status", str, "pending"),
                enqueued_at=_number(r, "enqueued_at"),
                started_at=_number(r, "started_at"),
                completed_at=_number(r, "completed_at"),
                error=_optional(r, "error", str),
                result=result,
            )
        elif kind == "job":
            status = _field(r, "status", str, job.status)
            job.status, job.error = status, _optional(r, "error", str)

    def verified_results(self, job: JobRecord) -> list[tuple[GenerationRecord, Path]] | None:
        """The job's successful results if every file is still there with its recorded sha256."""
        found: list[tuple[GenerationRecord, Path]] = []
        for gen in sorted(job.generations.values(), key=lambda g: g.index):
            if gen.status != "succeeded" or not gen.result:
                continue
            path = (self.folder / str(gen.result.get("path", ""))).resolve()
            if path.parent != self.folder.resolve() or not path.is_file():
                return None
            if path.stat().st_size != gen.result.get("size"):
                return None
            if file_sha256(path) != gen.result.get("sha256"):
                return None
            found.append((gen, path))
        return found

    def find_replay(
        self, request_hash: str, num_generations: int, *, simulated: bool, base_url: str
    ) -> tuple[JobRecord, list[tuple[GenerationRecord, Path]]] | None:
        """The latest job with this request hash and enough verified successes, or None.

        Only results made by the same server (``base_url``) replay: a simulator's videos never
        replay for a client of Oxen.ai (or of another server), nor the other way round. A
        ``simulated`` client (the bundled simulator, on a new port in each kernel) replays the
        results of any simulated run, and only those.
        """
        with self._lock:  # only the jobs with this hash, not the whole ledger
            self._refresh()
            ids = self._by_hash.get(request_hash, [])
            candidates = [self._jobs[i] for i in dict.fromkeys(reversed(ids)) if i in self._jobs]
        for job in candidates:
            if job.request_hash != request_hash or job.simulated != simulated:
                continue
            if job.base_url != base_url and not simulated:  # the bundled one's port changes
                continue
            results = self.verified_results(job)
            if results and len(results) >= num_generations:
                return job, results[:num_generations]
        return None

    def find_pending(
        self, request_hash: str, num_generations: int, *, simulated: bool, base_url: str
    ) -> list[JobRecord]:
        """Jobs for exactly this request still running on ``base_url`` when last recorded
        (with server ids, not unsent), latest first: re-running it must not pay again."""
        with self._lock:
            self._refresh()
            ids = self._by_hash.get(request_hash, [])
            candidates = [self._jobs[i] for i in dict.fromkeys(reversed(ids)) if i in self._jobs]
        return [
            job
            for job in candidates
            if job.request_hash == request_hash
            and job.num_generations == num_generations
            and job.simulated == simulated
            and job.base_url == base_url
            and job.pending
            and not job.unsent
        ]

    def pending(self, *, base_url: str) -> list[JobRecord]:
        """Jobs for ``base_url`` still running when last recorded, or never answered (unsent)."""
        jobs = self.jobs().values()
        return [j for j in jobs if j.base_url == base_url and (j.pending or j.unsent)]
