"""The widgets' Python side: JobView mirrors a job, answers intents, and RequestForm validates."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import zmq

from kling_nb.jobs import Job
from kling_nb.requests import VideoRequest, format_cost
from kling_nb.simulator.video import render_video
from kling_nb.store import Ledger
from kling_nb.widgets import JobView, RequestForm, _served
from kling_nb.widgets._chunks import Chunks
from kling_nb.widgets._playable import copy_path
from kling_nb.widgets._static import static_dir, static_file
from kling_nb.widgets.job_view import display_bundle, show

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


@pytest.fixture(scope="module")
def mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real 1-second H.264 clip (so duration and poster come from the file)."""
    path = tmp_path_factory.mktemp("video") / "take.mp4"
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


def test_job_view_mirrors_every_transition(mp4: Path) -> None:
    job = FakeJob(request(), 2)
    view = JobView(job)
    assert (view.status, view.model, view.simulated) == ("submitting", job.request.model, True)
    assert view.cost == format_cost(1.12)
    steps: list[tuple[str, str]] = [
        ("queued", "queued"),
        ("processing", "processing"),
        ("downloading", "downloading"),
        ("succeeded", "succeeded"),
    ]
    for job_status, gen_status in steps:
        job.status = job_status
        for i, g in enumerate(job.generations):
            g.id = f"gen-{i}"
            g.status = gen_status
            g.enqueued_at = job.created_at + 1
            g.started_at = job.created_at + 2 if gen_status != "queued" else None
        if gen_status == "succeeded":
            for g in job.generations:
                g.completed_at = job.created_at + 30
                g.result = FakeResult(mp4, g.id or "")
            job.finished_at = job.created_at + 31
        job.changed()
        assert view.status == job_status
        assert [g["status"] for g in view.generations] == [gen_status] * 2
        assert [g["id"] for g in view.generations] == ["gen-0", "gen-1"]
    done = view.generations[1]
    assert done["started_at"] == job.created_at + 2 and done["completed_at"] == job.created_at + 30
    assert done["size"] == mp4.stat().st_size and done["sha256"] == "ab" * 32
    assert Path(done["path"]).resolve() == mp4.resolve()
    assert done["duration"] == pytest.approx(1.0, abs=0.1)
    assert "poster" not in done  # the live view plays the video; posters are for the fallback
    [poster] = {g["poster"] for g in view.state()["generations"]}
    assert poster.startswith("data:image/jpeg;base64,") and len(poster) <= 112 * 13
    assert view.finished_at == job.created_at + 31


def test_grid_posters_are_smaller_and_within_budget(mp4: Path) -> None:
    job = FakeJob(request(), 4)
    for i, g in enumerate(job.generations):
        g.status = "succeeded"
        g.result = FakeResult(mp4, f"gen-{i}")
    job.status = "succeeded"
    view = JobView(job)
    single = JobView(FakeJob(request())).state()  # no result: no poster
    assert single["generations"][0]["poster"] == ""
    posters = [g["poster"] for g in view.state()["generations"]]
    assert all(p.startswith("data:image/jpeg;base64,") and len(p) <= 80 * 13 for p in posters)
    assert all("poster" not in g for g in view.generations)


@pytest.mark.parametrize("final", ["failed", "cancelled", "timed_out", "partial", "error"])
def test_job_view_shows_final_states_and_errors(final: str) -> None:
    job = FakeJob(request(), 2)
    view = JobView(job)
    job.status = final
    job.generations[0].status = "failed" if final != "cancelled" else "cancelled"
    job.generations[0].error = "Content moderation refused the prompt."
    job.error = "Network unreachable: check the connection." if final == "error" else None
    job.replayed = final == "partial"
    job.changed()
    assert view.status == final and view.replayed is (final == "partial")
    assert view.generations[0]["error"] == "Content moderation refused the prompt."
    assert view.error == (job.error or "")


def test_unsubscribes_on_close() -> None:
    job = FakeJob(request())
    view = JobView(job)
    view.close()
    assert job._observers == []


