"""The copy with MP3 sound: the same H.264 video beside the original, only the audio re-encoded,
written whole or not at all; a JobView makes it on request and records it in the ledger."""

from __future__ import annotations

import json
from pathlib import Path

import av
import pytest
from _widgets import FakeClient, FakeJob, FakeResult, ask_for_copy, h264_clip, request, sent

from kling_nb.errors import LedgerError
from kling_nb.simulator.video import render_video
from kling_nb.widgets import JobView
from kling_nb.widgets._playable import copy_path, make_copy


@pytest.fixture(scope="module")
def mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return h264_clip(tmp_path_factory.mktemp("video") / "take.mp4")


def aac_take() -> bytes:
    """A simulated take with AAC sound, as Kling makes with ``generate_audio``."""
    payload = {"model": "kling-video-o3-pro-reference-to-video", "prompt": "a", "duration": 3}
    return render_video({**payload, "generate_audio": True}, height=36)


def test_an_aac_take_gets_a_copy_with_mp3_sound_recorded_in_the_ledger(tmp_path: Path) -> None:
    import av

    take = tmp_path / "take.mp4"
    take.write_bytes(aac_take())
    client = FakeClient(tmp_path)
    job = FakeJob(request(), client=client)
    job.generations[0].status = "succeeded"
    job.generations[0].result = FakeResult(take, "gen-0")
    view = JobView(job)
    assert view.generations[0]["audio"] == "aac" and view.generations[0]["copy"] is None
    ask_for_copy(view)
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


def test_a_copy_whose_record_cannot_be_written_is_kept_and_the_view_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    take = tmp_path / "take.mp4"
    take.write_bytes(aac_take())
    client = FakeClient(tmp_path)

    def full_disk(record: object) -> None:
        raise LedgerError("The ledger could not be written: no space left on the device.")

    monkeypatch.setattr(client.ledger, "append", full_disk)
    job = FakeJob(request(), client=client)
    job.generations[0].status = "succeeded"
    job.generations[0].result = FakeResult(take, "gen-0")
    view = JobView(job)
    ask_for_copy(view)
    assert view.notice == "The ledger could not be written: no space left on the device."
    assert copy_path(take).is_file() and view.generations[0]["copy"] is not None


def test_the_copy_sits_beside_the_original() -> None:
    assert copy_path(Path("out") / "take.mp4") == Path("out") / "take.mp3.mp4"


def test_an_existing_copy_is_kept_as_it_is(tmp_path: Path) -> None:
    original = tmp_path / "take.mp4"
    original.write_bytes(b"not even read")
    copy_path(original).write_bytes(b"made before")
    assert make_copy(original) == copy_path(original)
    assert copy_path(original).read_bytes() == b"made before"


def test_a_take_without_sound_gets_no_copy_saying_why(tmp_path: Path, mp4: Path) -> None:
    silent = tmp_path / "take.mp4"
    silent.write_bytes(mp4.read_bytes())
    with pytest.raises(RuntimeError, match=r"^take\.mp4 has no video and audio to copy\.$"):
        make_copy(silent)
    assert [p.name for p in tmp_path.iterdir()] == ["take.mp4"]


def test_a_file_that_is_no_video_gets_no_copy(tmp_path: Path) -> None:
    broken = tmp_path / "take.mp4"
    broken.write_bytes(b"an error page saved as a video" * 100)
    with pytest.raises(av.FFmpegError):
        make_copy(broken)
    assert [p.name for p in tmp_path.iterdir()] == ["take.mp4"]
