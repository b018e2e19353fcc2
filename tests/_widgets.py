"""Shared parts of the widget tests: a fake Job (changes announced from another thread) and
client, a real H.264 clip, a request, what a JobView sends, and a RequestForm edit."""

from __future__ import annotations

import threading
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any
from unittest.mock import patch

import av
import numpy as np

from kling_nb.requests import VideoRequest
from kling_nb.store import Ledger
from kling_nb.widgets import JobView, RequestForm

XSS = "<img src=x onerror=alert(1)>"


class FakeResult:
    def __init__(self, path: Path, generation_id: str) -> None:
        self.generation_id = generation_id
        self.path = path
        self.sha256 = "ab" * 32
        self.size = path.stat().st_size
        self.url = None


class FakeGeneration:
    def __init__(self, index: int) -> None:
        self.index = index
        self.id: str | None = None
        self.status = "pending"
        self.enqueued_at: float | None = None
        self.started_at: float | None = None
        self.completed_at: float | None = None
        self.error: str | None = None
        self.result: FakeResult | None = None


class FakeJob:
    """What the contract says a Job has; changes are announced from a separate thread."""

    def __init__(self, request: VideoRequest, n: int = 1, client: Any = None) -> None:
        self.id = "job-1"
        self.request = request
        self.num_generations = n
        self.generations = [FakeGeneration(i) for i in range(n)]
        self.status = "submitting"
        self.replayed = False
        self.simulated = True
        self.estimated_cost = 1.12
        self.created_at = 1_700_000_000.0
        self.finished_at: float | None = None
        self.error: str | None = None
        self.ledger = client.ledger if client is not None else None  # the client's, as a Job's
        self._observers: list[Callable[[Any], None]] = []

    def observe(self, callback: Callable[[Any], None]) -> Callable[[], None]:
        self._observers.append(callback)
        return lambda: self._observers.remove(callback)

    def changed(self) -> None:
        def notify() -> None:
            for cb in list(self._observers):
                cb(self)

        worker = threading.Thread(target=notify)  # like the client's runtime thread
        worker.start()
        worker.join()


class FakeClient:
    def __init__(self, folder: Path | None = None) -> None:
        self.submitted: list[tuple[VideoRequest, int]] = []
        self.ledger = Ledger(folder or Path("unused"))

    def submit(
        self, request: VideoRequest, num_generations: int = 1, force: bool = False
    ) -> FakeJob:
        self.submitted.append((request, num_generations))
        return FakeJob(request, num_generations, self)


def h264_clip(path: Path) -> Path:
    """Write a real 1-second, 64x36 H.264 clip without sound to ``path`` (so duration and poster
    come from the file); each test file's ``mp4`` fixture makes one as ``take.mp4``."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = 64, 36, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 12)
        for i in range(12):
            img = np.full((36, 64, 3), i * 20, dtype=np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(stream.encode(None))
    return path


def request(**kwargs: Any) -> VideoRequest:
    return VideoRequest(**{"prompt": "A puppy runs through a park", "duration": 5, **kwargs})


def sent(view: JobView) -> list[tuple[dict[str, Any], list[bytes]]]:
    """What the view sends; like ZeroMQ, done with each buffer once sent (bytes are kept)."""
    messages: list[tuple[dict[str, Any], list[bytes]]] = []
    view.send = lambda content, buffers=None: messages.append(
        (content, [bytes(b) for b in buffers or []])
    )
    return messages


def ask_for_copy(view: JobView, index: int = 0) -> None:
    """Click "copy with MP3 sound" on take ``index`` and wait for the worker thread it starts,
    even one that ends at once (the copy already there): it is caught as it starts."""
    workers: list[threading.Thread] = []
    start = threading.Thread.start

    def noted(thread: threading.Thread) -> None:
        if thread.name == "kling-copy":
            workers.append(thread)
        start(thread)

    with patch.object(threading.Thread, "start", noted):
        view._on_msg(view, {"kind": "copy", "index": index}, [])
    assert len(workers) == 1, f"{len(workers)} copy workers started"
    workers[0].join(30)
    assert not workers[0].is_alive()


def edit(form: RequestForm, **changes: Any) -> dict[str, list[str]]:
    """Change the form's draft as the browser does; returns the errors Python answered with."""
    draft = {**form.editor.draft, **changes, "seq": form.editor.draft.get("seq", 0) + 1}
    form.editor.draft = draft
    assert form.editor.validated_seq == draft["seq"]
    return dict(form.editor.errors)
