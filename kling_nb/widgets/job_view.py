"""JobView: the live view of one Job (what ``%%kling`` and ``client.submit`` display).

State lives in traitlets mirrored from the job by an observer that runs on the client's runtime
thread (it only sets traits). The browser ticks elapsed time itself and sends intents (cancel, a
chunk of a video, a copy with MP3 sound) as custom messages. A finished take plays from the
Jupyter server's ``files/`` URL where the page can reach it (nothing passes through the kernel);
elsewhere the browser asks for the file in chunks, a few at a time, and the kernel holds at most
one chunk per file (``_chunks``). No video sits in a synced trait and the poster frames live only
in the static ``text/html`` fallback, so a saved notebook stays small.
"""

from __future__ import annotations

import contextvars
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import ipywidgets
import traitlets as t

from kling_nb.errors import KlingError
from kling_nb.files import file_sha256
from kling_nb.records import CopyRecord
from kling_nb.state import JOB_FINAL
from kling_nb.summaries import cost_text, shots_text
from kling_nb.takes import typical_for
from kling_nb.widgets._chunks import Chunks
from kling_nb.widgets._fallback import render_html, render_text
from kling_nb.widgets._media import POSTER_BOX, poster_box, probe, video_mime
from kling_nb.widgets._playable import copy_path, make_copy
from kling_nb.widgets._served import served_path
from kling_nb.widgets._static import joined, static_file

if TYPE_CHECKING:  # a job shows itself with this view: a runtime import would be circular
    from kling_nb.jobs import Generation, Job
    from kling_nb.requests import VideoRequest

__all__ = ["JobView", "display_bundle", "show"]


def summarize(request: VideoRequest) -> str:
    """One line: shot count, total seconds and every shot's prompt, shortened."""
    return shots_text(list(request.shots), request.total_duration)


def _display_path(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)


def exports_for(request: VideoRequest, num_generations: int) -> dict[str, str]:
    """The request as a ``%%kling`` cell, Python and cURL (a note where the magic cannot say it)."""
    try:
        magic = request.to_magic(num_generations=num_generations)
    except ValueError as exc:  # a parameter %%kling has no option for
        magic = f"# {exc}"
    return {
        "magic": magic,
        "python": request.to_python(num_generations=num_generations),
        "curl": request.to_curl(num_generations=num_generations),
    }


def _file_state(path: Path) -> dict[str, Any] | None:
    """What the front end needs to load a file (where it is shown, served, its size), or None if
    there is no such file."""
    try:
        size = path.stat().st_size
    except OSError:
        return None
    return {"path": _display_path(path), "url_path": served_path(path), "size": size}


def generation_state(gen: Generation, box: int = POSTER_BOX) -> dict[str, Any]:
    """The per-generation dict: what the front end renders, plus ``poster`` for the fallback.

    A finished take adds its file (``path``, ``url_path``, ``size``), ``audio`` (the codec) and
    ``copy``, the file state of its copy with MP3 sound if one exists. The poster (a ``data:``
    URL within ``box`` pixels, or "") is not synced: JobView keeps it for the static fallback.
    """
    state: dict[str, Any] = {
        "index": gen.index,
        "id": gen.id or "",
        "status": gen.status,
        "error": gen.error or "",
        "enqueued_at": gen.enqueued_at,
        "started_at": gen.started_at,
        "completed_at": gen.completed_at,
        "duration": None,
        "size": None,
        "path": "",
        "url_path": "",
        "sha256": "",
        "audio": "",
        "copy": None,
        "poster": "",
    }
    if gen.result is not None:
        path = Path(gen.result.path)
        media = probe(path, box)
        state.update(
            duration=media.duration,
            size=gen.result.size,
            path=_display_path(path),
            url_path=served_path(path),
            sha256=gen.result.sha256,
            audio=media.audio,
            copy=_file_state(copy_path(path)),
            poster=media.poster,
        )
    return state


class JobFrontend(anywidget.AnyWidget):
    """The JobView's code and style, in one model per kernel that every JobView points at.

    Each anywidget model carries its ``_esm`` and ``_css`` in a saved notebook's widget state; the
    views' own module (``job_loader.js``) is a few lines that run this one's code.
    """

    _esm = joined("common.js", "job.js")
    _css = static_file("kling.css")


_frontend: list[JobFrontend] = []
_FRONTEND_LOCK = threading.Lock()


def shared_frontend() -> JobFrontend:
    """This kernel's :class:`JobFrontend` (made again if it was closed)."""
    with _FRONTEND_LOCK:
        if not _frontend or _frontend[0].comm is None:
            _frontend[:] = [JobFrontend()]
        return _frontend[0]


