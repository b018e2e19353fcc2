"""Chunks: a file read for the browser a chunk at a time, each straight into the frame ZeroMQ
sends, the next chunk of a file only once the previous one has left the kernel."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
import zmq

from kling_nb.widgets import _chunks
from kling_nb.widgets._chunks import Chunks


def test_a_files_next_chunk_is_read_only_once_the_previous_one_left_the_kernel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("kling_nb.widgets._chunks.CHUNK_BYTES", 1 << 20)
    big = tmp_path / "big.mp4"
    big.write_bytes(os.urandom(3 << 20))
    chunks = Chunks()
    size, first = chunks.read(big, 0)
    assert size == 3 << 20 and bytes(first) == big.read_bytes()[: 1 << 20]
    second: list[bytes] = []
    worker = threading.Thread(target=lambda: second.append(bytes(chunks.read(big, 1 << 20)[1])))
    worker.start()
    worker.join(0.5)
    assert worker.is_alive() and not second  # the first chunk is still in the kernel
    with (
        zmq.Context() as context,
        context.socket(zmq.PAIR) as out,
        context.socket(zmq.PAIR) as into,
    ):
        out.bind("inproc://chunks")
        into.connect("inproc://chunks")
        out.send(first, copy=False)
        del first  # ZeroMQ holds the only reference, until the chunk has gone
        assert into.recv() == big.read_bytes()[: 1 << 20]
        worker.join(30)
    assert second == [big.read_bytes()[1 << 20 : 2 << 20]]


@pytest.fixture
def take(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A 2560-byte file read in 1000-byte chunks: two whole chunks and a partial one."""
    monkeypatch.setattr(_chunks, "CHUNK_BYTES", 1000)
    path = tmp_path / "take.mp4"
    path.write_bytes(bytes(range(256)) * 10)
    return path


def test_each_chunk_is_the_files_bytes_from_its_offset_with_the_files_size(take: Path) -> None:
    whole = take.read_bytes()
    for offset in (0, 1000, 1234):
        size, chunk = Chunks().read(take, offset)
        assert size == len(whole) and bytes(chunk) == whole[offset : offset + 1000]


def test_the_last_chunk_is_what_is_left(take: Path) -> None:
    size, chunk = Chunks().read(take, 2000)
    assert size == 2560 and bytes(chunk) == take.read_bytes()[2000:]


@pytest.mark.parametrize("offset", [2560, 9999])
def test_a_chunk_at_or_past_the_end_is_empty_and_still_says_the_size(
    take: Path, offset: int
) -> None:
    size, chunk = Chunks().read(take, offset)
    assert size == 2560 and bytes(chunk) == b""


def test_a_file_that_cannot_be_read_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Chunks().read(tmp_path / "gone.mp4", 0)


@pytest.fixture
def big(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A 3 MiB file read in 1 MiB chunks: large enough for ZeroMQ to send them without a copy,
    so that a chunk not yet sent is still in the kernel (a small one is copied at once)."""
    monkeypatch.setattr(_chunks, "CHUNK_BYTES", 1 << 20)
    path = tmp_path / "big.mp4"
    path.write_bytes(os.urandom(3 << 20))
    return path


def test_a_chunk_in_transfer_holds_back_only_its_own_files_next(
    big: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_chunks, "LEAVE_SECONDS", 3600.0)  # held back: this test would time out
    other = big.with_name("other.mp4")
    other.write_bytes(b"another take")
    chunks = Chunks()
    _, held = chunks.read(big, 0)  # never sent: still in the kernel
    got: list[bytes] = []
    worker = threading.Thread(
        target=lambda: got.append(bytes(chunks.read(other, 0)[1])), daemon=True
    )
    worker.start()
    worker.join(30)
    assert got == [b"another take"] and bytes(held) == big.read_bytes()[: 1 << 20]


def test_a_chunk_that_never_leaves_holds_the_next_back_only_for_a_while(
    big: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_chunks, "LEAVE_SECONDS", 0.01)  # a stalled connection
    chunks = Chunks()
    _, stalled = chunks.read(big, 0)
    assert not stalled.tracker.done  # the first chunk is still in the kernel
    _, second = chunks.read(big, 1 << 20)
    assert bytes(second) == big.read_bytes()[1 << 20 : 2 << 20] and bytes(stalled)