def test_the_file_goes_in_chunks_one_per_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("kling_nb.widgets._chunks.CHUNK_BYTES", 1000)
    big = tmp_path / "big.mp4"
    big.write_bytes(bytes(range(256)) * 10)  # 2560 bytes: three chunks
    job = FakeJob(request())
    job.generations[0].result = FakeResult(big, "gen-0")
    view = JobView(job)
    messages = sent(view)
    received = b""
    while len(received) < big.stat().st_size:
        ask = {"kind": "chunk", "index": 0, "offset": len(received), "id": "r1"}
        view._on_msg(view, ask, [])
        content, buffers = messages[-1]
        assert content == {
            "kind": "chunk",
            "id": "r1",
            "index": 0,
            "which": "original",
            "offset": len(received),
            "size": 2560,
            "mime": "video/mp4",
        }
        [chunk] = buffers
        assert 0 < len(chunk) <= 1000  # never more than a chunk per message
        received += bytes(chunk)
    assert received == big.read_bytes() and len(messages) == 3
    assert "buffers" not in view.get_state()  # the video never sits in a synced trait


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


def test_a_chunk_of_a_missing_file_names_it(tmp_path: Path, mp4: Path) -> None:
    job = FakeJob(request())
    gone = tmp_path / "gone.mp4"
    gone.write_bytes(mp4.read_bytes())
    job.generations[0].result = FakeResult(gone, "gen-0")
    view = JobView(job)
    gone.unlink()
    messages = sent(view)
    view._on_msg(view, {"kind": "chunk", "index": 0, "offset": 0}, [])
    [(content, buffers)] = messages
    assert "Cannot read" in content["error"] and "gone.mp4" in content["error"] and not buffers


def test_served_path_is_relative_to_the_parent_jupyter_servers_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json
    import os

    root, runtime = tmp_path / "root", tmp_path / "runtime"
    (root / "sub").mkdir(parents=True)
    runtime.mkdir()
    take = root / "sub" / "take 1.mp4"
    take.write_bytes(b"x")
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    monkeypatch.setattr(_served, "_server_root", _served._server_root.__wrapped__)
    assert _served.served_path(take) == ""  # no server started this process
    info = runtime / f"jpserver-{os.getppid()}.json"
    info.write_text(json.dumps({"root_dir": str(root), "base_url": "/"}))
    assert _served.served_path(take) == "sub/take 1.mp4"
    assert _served.served_path(tmp_path / "elsewhere.mp4") == ""  # outside the root
    (root / ".hidden").mkdir()
    assert _served.served_path(root / ".hidden" / "take.mp4") == ""  # the server refuses it


def test_an_aac_take_gets_a_copy_with_mp3_sound_recorded_in_the_ledger(tmp_path: Path) -> None:
    import av

    take = tmp_path / "take.mp4"
    payload = {"model": "kling-video-o3-pro-reference-to-video", "prompt": "a", "duration": 3}
    take.write_bytes(render_video({**payload, "generate_audio": True}, height=36))
    client = FakeClient(tmp_path)
    job = FakeJob(request(), client=client)
    job.generations[0].status = "succeeded"
    job.generations[0].result = FakeResult(take, "gen-0")
    view = JobView(job)
    assert view.generations[0]["audio"] == "aac" and view.generations[0]["copy"] is None
    view._on_msg(view, {"kind": "copy", "index": 0}, [])
    [worker] = [th for th in threading.enumerate() if th.name == "kling-copy"]
    worker.join(30)
    copy = copy_path(take)
    assert view.notice == "" and view.generations[0]["copy"]["path"].endswith("take.mp3.mp4")
    assert view.generations[0]["copy"]["size"] == copy.stat().st_size
    with av.open(str(copy)) as f, av.open(str(take)) as original:
        assert [s.codec_context.name for s in f.streams] == ["h264", "mp3float"]
        assert abs(f.duration - original.duration) < 200_000  # microseconds
        [video] = original.streams.video
        assert f.streams.video[0].frames == video.frames  # the video is copied, not re-encoded
    [record] = [
        json.loads(line)
        for line in (tmp_path / "ledger.jsonl").read_text().splitlines()
        if json.loads(line)["type"] == "copy"
    ]
    assert record["path"] == "take.mp3.mp4" and record["audio"] == "mp3" and record["index"] == 0
    assert record["size"] == copy.stat().st_size and record["job_id"] == "job-1"
    messages = sent(view)
    view._on_msg(view, {"kind": "chunk", "index": 0, "which": "copy", "id": "c"}, [])
    assert bytes(messages[0][1][0]) == copy.read_bytes()  # small enough for one chunk