class JobView(anywidget.AnyWidget):
    """Live view of a :class:`kling_nb.Job`: status, elapsed time, cancel, exports and the video.

    >>> JobView(client.submit(request))  # doctest: +SKIP
    """

    _esm = static_file("job_loader.js")

    frontend = t.Instance(JobFrontend).tag(sync=True, **ipywidgets.widget_serialization)

    model = t.Unicode("").tag(sync=True)
    summary = t.Unicode("").tag(sync=True)
    cost = t.Unicode("").tag(sync=True)
    request_hash = t.Unicode("").tag(sync=True)
    replayed = t.Bool(False).tag(sync=True)
    simulated = t.Bool(False).tag(sync=True)
    status = t.Unicode("submitting").tag(sync=True)
    error = t.Unicode("").tag(sync=True)
    created_at = t.Float(0.0).tag(sync=True)
    finished_at = t.Float(None, allow_none=True).tag(sync=True)
    clock = t.Float(0.0).tag(sync=True)
    generations = t.List(t.Dict()).tag(sync=True)
    exports = t.Dict().tag(sync=True)
    can_cancel_one = t.Bool(False).tag(sync=True)
    notice = t.Unicode("").tag(sync=True)
    # Median seconds of the ledger's latest takes of this model and length (None: no estimate).
    typical_seconds = t.Float(None, allow_none=True).tag(sync=True)

    def __init__(self, job: Job, **kwargs: Any) -> None:
        super().__init__(frontend=shared_frontend(), **kwargs)
        self._job = job
        self._lock = threading.RLock()  # a job may announce a change from inside our own call
        self._handles: list[Any] = []  # displays whose static fallback is refreshed when final
        self._posters: dict[int, str] = {}  # per take, for the fallback only (never synced)
        self._chunks = Chunks()
        request = job.request
        n = job.num_generations
        with self.hold_sync():
            self.model = request.model
            self.summary = summarize(request)
            self.typical_seconds = typical_for(job)
            self.request_hash = request.request_hash
            self.exports = exports_for(request, n)
            self.can_cancel_one = True
        self.on_msg(self._on_msg)
        # Subscribed before the first sync: the runtime thread may change the job at any moment
        # (its generations attached while this view was being made), and a change between a
        # sync and the subscription would be missed until the next one, minutes later.
        self._unsubscribe: Callable[[], None] | None = job.observe(self._on_change)
        self._sync(job)

    @property
    def job(self) -> Job:
        """The job this view shows."""
        return self._job

    def _on_change(self, job: Job) -> None:
        # Runs on the client's runtime thread, in the context of the task that submitted the job.
        # An empty context makes the kernel stamp these messages with the cell running now, as a
        # plain thread's would be: nbclient keeps only those, and JupyterLab routes either way.
        contextvars.Context().run(self._sync, job)

    def _sync(self, job: Job) -> None:
        # Runs on the client's runtime thread: set traits only, never print or display.
        with self._lock, self.hold_sync():
            self.status = job.status
            self.cost = cost_text(job)
            self.error = job.error or ""
            self.replayed = bool(job.replayed)
            self.simulated = bool(job.simulated)
            self.created_at = float(job.created_at)
            self.finished_at = job.finished_at
            box = poster_box(len(job.generations))
            generations = [generation_state(g, box) for g in job.generations]
            self._posters = {g["index"]: g.pop("poster") for g in generations}
            self.generations = generations
            self.clock = time.time()
            handles = self._handles if job.status in JOB_FINAL else []
            self._handles = [] if handles else self._handles
        self._refresh_displays(handles)

    def _refresh_displays(self, handles: list[Any]) -> None:
        # update_display targets the output by its display_id (it never lands in the running cell),
        # so the saved notebook's text/html fallback shows the final status, poster and path.
        # Measured: JupyterLab applies it even after the cell finished; nbclient while it runs.
        if not handles:
            return
        bundle = self._repr_mimebundle_()
        if bundle is None:
            return
        for handle in handles:
            try:
                handle.update(bundle[0], metadata=bundle[1], raw=True)
            except Exception as exc:  # a closed kernel channel must not break the observer
                self.notice = f"Could not refresh the saved output: {exc}"

    def _on_msg(self, _widget: object, content: dict[str, Any], _buffers: list[bytes]) -> None:
        kind = content.get("kind")
        try:
            if kind == "chunk":
                index, offset = int(content["index"]), int(content.get("offset", 0))
                copy = content.get("which") == "copy"
                self._send_chunk(index, offset, copy, str(content.get("id", "")))
            elif kind == "copy":
                self._start_copy(int(content["index"]))
            elif kind == "cancel":
                self._cancel(content.get("index"))
        except Exception as exc:  # shown in the view: a failed intent must not vanish
            self.notice = f"{type(exc).__name__}: {exc}"

    def _send_chunk(self, index: int, offset: int, copy: bool, request_id: str) -> None:
        """One chunk of a take's file (or of its copy) from ``offset``, with the file's size."""
        gen = self._job.generations[index]
        which = "copy" if copy else "original"
        reply: dict[str, Any] = {"kind": "chunk", "id": request_id, "index": index, "which": which}
        if gen.result is None:
            self.send({**reply, "error": "No video yet."})
            return
        path = Path(gen.result.path)
        path = copy_path(path) if copy else path
        try:
            size, chunk = self._chunks.read(path, offset)
        except OSError as exc:
            msg = (
                f"Cannot read {path}: {exc.strerror}. Run the cell again to replay or re-download."
            )
            self.send({**reply, "error": msg})
            return
        reply.update(offset=offset, size=size, mime=video_mime(path))
        self.send(reply, buffers=[chunk])

    def _start_copy(self, index: int) -> None:
        """Make the take's copy with MP3 sound on a thread (the kernel stays free meanwhile)."""
        result = self._job.generations[index].result
        if result is None:
            self.notice = f"Take {index + 1} has no video yet."
            return
        self.notice = f"Making a copy of take {index + 1} with MP3 sound…"
        worker = threading.Thread(
            target=self._copy, args=(index, Path(result.path)), daemon=True, name="kling-copy"
        )
        worker.start()

    def _copy(self, index: int, original: Path) -> None:
        existed = copy_path(original).is_file()
        try:
            copy = make_copy(original)
        except Exception as exc:
            self.notice = f"Could not make the copy of take {index + 1}: {exc}"
            return
        notice = ""
        ledger = self._job.ledger
        if not existed and ledger is not None:
            relative = os.path.relpath(copy, ledger.folder)
            size, sha = copy.stat().st_size, file_sha256(copy)
            record = CopyRecord(
                job_id=self._job.id, index=index, path=relative, sha256=sha, size=size
            )
            try:
                ledger.append(record)
            except KlingError as exc:  # the copy is there; only its record is missing
                notice = exc.message
        self.notice = notice
        self._on_change(self._job)

    def _cancel(self, index: object) -> None:
        # Never waits: the kernel's message handler must stay free while the DELETE runs.
        if index is None:
            self._job.cancel(wait=False)
            self.notice = "Cancel requested for all generations."
            return
        gen = self._job.generations[int(str(index))]
        if not gen.id:
            self.notice = "This generation has no server id yet; use 'Cancel all'."
            return
        self._job.cancel(wait=False, index=gen.index)
        self.notice = f"Cancel requested for take {gen.index + 1}."

    def close(self) -> None:
        """Stop observing the job and close the widget."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        super().close()

    def state(self) -> dict[str, Any]:
        """The view's current state as plain data (what the static fallback shows)."""
        names = ("model", "summary", "cost", "request_hash", "replayed", "simulated", "status")
        data: dict[str, Any] = {name: getattr(self, name) for name in names}
        generations = [{**g, "poster": self._posters.get(g["index"], "")} for g in self.generations]
        data.update(error=self.error, generations=generations)
        data.update(created_at=self.created_at, finished_at=self.finished_at)
        return data

    def _ipython_display_(self) -> None:
        """Display with a display_id, so the static fallback is refreshed when the job ends."""
        from IPython.display import display

        bundle = self._repr_mimebundle_()
        if bundle is None:
            return
        handle = display(  # type: ignore[no-untyped-call]
            bundle[0], metadata=bundle[1], raw=True, display_id=True
        )
        with self._lock:
            if handle is not None and self.status not in JOB_FINAL:
                self._handles.append(handle)

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:
            return None
        data, metadata = bundle
        state = self.state()
        data["text/plain"] = render_text(state)
        data["text/html"] = render_html(state)
        return data, metadata


def show(job: Job) -> None:
    """Display a live JobView of ``job`` whose saved fallback is refreshed when it ends.

    Returns nothing (like ``display``), so a cell ending in ``show(job)`` shows one view.
    """
    JobView(job)._ipython_display_()


def display_bundle(job: Job) -> tuple[dict[str, Any], dict[str, Any]]:
    """The mimebundle for ``Job._repr_mimebundle_``: a live JobView plus the static fallback."""
    bundle = JobView(job)._repr_mimebundle_()
    assert bundle is not None
    return bundle
