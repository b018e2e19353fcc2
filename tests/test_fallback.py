"""The static fallback of a JobView (GitHub, nbviewer, an HTML export): every user or server text
escaped, the file's local path (never a URL) with its poster frame, and a plain-text version."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any, get_args

import pytest
from _widgets import XSS, FakeJob, FakeResult, h264_clip, request

from kling_nb.state import JOB_FINAL, JobStatus
from kling_nb.widgets import JobView
from kling_nb.widgets._fallback import render_html, render_text
from kling_nb.widgets.job_view import display_bundle

POSTER = "data:image/jpeg;base64,/9j/4AAQ"


@pytest.fixture(scope="module")
def mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return h264_clip(tmp_path_factory.mktemp("video") / "take.mp4")


def take(**fields: Any) -> dict[str, Any]:
    """A take's state as JobView.state() gives it: a finished one unless ``fields`` say else."""
    return {
        "index": 0,
        "id": "gen-1",
        "status": "succeeded",
        "error": "",
        "path": "out/take.mp4",
        "sha256": "ab" * 32,
        "size": 1_234_567,
        "duration": 5.0,
        "poster": POSTER,
        **fields,
    }


def job(*takes: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A job's state as JobView.state() gives it, with ``takes`` (one finished take if none)."""
    return {
        "model": "kling-video-o3-pro-reference-to-video",
        "summary": "1 shot · 5 s · A puppy runs through a park",
        "cost": "$1.12",
        "request_hash": "cd" * 32,
        "replayed": False,
        "simulated": False,
        "status": "succeeded",
        "error": "",
        "generations": list(takes) or [take()],
        **fields,
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


def test_every_user_and_server_text_is_escaped() -> None:
    def nasty(name: str) -> str:
        return f"<b title='{name}'>\"{name}\" & co</b>"

    job_texts = ("model", "summary", "cost", "request_hash", "status", "error")
    take_texts = ("id", "status", "error", "path", "sha256")
    state = job(
        take(**{name: nasty(f"take {name}") for name in take_texts}, poster=POSTER + nasty("p")),
        **{name: nasty(name) for name in job_texts},
    )
    out = render_html(state)
    texts = [nasty(n) for n in job_texts] + [nasty(f"take {n}") for n in take_texts]
    for text in [*texts, POSTER + nasty("p")]:
        assert html.escape(text) in out
    assert "<b " not in out
    assert out.count('"') == out.count('="') * 2  # every quote delimits an attribute


@pytest.mark.parametrize(
    "poster",
    [
        "https://example.com/poster.jpg",
        "javascript:alert(1)",
        "data:image/svg+xml;base64,PHN2Zz4=",
        "data:text/html;base64,PHNjcmlwdD4=",
        "",
    ],
)
def test_a_poster_that_is_no_jpeg_data_url_is_left_out(poster: str) -> None:
    out = render_html(job(take(poster=poster)))
    assert "poster=" not in out and '<video src="out/take.mp4" controls' in out


def test_a_jpeg_poster_is_the_videos_poster() -> None:
    out = render_html(job(take()))
    assert f'<video src="out/take.mp4" poster="{POSTER}" controls' in out


def test_the_video_is_the_local_file_its_path_percent_encoded() -> None:
    out = render_html(job(take(path="out dir/take #1?.mp4")))
    assert '<video src="out%20dir/take%20%231%3F.mp4"' in out
    assert "<code>out dir/take #1?.mp4" in out  # shown as it is


def test_a_take_without_a_file_shows_no_video() -> None:
    out = render_html(job(take(status="failed", error="Moderation refused it.", path="")))
    assert (
        "<video" not in out and "sha256" not in out and "<div>Moderation refused it.</div>" in out
    )


@pytest.mark.parametrize("status", get_args(JobStatus))
def test_only_a_job_still_running_says_the_live_view_needs_a_kernel(status: str) -> None:
    out = render_html(job(status=status))
    assert ("(live view needs a running kernel)" in out) is (status not in JOB_FINAL)


def test_sizes_and_durations_read_for_people() -> None:
    big = render_html(job(take(size=2_500_000, duration=3.04)))
    assert "<code>out/take.mp4 · 2.5 MB · 3.0 s</code>" in big
    small = render_html(job(take(size=50_000, duration=None)))
    assert "<code>out/take.mp4 · 50 KB</code>" in small
    unknown = render_html(job(take(size=None, duration=None)))
    assert "<code>out/take.mp4</code>" in unknown


def test_badges_say_replayed_and_simulated() -> None:
    both = job(replayed=True, simulated=True)
    assert "<small>[replayed]</small> <small>[simulated]</small>" in render_html(both)
    assert "[replayed] [simulated]:" in render_text(both)
    assert "[" not in render_html(job()) and "[" not in render_text(job())


def test_the_text_version_names_the_error_and_each_takes_file_or_error() -> None:
    state = job(
        take(),
        take(index=1, status="failed", error="Moderation refused it.", path=""),
        take(index=2, status="processing", path="", error=""),
        status="partial",
        error="One take failed.",
    )
    lines = render_text(state).splitlines()
    assert lines[0].startswith("Kling job partial: kling-video-o3-pro-reference-to-video")
    assert lines[1:] == [
        "  1 shot · 5 s · A puppy runs through a park",
        "  error: One take failed.",
        "  take 1: succeeded out/take.mp4",
        "  take 2: failed Moderation refused it.",
        "  take 3: processing",
    ]
