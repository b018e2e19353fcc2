"""Result files in the outputs folder: collision-free names, temporary files, safe placement.

A result is written to a hidden ``.part`` file beside its final name (same file system, so the
rename is atomic), locked with ``flock`` while it is written; a ``.part`` file nobody holds is
left over from a killed process and ``clean_parts`` removes it. A finished file is linked into
place and never replaces a file it did not write: a name already taken by other bytes (a user's
own file, say) gets a numbered neighbour instead.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from kling_nb.errors import DownloadError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock (see ``lock``)
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "PartFile",
    "Saved",
    "clean_parts",
    "extension",
    "file_sha256",
    "lock",
    "result_name",
    "save_b64",
    "unlock",
]

_EXTENSIONS = {
    "video/mp4": ".mp4",
    "video/webm": ".webm",
    "video/quicktime": ".mov",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "image/gif": ".gif",
}
_PART = ".part"


def result_name(generation_id: str) -> str:
    """A file name stem for a generation id: a readable prefix of ``[A-Za-z0-9_-]`` plus a hash
    of the whole id, so distinct ids (``a/b`` and ``a_b``, long ids sharing a prefix, ids
    with no ASCII letters) never share a name."""
    prefix = re.sub(r"[^A-Za-z0-9_-]", "_", generation_id)[:48].strip("_-") or "generation"
    digest = hashlib.sha256(generation_id.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{prefix}-{digest}"


def extension(content_type: str, url_path: str) -> str:
    """The file extension for a result's ``Content-Type`` (else its URL path's, else .mp4)."""
    ext = _EXTENSIONS.get(content_type.split(";")[0].strip().lower())
    if ext:
        return ext
    suffix = Path(url_path).suffix.lower()
    return suffix if suffix in _EXTENSIONS.values() else ".mp4"


@dataclass(frozen=True)
class Saved:
    """A file saved in the outputs folder."""

    path: Path
    sha256: str
    size: int


class PartFile:
    """A locked temporary file being written and hashed; ``keep`` puts it in place, leaving the
    ``with`` block without ``keep`` removes it. ``limit`` caps its size (``DownloadError``)."""

    def __init__(self, folder: Path, stem: str, limit: int | None = None) -> None:
        self.folder, self.stem, self.limit = folder, stem, limit
        self.size = 0
        self._digest = hashlib.sha256()
        folder.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        self.path = folder / f".{stem}.{secrets.token_hex(6)}{_PART}"
        self._fd = os.open(self.path, flags, 0o644)
        lock(self._fd)

    def __enter__(self) -> PartFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._close()
        self.path.unlink(missing_ok=True)

    def write(self, chunk: bytes) -> None:
        """Append and hash one chunk."""
        self.size += len(chunk)
        if self.limit is not None and self.size > self.limit:
            raise DownloadError(
                f"The result passed the size cap of {self.limit / 1e9:.3g} GB "
                "(retry.Policy.max_download_bytes) and was stopped.",
                retry="fresh_url",
            )
        self._digest.update(chunk)
        view = memoryview(chunk)
        while view:
            view = view[os.write(self._fd, view) :]

    def keep(self, ext: str) -> Saved:
        """Close the file and link it into place as ``<stem><ext>`` (or a numbered neighbour
        when that name holds other bytes); an identical file already there is reused."""
        self._close()
        sha = self._digest.hexdigest()
        for n in range(100):
            final = self.folder / (self.stem + (f"-{n}" if n else "") + ext)
            if _place(self.path, final) or _same(final, self.size, sha):
                self.path.unlink(missing_ok=True)
                return Saved(path=final, sha256=sha, size=self.size)
        raise DownloadError(f"No free file name for {self.stem}{ext} in {self.folder}.")

    def _close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # also releases the lock
            self._fd = -1


def _place(part: Path, final: Path) -> bool:
    """Put ``part`` at ``final`` if that name is free; False if it is taken."""
    try:
        os.link(part, final)
        return True
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links: claim the name, then rename over it
        try:
            os.close(os.open(final, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        except FileExistsError:
            return False
        os.replace(part, final)
        return True


def _same(path: Path, size: int, sha256: str) -> bool:
    try:
        return path.stat().st_size == size and file_sha256(path) == sha256
    except OSError:
        return False


def file_sha256(path: Path) -> str:
    """The sha256 hex digest of a file."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def lock(fd: int, wait: bool = True) -> bool:
    """Lock the open file ``fd`` for this process until it is closed (``flock``, exclusive):
    False if another process holds it and ``wait`` is False. Without ``fcntl`` (Windows) there
    is no lock: True, and callers that need to know (``clean_parts``) check ``fcntl`` first."""
    if fcntl is None:  # pragma: no cover
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except OSError:  # held by another process (or locks unsupported there)
        if wait:
            raise
        return False
    return True


def unlock(fd: int) -> None:
    """Release ``lock`` before closing ``fd`` (a file kept open)."""
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def clean_parts(folder: Path) -> int:
    """Remove the ``.part`` files in ``folder`` that no process is writing (left by a killed
    one); how many were removed."""
    if fcntl is None:
        return 0
    removed = 0
    try:
        names = [n for n in os.listdir(folder) if n.startswith(".") and n.endswith(_PART)]
    except OSError:
        return 0
    for name in names:
        path = folder / name
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            continue
        if not lock(fd, wait=False):
            os.close(fd)  # held: a download in progress, maybe in another kernel
            continue
        with contextlib.suppress(OSError):
            path.unlink()
            removed += 1
        os.close(fd)
    return removed


def save_b64(data: str, folder: Path, stem: str) -> Saved:
    """Decode a ``b64_json`` result and save it as ``folder/<stem>.mp4``."""
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise DownloadError("The server sent an unreadable b64_json video.") from None
    with PartFile(folder, stem) as part:
        part.write(raw)
        return part.keep(".mp4")
