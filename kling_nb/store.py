"""The ledger: an append-only JSON Lines record of every submission in an outputs folder.

One ``submission`` record is written before any waiting, then ``generation`` and ``job`` records as
things change; the latest record of each generation wins (the records: ``kling_nb.records``). Each
append is one ``O_APPEND`` write under ``fcntl.flock``, so kernels sharing a folder never interleave
lines; a torn last line (a process killed mid-write) is skipped when read and closed off by the
next writer. A record of another format version, or with a field of the wrong type, is skipped too
(with one warning per ``Ledger``), so one bad line never stops submissions, replay or resume.
No key material is ever written (every line passes through ``redact``).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kling_nb.errors import LedgerError, redact
from kling_nb.files import file_sha256, lock, unlock
from kling_nb.records import (
    CopyRecord,
    GenerationRecord,
    JobRecord,
    Line,
    SubmissionRecord,
    UploadRecord,
    parse_record,
)

__all__ = ["LEDGER_NAME", "JobRecord", "Ledger", "Line"]

LEDGER_NAME = "ledger.jsonl"
log = logging.getLogger("kling_nb")


class Ledger:
    """The ledger file of one outputs folder (``<folder>/ledger.jsonl``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LEDGER_NAME
        self._lock = threading.Lock()
        self._offset = 0
        self._jobs: dict[str, JobRecord] = {}
        self._by_hash: dict[str, list[str]] = {}  # request hash -> job ids, oldest first
        self._owners: dict[str, str] = {}  # generation id -> the first job recorded with it
        self._write_fd: int | None = None
        self._warned = False  # about unreadable records: once per Ledger
        self._finalizer: weakref.finalize[Any, Any] | None = None

    # -- writing -----------------------------------------------------------------------------
    def append(self, *records: Line) -> None:
        """Append records, one line each, in one write.

        When nothing was appended since this ``Ledger`` last read the file (the usual case), the
        lines are folded into its index as written, without reading them back. A failed write
        (a full disk, a folder gone read-only) raises ``LedgerError`` saying so.
        """
        texts = [r.model_dump_json() for r in records]
        lines = [redact(text) for text in texts]
        data = "".join(line + "\n" for line in lines).encode("utf-8")
        try:
            self._write(data, records, texts, lines)
        except OSError as exc:
            raise LedgerError(
                f"Could not write the ledger {self.path} ({exc.strerror or exc}). Nothing more "
                "was sent; free some disk space or choose another outputs folder "
                "(Client(outputs_dir=...) or %config KlingMagics.outputs_dir), then run it again."
            ) from None

    def _write(
        self, data: bytes, records: tuple[Line, ...], texts: list[str], lines: list[str]
    ) -> None:
        with self._lock:
            fd = self._fd()
            try:
                lock(fd)  # Windows: none, appends stay whole lines, unlocked
                size = os.fstat(fd).st_size
                # Read up to ``size`` already: it ends a line (``_refresh`` stops at the last one).
                caught_up = size == self._offset
                if size and not caught_up and os.pread(fd, 1, size - 1) != b"\n":
                    data = b"\n" + data  # close off a torn line left by a killed writer
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                unlock(fd)
            if caught_up:
                self._offset = size + len(data)
                # A line that redact left alone says what its record says: fold the record
                # itself (not parsed back); a redacted one as the file has it.
                self._fold(
                    [
                        record if line is text else line.encode("utf-8")
                        for record, text, line in zip(records, texts, lines, strict=True)
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
                    self._forget()
                data = os.pread(fd, size - self._offset, self._offset)
            else:
                with self.path.open("rb") as f:
                    if os.fstat(f.fileno()).st_size < self._offset:
                        self._forget()
                    f.seek(self._offset)
                    data = f.read()
        except FileNotFoundError:
            self._forget()
            return
        end = data.rfind(b"\n") + 1  # a torn last line waits until it is closed off
        self._offset += end
        self._fold(data[:end].splitlines())

    def _forget(self) -> None:
        """Start the index over (the file was truncated, replaced or deleted)."""
        self._offset, self._jobs, self._by_hash, self._owners = 0, {}, {}, {}

    def _fold(self, lines: Sequence[bytes | Line]) -> None:
        """Fold whole lines (or records already parsed) into the index; unreadable ones are
        skipped (one warning)."""
        skipped: list[bytes] = []
        for raw in lines:
            if not isinstance(raw, bytes):
                self._apply(raw)
                continue
            try:
                record = json.loads(raw)
            except ValueError:
                continue  # a torn line closed off by a later writer
            try:
                line = parse_record(record)
            except ValueError:  # ValidationError included
                skipped.append(raw)
                continue
            if line is not None and not self._apply(line):
                skipped.append(raw)
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

    def _apply(self, line: Line) -> bool:
        """Fold one record in; False (changing nothing) if it does not fit its job."""
        if isinstance(line, SubmissionRecord):
            record = JobRecord.from_submission(line)
            self._jobs[line.job_id] = record
            self._by_hash.setdefault(record.request_hash, []).append(line.job_id)
            return True
        job = self._jobs.get(line.job_id)
        if job is None or isinstance(line, UploadRecord | CopyRecord):
            return True  # a line of a job whose submission is not here: nothing to fold into
        if isinstance(line, GenerationRecord):
            if line.index >= job.num_generations:
                return False
            job.generations[line.index] = line
            if line.generation_id:
                self._owners.setdefault(line.generation_id, line.job_id)
        else:
            job.status, job.error, job.uncertain = line.status, line.error, line.uncertain
        return True

    def owner(self, generation_id: str) -> str | None:
        """The job first recorded with this server generation id (by any process), or None."""
        with self._lock:
            self._refresh()
            return self._owners.get(generation_id)

    def verified_results(self, job: JobRecord) -> list[tuple[GenerationRecord, Path]] | None:
        """The job's successful results if every file is still there with its recorded sha256."""
        found: list[tuple[GenerationRecord, Path]] = []
        for gen in sorted(job.generations.values(), key=lambda g: g.index):
            if gen.status != "succeeded" or not gen.result:
                continue
            path = (self.folder / gen.result["path"]).resolve()
            if path.parent != self.folder.resolve() or not path.is_file():
                return None
            if path.stat().st_size != gen.result["size"]:
                return None
            if file_sha256(path) != gen.result["sha256"]:
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
        for job in self._candidates(request_hash):  # only this hash's jobs, not the whole ledger
            if job.request_hash != request_hash or job.simulated != simulated:
                continue
            if job.base_url != base_url and not simulated:  # the bundled one's port changes
                continue
            results = self.verified_results(job)
            if results and len(results) >= num_generations:
                return job, results[:num_generations]
        return None

    def partial_takes(
        self, request_hash: str, num_generations: int, *, simulated: bool, base_url: str
    ) -> list[tuple[GenerationRecord, Path]]:
        """The verified results of the latest job with this request and ``num_generations``
        that partly succeeded: a re-run replays them and sends only the missing takes."""
        for job in self._candidates(request_hash):
            same_server = job.base_url == base_url or simulated  # the bundled one's port changes
            if job.num_generations != num_generations or job.simulated != simulated:
                continue
            if not same_server:
                continue
            results = self.verified_results(job)
            if results:
                return results[:num_generations]
        return []

    def _candidates(self, request_hash: str) -> list[JobRecord]:
        """The jobs recorded with this request hash, latest first."""
        with self._lock:
            self._refresh()
            ids = self._by_hash.get(request_hash, [])
            return [self._jobs[i] for i in dict.fromkeys(reversed(ids)) if i in self._jobs]

    def find_pending(
        self, request_hash: str, num_generations: int, *, simulated: bool, base_url: str
    ) -> list[JobRecord]:
        """Jobs for exactly this request still running on ``base_url`` when last recorded,
        however old, or whose enqueue may have reached the server (unsent), latest first:
        re-running it must adopt them, never pay again."""
        return [
            job
            for job in self._candidates(request_hash)
            if job.request_hash == request_hash
            and job.num_generations == num_generations
            and job.simulated == simulated
            and job.base_url == base_url
            and (job.pending or job.maybe_queued)
        ]

    def pending(self, *, base_url: str) -> list[JobRecord]:
        """Jobs for ``base_url`` still running when last recorded, or never answered (unsent)."""
        jobs = self.jobs().values()
        return [j for j in jobs if j.base_url == base_url and (j.pending or j.unsent)]
