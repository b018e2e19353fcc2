"""The simulator's synthetic videos (``simulator/video.py``), decoded back with PyAV and checked
against the request, and the drawing of their frames (``simulator/frames.py``: labels, prompt
text, timecode)."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import subprocess
import sys
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from kling_nb.catalog import get_model
from kling_nb.simulator.frames import model_label
from kling_nb.simulator.video import (
    AUDIO_SAMPLE_RATE,
    frame_size,
    padded_chunks,
    parse_shots,
    render_video,
    write_video,
)

FPS = 12

BASE: dict[str, Any] = {
    "model": "kling-video-o3-pro-reference-to-video",
    "prompt": "A red fox trots through fresh snow at dawn, breath steaming, golden light",
    "duration": 5,
    "aspect_ratio": "16:9",
}
MULTI: dict[str, Any] = {
    "model": "kling-video-o3-pro-reference-to-video",
    "multi_prompt": [
        {"prompt": "A lighthouse at night, waves crashing", "duration": 2},
        {"prompt": "Close-up of the lamp turning, beams sweeping the fog", "duration": 3},
        {"prompt": "Dawn breaks over a calm sea", "duration": 4},
    ],
    "aspect_ratio": "16:9",
    "generate_audio": True,
}


RATIOS = ["16:9", "9:16", "1:1"]
SERIAL_HASHES = (
    "import hashlib, json, sys\n"
    "from kling_nb.simulator.video import render_video\n"
    "for payload in json.loads(sys.argv[1]):\n"
    "    print(hashlib.sha256(render_video(payload, 3)).hexdigest())\n"
)


@dataclass
class Decoded:
    duration: float  # container duration, seconds
    width: int
    height: int
    codec: str
    pix_fmt: str
    frames: list[np.ndarray[Any, Any]]
    audio_codecs: list[str]
    audio_rate: int | None
    audio_channels: int | None
    audio: np.ndarray[Any, np.dtype[np.float32]] | None


def decode(data: bytes) -> Decoded:
    """Decode every video frame (as RGB) and the audio of an MP4."""
    with av.open(io.BytesIO(data), mode="r") as container:
        assert container.duration is not None
        duration = container.duration / av.time_base
        vstream = container.streams.video[0]
        codec = vstream.codec_context.name
        pix_fmt = vstream.codec_context.pix_fmt or ""
        width, height = vstream.codec_context.width, vstream.codec_context.height
        audio_codecs = [a.codec_context.name for a in container.streams.audio]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    audio = None
    rate = channels = None
    if audio_codecs:
        with av.open(io.BytesIO(data), mode="r") as container:
            astream = container.streams.audio[0]
            rate = astream.codec_context.sample_rate
            channels = astream.codec_context.channels
            chunks = [f.to_ndarray() for f in container.decode(audio=0)]
        audio = np.concatenate([c.reshape(-1) for c in chunks]).astype(np.float32)
    return Decoded(
        duration, width, height, codec, pix_fmt, frames, audio_codecs, rate, channels, audio
    )


def with_(payload: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    out = dict(payload)
    out.update(changes)
    return out


def diff(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


@pytest.mark.parametrize(
    ("ratio", "size"),
    [("16:9", (320, 180)), ("9:16", (102, 180)), ("1:1", (180, 180))],
)
def test_frame_size_follows_aspect_ratio(ratio: str, size: tuple[int, int]) -> None:
    video = decode(render_video(with_(BASE, aspect_ratio=ratio)))
    assert (video.width, video.height) == size
    assert frame_size(ratio) == size
    w, h = (int(x) for x in ratio.split(":"))
    assert abs(video.width / video.height - w / h) < 0.02
    assert all(f.shape == (size[1], size[0], 3) for f in video.frames)


def test_default_aspect_ratio_is_16_9_and_height_is_configurable() -> None:
    payload = {k: v for k, v in BASE.items() if k != "aspect_ratio"}
    default = decode(render_video(payload))
    assert (default.width, default.height) == (320, 180)
    tall = decode(render_video(with_(BASE, aspect_ratio="9:16"), height=360))
    assert (tall.width, tall.height) == (202, 360)
    odd_w, odd_h = frame_size("9:16", 181)  # always even
    assert odd_w % 2 == 0 and odd_h % 2 == 0 and abs(odd_h - 181) == 1
    assert frame_size("not a ratio") == (320, 180)


def test_h264_yuv420p_with_duration_of_the_request() -> None:
    video = decode(render_video(BASE))
    assert video.codec == "h264"
    assert video.pix_fmt == "yuv420p"
    assert abs(video.duration - 5) <= 1 / FPS
    assert len(video.frames) == 5 * FPS
    assert video.audio_codecs == []


def test_default_duration_is_five_seconds_and_durations_may_be_strings() -> None:
    payload = {k: v for k, v in BASE.items() if k != "duration"}
    assert abs(decode(render_video(payload)).duration - 5) <= 1 / FPS
    video = decode(render_video(with_(BASE, duration="10")))
    assert abs(video.duration - 10) <= 1 / FPS
    assert len(video.frames) == 10 * FPS


def test_fps_sets_the_frame_count() -> None:
    video = decode(render_video(with_(BASE, duration=3), fps=24))
    assert len(video.frames) == 3 * 24
    assert abs(video.duration - 3) <= 1 / 24


def test_multi_shot_duration_is_the_sum_of_shots() -> None:
    assert [s.duration for s in parse_shots(MULTI)] == [2, 3, 4]
    video = decode(render_video(with_(MULTI, generate_audio=False)))
    assert abs(video.duration - 9) <= 1 / FPS
    assert len(video.frames) == 9 * FPS


def test_audio_track_is_aac_iff_generate_audio() -> None:
    video = decode(render_video(MULTI))
    assert video.audio_codecs == ["aac"]
    assert video.audio_rate == AUDIO_SAMPLE_RATE
    assert video.audio_channels == 1
    assert video.audio is not None
    # The whole clip has sound, and it is not silence.
    assert abs(video.audio.size / AUDIO_SAMPLE_RATE - 9) <= 1 / FPS
    assert float(np.sqrt(np.mean(video.audio**2))) > 0.05
    assert abs(video.duration - 9) <= 1 / FPS
    assert decode(render_video(with_(MULTI, generate_audio=False))).audio_codecs == []


def test_shots_look_different_and_the_picture_moves() -> None:
    video = decode(render_video(with_(MULTI, generate_audio=False)))
    shot1, shot2, shot3 = video.frames[FPS], video.frames[3 * FPS], video.frames[7 * FPS]
    assert diff(shot1, shot2) > 20
    assert diff(shot2, shot3) > 20
    # The label area (top rows: "Shot i/3") differs between shots too.
    assert diff(shot1[:20], shot2[:20]) > 10
    # Within one shot the background moves and the timecode runs.
    assert diff(video.frames[0], video.frames[FPS // 2]) > 5
    timecode_rows = slice(140, 160)
    assert diff(video.frames[6][timecode_rows], video.frames[7][timecode_rows]) > 0.5


def test_shot_text_is_drawn() -> None:
    """Two requests differing only in prompt text differ where the prompt is drawn."""
    a = decode(render_video(with_(BASE, duration=1)))
    b = decode(render_video(with_(BASE, duration=1, prompt="Something else entirely")))
    # Backgrounds differ (the payload hash differs), so compare the darkened text panel's
    # bright pixels: text is white, the panel is dark.
    panel = slice(30, 70)
    bright_a = a.frames[0][panel].min(axis=2) > 200
    bright_b = b.frames[0][panel].min(axis=2) > 200
    assert bright_a.sum() > 100
    assert (bright_a != bright_b).sum() > 100


def test_same_request_and_index_give_the_same_bytes_in_a_fresh_process() -> None:
    data = render_video(MULTI, 1)
    code = (
        "import hashlib, json, sys\n"
        "from kling_nb.simulator.video import render_video\n"
        "payload = json.loads(sys.argv[1])\n"
        "print(hashlib.sha256(render_video(payload, 1)).hexdigest())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(MULTI)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert out.stdout.strip() == hashlib.sha256(data).hexdigest()
    assert render_video(MULTI, 1) == data


def test_renders_on_several_threads_at_once_match_serial_renders() -> None:
    payloads = [
        with_(
            MULTI,
            aspect_ratio=ratio,
            multi_prompt=[{"prompt": f"take {i}, shot {n}", "duration": 1} for n in (1, 2)],
        )
        for i, ratio in enumerate(RATIOS * 2)
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(lambda p: hashlib.sha256(render_video(p, 3)).digest(), payloads))
    out = subprocess.run(
        [sys.executable, "-c", SERIAL_HASHES, json.dumps(payloads)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert out.stdout.split() == [h.hex() for h in parallel]


def test_index_and_request_change_the_bytes_and_the_picture() -> None:
    take0, take1 = render_video(BASE, 0), render_video(BASE, 1)
    assert take0 != take1
    assert diff(decode(take0).frames[0], decode(take1).frames[0]) > 10
    assert render_video(with_(BASE, prompt="A different prompt")) != take0


def test_defaults_spelled_out_and_response_format_do_not_change_the_video() -> None:
    sent = {"model": "kling-video-o3-pro-reference-to-video", "prompt": "A quiet harbour"}
    spelled_out = with_(
        sent,
        duration="5",
        aspect_ratio="16:9",
        generate_audio=False,
        negative_prompt=None,
        response_format="b64_json",
    )
    assert render_video(spelled_out, 2) == render_video(sent, 2)


def test_pad_to_gives_exact_size_and_still_decodes() -> None:
    plain = render_video(BASE)
    size = len(plain) + 1_000_000
    padded = render_video(BASE, pad_to=size)
    assert len(padded) == size
    assert padded.startswith(plain)
    assert padded[len(plain) : len(plain) + 8] == struct.pack(">I4s", size - len(plain), b"free")
    video = decode(padded)
    assert abs(video.duration - 5) <= 1 / FPS
    assert len(video.frames) == 5 * FPS
    # Smaller than the video: nothing to pad.
    assert render_video(BASE, pad_to=10) == plain
    assert render_video(BASE, pad_to=len(plain)) == plain


@pytest.mark.parametrize("gap", [1, 7])
def test_pad_gap_too_small_for_a_box_grows_the_mdat(gap: int) -> None:
    plain = render_video(BASE)
    padded = render_video(BASE, pad_to=len(plain) + gap)
    assert len(padded) == len(plain) + gap
    assert padded.endswith(bytes(gap))
    video = decode(padded)
    assert len(video.frames) == 5 * FPS
    assert diff(video.frames[-1], decode(plain).frames[-1]) == 0
    assert len(render_video(BASE, pad_to=len(plain) + 8)) == len(plain) + 8


def test_pad_gap_too_small_for_a_foreign_file_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 8 bytes more"):
        list(padded_chunks(b"\x00\x00\x00\x10ftypisom", 15))


def test_write_video_streams_padding_to_exact_size(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    size = 20 * 1024 * 1024 + 3
    assert write_video(path, MULTI, 2, pad_to=size) == size
    assert path.stat().st_size == size
    data = path.read_bytes()
    assert data.startswith(render_video(MULTI, 2))
    video = decode(data)
    assert abs(video.duration - 9) <= 1 / FPS
    assert video.audio_codecs == ["aac"]
    unpadded = tmp_path / "plain.mp4"
    assert write_video(unpadded, MULTI, 2) == len(render_video(MULTI, 2))


def test_padded_chunks_use_a_64_bit_box_beyond_4_gib() -> None:
    mp4 = b"\x00\x00\x00\x08ftyp"
    pad_to = 5 * 1024**3
    chunks = padded_chunks(mp4, pad_to, chunk_size=1024)
    assert next(chunks) == mp4
    gap = pad_to - len(mp4)
    assert next(chunks) == struct.pack(">I4sQ", 1, b"free", gap)
    zeros = next(chunks)
    assert zeros == bytes(1024)
    small = list(padded_chunks(mp4, len(mp4) + 8 + 2500, chunk_size=1024))
    assert [len(c) for c in small] == [len(mp4), 8, 1024, 1024, 452]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (with_(BASE, duration=0), "duration must be a positive number"),
        (with_(BASE, duration="soon"), "duration must be a positive number"),
        (
            with_(MULTI, multi_prompt=[{"prompt": "x", "duration": -1}]),
            r"multi_prompt\[0\]\.duration",
        ),
    ],
)
def test_bad_durations_are_refused(payload: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render_video(payload)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="index"):
        render_video(BASE, -1)
    with pytest.raises(ValueError, match="fps"):
        render_video(BASE, fps=0)
    with pytest.raises(ValueError, match="height"):
        render_video(BASE, height=4)


def test_a_missing_prompt_still_renders() -> None:
    video = decode(render_video({"model": "x", "duration": 1}))
    assert len(video.frames) == FPS


def test_a_five_second_clip_renders_well_under_a_second() -> None:
    # CPU time, so that other tests running on the same cores do not make this flaky;
    # benchmarks/video_synthesis.py reports wall time as well.
    best = float("inf")
    for i in range(3):
        payload = with_(BASE, generate_audio=True, prompt=f"timing run {i} {time.time()}")
        start = time.process_time()
        render_video(payload)
        best = min(best, time.process_time() - start)
    assert best < 0.6, f"a 5 s clip took {best:.2f} s of CPU to render"


def test_prompt_text_is_folded_to_characters_the_font_can_draw() -> None:
    from kling_nb.simulator.frames import _printable

    assert _printable("Café crème — naïve “quoted” Łódź straße") == (
        "Cafe creme - naive “quoted” Lodz strasse"
    )
    # Scripts the bundled font lacks become one "?" per run, never tofu boxes.
    assert _printable("Tokyo 東京 at night 🌃") == "Tokyo ? at night ?"
    video = decode(render_video(with_(BASE, duration=1, prompt="東京の夜景、ネオン")))
    assert len(video.frames) == FPS


def test_the_footer_names_the_models_alias_or_the_name_as_sent() -> None:
    spec = get_model(BASE["model"])
    assert spec.alias and model_label(BASE) == spec.alias != spec.id
    assert model_label({"model": "acme-video-9"}) == "acme-video-9"
    assert model_label({}) == "kling"


def test_a_prompt_too_long_for_its_lines_ends_with_an_ellipsis() -> None:
    from kling_nb.simulator.frames import _font, _wrap

    font = _font(12)
    lines = _wrap(" ".join(f"word{i}" for i in range(200)), font, 150, 3)
    assert len(lines) == 3 and lines[-1].endswith("...")
    assert all(font.getlength(line) <= 150 for line in lines)
    assert _wrap("a  short\nprompt", font, 150, 3) == ["a short prompt"]
    long_word = _wrap("x" * 300, font, 150, 3)
    assert len(long_word) == 1 and long_word[0].endswith("...")
    assert font.getlength(long_word[0]) <= 150


def test_the_timecode_reads_minutes_seconds_and_hundredths() -> None:
    from kling_nb.simulator.frames import _timecode

    assert _timecode(0) == "00:00.00"
    assert _timecode(65.5) == "01:05.50"
    assert _timecode(9.999) == "00:10.00"
