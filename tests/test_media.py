"""probe: a video file's duration, audio codec and poster frame (within its box and budget),
cached by path and modification time; nothing for a file that is no video. The poster's box for
a view of so many takes, and the MIME type the browser needs."""

from __future__ import annotations

import base64
import io
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from _widgets import h264_clip
from PIL import Image

from kling_nb.simulator.video import render_video
from kling_nb.widgets._media import (
    GRID_POSTER_BOX,
    POSTER_BOX,
    MediaInfo,
    _jpeg_data_url,
    poster_box,
    poster_budget,
    probe,
    video_mime,
)

NOTHING = MediaInfo(None, "")
JPEG = "data:image/jpeg;base64,"


def clip(path: Path, **payload: Any) -> Path:
    """A simulated 3-second 320x180 take (with AAC sound if ``generate_audio``)."""
    body = {"model": "kling-video-o3-pro-reference-to-video", "prompt": "a", "duration": 3}
    path.write_bytes(render_video({**body, **payload}))
    return path


def poster_image(url: str) -> Image.Image:
    assert url.startswith(JPEG)
    return Image.open(io.BytesIO(base64.b64decode(url[len(JPEG) :])))


def test_a_take_with_sound_names_its_codec(tmp_path: Path) -> None:
    info = probe(clip(tmp_path / "take.mp4", generate_audio=True))
    assert info.audio == "aac" and info.duration == pytest.approx(3.0, abs=0.1)


def test_a_silent_take_has_a_duration_and_a_poster_but_no_audio(tmp_path: Path) -> None:
    info = probe(h264_clip(tmp_path / "take.mp4"))
    assert info.audio == "" and info.duration == pytest.approx(1.0, abs=0.1)
    assert poster_image(info.poster).size == (64, 36)  # smaller than the box: kept as it is


@pytest.mark.parametrize("box", [POSTER_BOX, GRID_POSTER_BOX])
def test_the_poster_fits_its_box_and_budget_keeping_the_frames_shape(
    tmp_path: Path, box: int
) -> None:
    info = probe(clip(tmp_path / "take.mp4", aspect_ratio="16:9"), box)
    width, height = poster_image(info.poster).size
    assert width == box and height == pytest.approx(box * 9 / 16, abs=1)
    assert len(info.poster) <= poster_budget(box)


def test_a_poster_over_its_budget_is_made_again_at_a_lower_quality() -> None:
    noise = np.random.default_rng(0).integers(68, 188, (63, 112, 3)).astype(np.uint8)
    image = Image.fromarray(noise)
    first = io.BytesIO()
    image.save(first, format="JPEG", quality=50, optimize=True)
    assert len(JPEG) + len(base64.b64encode(first.getvalue())) > poster_budget(POSTER_BOX)
    url = _jpeg_data_url(image, POSTER_BOX)
    assert len(url) <= poster_budget(POSTER_BOX) and poster_image(url).size == (112, 63)


def test_three_or_four_takes_get_the_smaller_poster_box() -> None:
    assert [poster_box(n) for n in (1, 2, 3, 4)] == [POSTER_BOX] * 2 + [GRID_POSTER_BOX] * 2
    assert GRID_POSTER_BOX < POSTER_BOX


def sound_only(path: Path) -> Path:
    """An MP4 holding one second of silent AAC and no video."""
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=44100, layout="mono")
        for i in range(44):
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts, frame.time_base = 44100, i * 1024, Fraction(1, 44100)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def test_a_file_that_is_no_video_tells_nothing(tmp_path: Path) -> None:
    text = tmp_path / "take.mp4"
    text.write_text("<html>an error page saved as a video</html>")
    assert probe(text) == NOTHING
    assert probe(sound_only(tmp_path / "sound.mp4")) == NOTHING
    assert probe(tmp_path / "gone.mp4") == NOTHING


def test_a_file_changed_since_it_was_probed_is_probed_again(tmp_path: Path) -> None:
    take = h264_clip(tmp_path / "take.mp4")
    assert probe(take).duration == pytest.approx(1.0, abs=0.1)
    before = take.stat().st_mtime_ns
    clip(take)  # replaced by a 3-second take
    os.utime(take, ns=(before + 1_000_000_000, before + 1_000_000_000))
    assert probe(take).duration == pytest.approx(3.0, abs=0.1)


def test_the_browser_is_told_the_videos_type_by_its_suffix() -> None:
    assert video_mime(Path("a.webm")) == "video/webm"
    assert video_mime(Path("a.MOV")) == "video/quicktime"
    assert video_mime(Path("a.mp4")) == video_mime(Path("a.bin")) == "video/mp4"