def test_cancel_intents_reach_the_job_without_waiting() -> None:
    cancels: list[tuple[bool, int | None]] = []
    job = Job(request(), 2, job_id="job-1", canceller=lambda _, wait, i: cancels.append((wait, i)))
    job.generations[1].id = "gen-1"
    view = JobView(job)
    assert view.can_cancel_one
    view._on_msg(view, {"kind": "cancel", "index": 1}, [])
    assert cancels == [(False, 1)]  # never blocks the kernel's message handler
    view._on_msg(view, {"kind": "cancel"}, [])
    assert cancels == [(False, 1), (False, None)] and job.cancel_requested
    view._on_msg(view, {"kind": "cancel", "index": 0}, [])  # no server id yet
    assert len(cancels) == 2 and "no server id" in view.notice


def test_a_change_made_while_the_view_subscribes_is_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    job = Job(request(), 2, job_id="job-1")
    subscribe = job.observe

    def attached_meanwhile(callback: Callable[[Job], None]) -> Callable[[], None]:
        # the runtime thread attaches the generations just as the view subscribes
        for gen in job.generations:
            gen.id = f"gen-{gen.index}"
            job.set(gen, "queued")
        job.changed()
        return subscribe(callback)

    monkeypatch.setattr(job, "observe", attached_meanwhile)
    view = JobView(job)
    assert view.status == "queued"
    assert [g["id"] for g in view.generations] == ["gen-0", "gen-1"]  # per-take Cancel shows


def test_failed_intent_is_shown_not_dropped() -> None:
    def broken(job: Job, wait: bool, index: int | None) -> None:
        raise RuntimeError("DELETE failed: 503")

    view = JobView(Job(request(), job_id="job-1", canceller=broken))
    view._on_msg(view, {"kind": "cancel"}, [])
    assert view.notice == "RuntimeError: DELETE failed: 503"


def test_exports_are_the_requests_own() -> None:
    req = request(aspect_ratio="9:16")
    view = JobView(FakeJob(req, 3))
    assert view.exports == {
        "magic": req.to_magic(num_generations=3),
        "python": req.to_python(num_generations=3),
        "curl": req.to_curl(num_generations=3),
    }


def test_xss_prompt_is_only_data(mp4: Path) -> None:
    job = FakeJob(request(prompt=XSS))
    job.generations[0].error = XSS
    job.generations[0].result = FakeResult(mp4, "gen-0")
    data, _ = display_bundle(job)
    view = JobView(job)
    assert XSS in view.summary and view.generations[0]["error"] == XSS
    html = data["text/html"]
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert XSS in data["text/plain"]


def test_static_fallback_has_provenance_and_poster(mp4: Path) -> None:
    job = FakeJob(request())
    job.status = "succeeded"
    job.generations[0].id = "gen-abc"
    job.generations[0].status = "succeeded"
    job.generations[0].result = FakeResult(mp4, "gen-abc")
    data, _ = display_bundle(job)
    assert data["application/vnd.jupyter.widget-view+json"]["model_id"]
    html = data["text/html"]
    for fact in ("gen-abc", "ab" * 32, job.request.request_hash, "succeeded", "take.mp4"):
        assert fact in html
    assert ' poster="data:image/jpeg;base64,' in html and '<video src="' in html
    assert "SIMULATED" not in html and "[simulated]" in html


