"""JobView: mirrors a job from its runtime thread, answers the browser's intents (chunks, copy,
cancel), refreshes its saved fallback when the job ends, and keeps a saved notebook small."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from _widgets import FakeClient, FakeJob, FakeResult, ask_for_copy, h264_clip, request, sent

from kling_nb.jobs import Job
from kling_nb.requests import format_cost
from kling_nb.widgets import JobView, _served
from kling_nb.widgets._playable import copy_path
from kling_nb.widgets.job_view import show


@pytest.fixture(scope="module")
def mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return h264_clip(tmp_path_factory.mktemp("video") / "take.mp4")


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


@dataclass
class Displays:
    """What was displayed, and the updates its display handles received."""

    shown: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def displays(monkeypatch: pytest.MonkeyPatch) -> Displays:
    """IPython's ``display`` replaced by one that records (raw bundles with a display id)."""
    record = Displays()

    class Handle:
        def update(self, data: dict[str, Any], **kwargs: Any) -> None:
            record.updates.append(data)

    def fake_display(data: dict[str, Any], **kwargs: Any) -> Handle:
        assert kwargs["raw"] and kwargs["display_id"] is True
        record.shown.append(data)
        return Handle()

    monkeypatch.setattr("IPython.display.display", fake_display)
    return record


def test_display_refreshes_the_fallback_when_the_job_ends(mp4: Path, displays: Displays) -> None:
    shown, updates = displays.shown, displays.updates
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


def test_a_take_without_a_video_yet_answers_chunk_and_copy_intents_in_words() -> None:
    view = JobView(FakeJob(request()))
    messages = sent(view)
    view._on_msg(view, {"kind": "chunk", "index": 0, "id": "r1"}, [])
    [(content, buffers)] = messages
    assert content == {
        "kind": "chunk",
        "id": "r1",
        "index": 0,
        "which": "original",
        "error": "No video yet.",
    }
    assert not buffers
    view._on_msg(view, {"kind": "copy", "index": 0}, [])
    assert view.notice == "Take 1 has no video yet."


def test_a_copy_made_before_is_shown_and_not_recorded_again(tmp_path: Path, mp4: Path) -> None:
    take = tmp_path / "take.mp4"
    take.write_bytes(mp4.read_bytes())
    copy_path(take).write_bytes(b"made by an earlier view")
    job = FakeJob(request(), client=FakeClient(tmp_path))
    job.generations[0].status = "succeeded"
    job.generations[0].result = FakeResult(take, "gen-0")
    view = JobView(job)
    assert view.generations[0]["copy"]["size"] == len(b"made by an earlier view")
    ask_for_copy(view)
    assert view.notice == "" and view.generations[0]["copy"]["path"].endswith("take.mp3.mp4")
    ledger = tmp_path / "ledger.jsonl"
    lines = ledger.read_text().splitlines() if ledger.exists() else []
    assert not [line for line in lines if json.loads(line)["type"] == "copy"]


def test_a_take_under_the_jupyter_servers_root_has_its_served_paths(
    tmp_path: Path, mp4: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "out").mkdir()
    take = tmp_path / "out" / "take.mp4"
    take.write_bytes(mp4.read_bytes())
    copy_path(take).write_bytes(b"mp3 copy")
    monkeypatch.setattr(_served, "_server_root", lambda: tmp_path.resolve())
    job = FakeJob(request())
    job.generations[0].result = FakeResult(take, "gen-0")
    [gen] = JobView(job).generations
    assert gen["url_path"] == "out/take.mp4" and gen["copy"]["url_path"] == "out/take.mp3.mp4"
    monkeypatch.setattr(_served, "_server_root", lambda: None)  # VS Code: no Jupyter server
    [gen] = JobView(job).generations
    assert gen["url_path"] == "" and gen["copy"]["url_path"] == ""


def test_a_display_that_cannot_be_refreshed_says_so_and_the_view_goes_on(
    mp4: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class ClosedChannel:
        def update(self, data: dict[str, Any], **kwargs: Any) -> None:
            raise OSError("the kernel's channel is closed")

    monkeypatch.setattr("IPython.display.display", lambda data, **kwargs: ClosedChannel())
    job = FakeJob(request())
    view = JobView(job)
    view._ipython_display_()
    job.status = job.generations[0].status = "succeeded"
    job.generations[0].result = FakeResult(mp4, "gen-0")
    job.changed()
    assert view.notice == "Could not refresh the saved output: the kernel's channel is closed"
    assert view.status == "succeeded" and view.generations[0]["status"] == "succeeded"


def test_a_job_shown_once_finished_keeps_no_display_to_refresh(
    mp4: Path, displays: Displays
) -> None:
    shown, updates = displays.shown, displays.updates
    job = FakeJob(request())
    job.status = job.generations[0].status = "succeeded"
    job.generations[0].result = FakeResult(mp4, "gen-0")
    show(job)
    assert "<b>succeeded</b>" in shown[0]["text/html"]  # already final when shown
    job.changed()
    assert updates == []


# -- saved notebooks ---------------------------------------------------------------------------

SETUP = """import threading, kling_nb
from kling_nb.simulator import run
sim = run(generation_seconds=0.5)
client = kling_nb.Client(api_key="sk-test", base_url=sim.base_url, outputs_dir="out",
                         simulated=True)
cell_2_runs = threading.Event()"""
# An observer added before the view holds job1's end (the runtime thread waits in it) until cell 2
# runs: the view's final display update is stamped with the cell running then, and nbclient keeps
# only those. Ended between cells, the update would carry cell 1's parent and be dropped. Since
# observers run before wait() returns, the update has been sent when cell 2's job1.wait() returns.
HOLD = "job1.observe(lambda job: job.done and cell_2_runs.wait(60))"
RELEASE = "cell_2_runs.set(); job1.wait()"


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
            f"{submit.format(1)}\n{HOLD}\nkling_nb.JobView(job1)",  # shown while running
            RELEASE,  # the final display update lands meanwhile
            f"{submit.format(2)}\njob2.wait()\nkling_nb.JobView(job2)",  # shown when finished
        ],
    )
    _, without = run_notebook(
        tmp_path, [f"{submit.format(1)}\n{HOLD}\nNone", RELEASE, f"{submit.format(2)}\nNone"]
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
