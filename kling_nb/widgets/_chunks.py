"""The fallback path's chunks: a file sent to the browser in pieces, without holding it.

Each chunk is read straight into the buffer that ZeroMQ sends (no copy in Python or in ZeroMQ),
and the next chunk of a file is read only once the previous one has left the kernel (ZeroMQ has
written it to the Jupyter server), so the kernel holds at most one chunk per file in transfer
however many the browser asks for at once.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import zmq

__all__ = ["CHUNK_BYTES", "Chunks"]

CHUNK_BYTES = 4 << 20  # per message
# A chunk not gone by then (a stalled connection) no longer holds the next one back.
LEAVE_SECONDS = 30.0


class Chunks:
    """Reads chunks for one view's messages; call :meth:`read` from one thread at a time."""

    def __init__(self) -> None:
        self._leaving: dict[Path, zmq.MessageTracker | None] = {}

    def read(self, path: Path, offset: int) -> tuple[int, zmq.Frame]:
        """The file's size and its chunk from ``offset``, as a frame to send (OSError if it
        cannot be read)."""
        previous = self._leaving.pop(path, None)
        if previous is not None:
            with contextlib.suppress(zmq.NotDone):
                previous.wait(LEAVE_SECONDS)
        with path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            f.seek(offset)
            data = bytearray(max(0, min(CHUNK_BYTES, size - offset)))
            view = memoryview(data)[: f.readinto(data)]
        frame = zmq.Frame(view, track=True)
        self._leaving[path] = frame.tracker
        return size, frame