def test_display_refreshes_the_fallback_when_the_job_ends(
    mp4: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    updates: list[dict[str, Any]] = []

    class Handle:
        def update(self, data: dict[str, Any], **kwargs: Any) -> None:
            updates.append(data)

    shown: list[dict[str, Any]] = []

    def fake_display(data: dict[str, Any], **kwargs: Any) -> Handle:
        assert kwargs["raw"] and kwargs["display_id"] is True
        shown.append(data)
        return Handle()

    monkeypatch.setattr("IPython.display.display", fake_display)
    job = FakeJob(request())
    show(job)
    assert "processing" not in shown[0]["text/html"] and "submitting" in shown[0]["text/html"]
    job.status = job.generations[0].status = "processing"
    job.changed()
    assert updates == []  # only the final state is worth a display update
    job.status = job.generations[0].status = "succeeded"
    job.generations[0].result = FakeResult(mp4, "gen-0")
    job.changed()
    [final] = updates
    model_id = shown[0]["application/vnd.jupyter.widget-view+json"]["model_id"]
    assert final["application/vnd.jupyter.widget-view+json"]["model_id"] == model_id
    assert "<b>succeeded</b>" in final["text/html"] and "take.mp4" in final["text/html"]
    job.changed()
    assert len(updates) == 1


def test_the_front_end_is_the_plain_files_and_views_share_theirs() -> None:
    text = {p.name: static_file(p.name).read_text() for p in static_dir().iterdir()}
    assert {"common.js", "job.js", "job_loader.js", "form.js", "kling.css"} <= set(text)
    first, second = JobView(FakeJob(request())), JobView(FakeJob(request()))
    assert first._esm == text["job_loader.js"] and not hasattr(first, "_css")
    assert first.frontend is second.frontend  # the code and style are saved once per notebook
    assert first.get_state()["frontend"] == f"IPY_MODEL_{first.frontend.model_id}"
    assert first.frontend._esm == text["common.js"] + "\n" + text["job.js"]
    assert first.frontend._css == text["kling.css"]
    first.frontend.close()
    assert JobView(FakeJob(request())).frontend.comm is not None  # a closed one is replaced
    editor = RequestForm().editor
    assert editor._esm == "\n".join(
        text[n] for n in ("common.js", "picker.js", "inputs.js", "form.js")
    )
    assert editor._css == text["kling.css"] + "\n" + text["form.css"]


# -- RequestForm -------------------------------------------------------------------------------


def edit(form: RequestForm, **changes: Any) -> dict[str, list[str]]:
    draft = {**form.editor.draft, **changes, "seq": form.editor.draft.get("seq", 0) + 1}
    form.editor.draft = draft
    assert form.editor.validated_seq == draft["seq"]
    return dict(form.editor.errors)


def test_form_starts_blank_and_invalid() -> None:
    form = RequestForm()
    assert {m["alias"] for m in form.editor.models} >= {"o3-pro", "o3-4k"}
    assert not form.editor.valid and form.editor.errors
    with pytest.raises(ValueError, match="not valid yet"):
        _ = form.request


def test_form_validates_prompt_length_and_clears() -> None:
    form = RequestForm()
    errors = edit(form, prompt="x" * 513)
    assert list(errors) == ["prompt"] and not form.editor.valid
    assert form.editor.exports == {} and form.editor.cost == ""
    errors = edit(form, prompt="x" * 512)
    assert errors == {} and form.editor.valid
    assert form.request.prompt == "x" * 512
    assert form.editor.cost == format_cost(0.224 * 5)


def test_form_maps_shot_errors_to_their_fields() -> None:
    form = RequestForm()
    shots = [{"prompt": "one", "duration": 10}, {"prompt": "two", "duration": 6}]
    errors = edit(form, mode="shots", multi_prompt=shots)
    assert any("16s" in " ".join(m) for m in errors.values()), errors
    shots = [{"prompt": "one", "duration": 10}, {"prompt": "", "duration": 16}]
    errors = edit(form, multi_prompt=shots)
    assert any(path.startswith("multi_prompt.1") for path in errors), errors


def test_form_flags_missing_image_reference() -> None:
    form = RequestForm()
    errors = edit(form, prompt="@Image2 walks", input_image=["https://example.com/a.jpg"])
    assert errors and not form.editor.valid
    assert any("@Image2" in m or "Image2" in m for ms in errors.values() for m in ms), errors
    assert edit(form, prompt="@Image1 walks") == {}


def test_form_checks_takes_and_scales_cost() -> None:
    form = RequestForm()
    assert "num_generations" in edit(form, prompt="p", num_generations=5)
    assert edit(form, num_generations=3) == {}
    assert form.num_generations == 3 and form.editor.cost.endswith("for 3 takes")
    assert form.editor.exports["magic"] == form.request.to_magic(num_generations=3)
    assert form.editor.exports["curl"] == form.request.to_curl(num_generations=3)
    assert form.editor.exports["python"] == form.request.to_python(num_generations=3)


def test_from_request_round_trips() -> None:
    req = VideoRequest(
        model="o3-pro",
        multi_prompt=[{"prompt": "@Image1 walks in", "duration": 4}, {"prompt": "@Element1 waves"}],
        input_image=["https://example.com/face.jpg"],
        elements=[
            {
                "frontal_image_url": "https://example.com/f.jpg",
                "reference_image_urls": ["https://example.com/s.jpg"],
            }
        ],
        start_image_url="https://example.com/start.jpg",
        tail_image_url="https://example.com/end.jpg",
        negative_prompt="blur",
        aspect_ratio="9:16",
        generate_audio=True,
    )
    form = RequestForm.from_request(req, num_generations=2)
    assert form.editor.errors == {}
    assert form.request.canonical_json() == req.canonical_json()
    assert form.num_generations == 2


@pytest.mark.parametrize(
    "fields",
    [
        {"model": "o3-pro-i2v", "prompt": "@Image1 moves", "input_image": "https://e.com/a.jpg"},
        {"model": "v2.6-t2v", "prompt": "a cat", "cfg_scale": 0.7, "duration": 10},
        {"model": "o3-pro", "prompt": "x", "target_namespace": "my-org", "aspect_ratio": "1:1"},
    ],
)
def test_from_request_round_trips_other_models(fields: dict[str, Any]) -> None:
    req = VideoRequest(**fields)
    form = RequestForm.from_request(req)
    assert form.editor.errors == {}
    assert form.request.canonical_json() == req.canonical_json()
    assert form.editor.exports["python"] == req.to_python()


def test_magic_export_that_cannot_be_written_says_why() -> None:
    form = RequestForm.from_request(VideoRequest(model="v2.6-t2v", prompt="a", cfg_scale=0.7))
    assert (
        form.editor.exports["magic"].startswith("# ")
        and "cfg_scale" in form.editor.exports["magic"]
    )


def test_submit_shows_a_job_view_under_the_form() -> None:
    client = FakeClient()
    form = RequestForm(client)
    edit(form, prompt="A cat", num_generations=2)
    form.editor._handle_custom_msg({"kind": "submit"}, [])
    [(req, n)] = client.submitted
    assert (req.prompt, n) == ("A cat", 2)
    assert len(form.children) == 2 and isinstance(form.children[1], JobView)
    assert form.children[1].job is form.jobs[0]
    assert form.editor.submitted == 1


def test_submit_without_client_says_what_to_do() -> None:
    form = RequestForm()
    edit(form, prompt="A cat")
    form.editor._handle_custom_msg({"kind": "submit"}, [])
    assert "RequestForm(client=kling_nb.Client())" in form.editor.notice


def test_form_keeps_xss_as_data() -> None:
    form = RequestForm()
    assert edit(form, prompt=XSS) == {}
    assert form.request.prompt == XSS


# -- saved notebooks ---------------------------------------------------------------------------

SETUP = """import time, kling_nb
from kling_nb.simulator import run
sim = run(generation_seconds=0.5)
client = kling_nb.Client(api_key="sk-test", base_url=sim.base_url, outputs_dir="out",
                         simulated=True)"""


def run_notebook(tmp_path: Path, cells: list[str]) -> tuple[Any, int]:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in [SETUP, *cells]]
    client = NotebookClient(
        nb,
        kernel_name="python3",
        store_widget_state=True,
        resources={"metadata": {"path": tmp_path}},
    )
    client.execute()
    return nb, len(nbformat.writes(nb).encode())


@pytest.mark.parametrize("takes", [1, 4])
def test_saved_notebook_grows_little_and_keeps_a_current_fallback(
    tmp_path: Path, takes: int
) -> None:
    submit = "job{0} = client.submit(kling_nb.VideoRequest(prompt='take {0}', duration=3), TAKES)"
    submit = submit.replace("TAKES", str(takes))
    views, with_views = run_notebook(
        tmp_path,
        [
            f"{submit.format(1)}\nkling_nb.JobView(job1)",  # shown while running
            "job1.wait(); time.sleep(0.5)",  # the final display update lands meanwhile
            f"{submit.format(2)}\njob2.wait()\nkling_nb.JobView(job2)",  # shown when finished
        ],
    )
    _, without = run_notebook(
        tmp_path,
        [f"{submit.format(1)}\nNone", "job1.wait(); time.sleep(0.5)", f"{submit.format(2)}\nNone"],
    )
    # The views' code and style are saved once per notebook, in the one JobFrontend model.
    import nbformat

    state = views.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    [shared_id] = [k for k, m in state.items() if "function render" in m["state"].get("_esm", "")]
    del state[shared_id]
    once = with_views - len(nbformat.writes(views).encode())
    per_view = (with_views - once - without) / 2
    print(
        f"notebook growth per finished {takes}-take JobView: {per_view / 1000:.1f} KB "
        f"(and {once / 1000:.1f} KB once per notebook for the views' code and style)"
    )
    assert per_view < 20_000 and once < 20_000
    for cell in (1, 3):
        first = views.cells[cell].outputs[0]["data"]
        html = first["text/html"]
        assert "<b>succeeded</b>" in html and html.count('poster="data:image/jpeg') == takes
        assert html.count("sha256 <code>") == takes and html.count(".mp4") >= takes
        state = views.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
        view_state = state[first["application/vnd.jupyter.widget-view+json"]["model_id"]]["state"]
        assert view_state["status"] == "succeeded"
        assert [g["status"] for g in view_state["generations"]] == ["succeeded"] * takes
        assert not any("poster" in g for g in view_state["generations"])
