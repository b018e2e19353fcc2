"""Synthetic Kling videos for the simulator: real H.264 MP4s that reflect the request.

Each clip lasts the requested total duration, has a frame in the requested aspect ratio (scaled
down), labels every shot with its number, its prompt and a running timecode, names the model and
the generation ("take N"), and carries an AAC tone track when ``generate_audio`` is set. The same
payload and generation index always give the same bytes.

Only numpy, Pillow and PyAV are used; nothing here imports the rest of the simulator.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import struct
import tempfile
import threading
from collections.abc import Iterator, Mapping
from fractions import Fraction
from typing import Any

import av
import numpy as np
from cachetools import LRUCache
from PIL import Image

from kling_nb.simulator.frames import (
    F32,
    Layout,
    Shot,
    ShotArt,
    draw_frame,
    layout,
    model_label,
    shot_art,
)

__all__ = [
    "AUDIO_SAMPLE_RATE",
    "Shot",
    "frame_size",
    "inset_image",
    "padded_chunks",
    "parse_shots",
    "render_video",
    "write_video",
]

AUDIO_SAMPLE_RATE = 24_000
"""Sample rate of the AAC track (mono)."""

_AUDIO_FRAME = 1024  # samples per AAC frame
_DEFAULT_DURATION = 5.0
_FREE_HEADER = 8  # size (u32) + b"free"
_PAD_CHUNK = 1 << 20


def _as_duration(value: object, where: str) -> float:
    if value is None:
        return _DEFAULT_DURATION
    seconds = math.nan
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        with contextlib.suppress(ValueError):
            seconds = float(value)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{where} must be a positive number of seconds, got {value!r}.")
    return seconds


def parse_shots(payload: Mapping[str, Any]) -> list[Shot]:
    """The shots a request asks for: each ``multi_prompt`` entry, or one shot of ``prompt``.

    A single prompt lasts ``duration`` seconds (default 5). Durations may be numbers or numeric
    strings; a non-positive or non-numeric duration raises ``ValueError``.
    """
    multi = payload.get("multi_prompt")
    if isinstance(multi, list) and multi:
        shots = []
        for i, entry in enumerate(multi):
            if isinstance(entry, Mapping):
                text = str(entry.get("prompt") or "")
                seconds = _as_duration(entry.get("duration"), f"multi_prompt[{i}].duration")
            else:
                text, seconds = str(entry), _DEFAULT_DURATION
            shots.append(Shot(text, seconds))
        return shots
    text = str(payload.get("prompt") or "")
    return [Shot(text, _as_duration(payload.get("duration"), "duration"))]


def _even(x: float) -> int:
    return max(2, 2 * round(x / 2))


def frame_size(aspect_ratio: object, height: int = 180) -> tuple[int, int]:
    """Even ``(width, height)`` of a frame ``height`` pixels tall in ``aspect_ratio`` ("W:H").

    16:9 at 180 gives 320x180, 9:16 gives 102x180 and 1:1 gives 180x180. An unreadable ratio
    falls back to 16:9.
    """
    num, den = 16.0, 9.0
    if isinstance(aspect_ratio, str) and ":" in aspect_ratio:
        left, _, right = aspect_ratio.partition(":")
        try:
            a, b = float(left), float(right)
        except ValueError:
            pass
        else:
            if a > 0 and b > 0 and math.isfinite(a / b):
                num, den = a, b
    h = _even(height)
    return _even(h * num / den), h


def _canonical(payload: Mapping[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)


# Fields that do not change what the video shows, or are folded into the normalised ones below.
_NOT_IN_SEED = frozenset(
    {"response_format", "model", "prompt", "multi_prompt", "duration", "aspect_ratio"}
)


def _seed(payload: Mapping[str, Any], shots: list[Shot], model: str, index: int) -> bytes:
    """Hash of what the video shows: equal for a request as sent and with its defaults filled in.

    The response format, unset (null) fields, an alias versus the full model id, a numeric string
    versus a number for a duration all leave the picture unchanged.
    """
    rest = {k: v for k, v in payload.items() if k not in _NOT_IN_SEED and v is not None}
    rest["generate_audio"] = bool(payload.get("generate_audio"))
    rest["aspect_ratio"] = "x".join(map(str, frame_size(payload.get("aspect_ratio"), 720)))
    rest["model"] = model
    rest["shots"] = [[s.prompt, s.duration] for s in shots]
    return hashlib.sha256(f"{_canonical(rest)}|index={index}".encode()).digest()


def _audio(key: bytes, shots: list[Shot]) -> F32:
    """A mono tone per shot (its pitch from the seed) with a rising chirp at each shot start."""
    rate = AUDIO_SAMPLE_RATE
    parts: list[F32] = []
    notes = (220.0, 246.9, 277.2, 329.6, 370.0, 440.0, 493.9, 554.4)
    for number, shot in enumerate(shots, start=1):
        seed = hashlib.sha256(key + f"|audio={number}".encode()).digest()
        n = round(shot.duration * rate)
        t = np.arange(n, dtype=np.float64) / rate
        freq = notes[seed[0] % len(notes)]
        tone = 0.18 * np.sin(2 * math.pi * freq * t) * (0.75 + 0.25 * np.sin(2 * math.pi * 2 * t))
        chirp_n = min(n, round(0.15 * rate))
        tc = t[:chirp_n]
        sweep = 2 * math.pi * (600 * tc + (1800 - 600) / (2 * 0.15) * tc * tc)
        tone[:chirp_n] += 0.25 * np.sin(sweep) * np.hanning(2 * chirp_n)[chirp_n:]
        fade = min(n // 2, round(0.01 * rate))
        if fade:
            ramp = np.linspace(0.0, 1.0, fade)
            tone[:fade] *= ramp
            tone[n - fade :] *= ramp[::-1]
        parts.append(tone.astype(np.float32))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


# ---------------------------------------------------------------- encoding


def inset_image(reference: bytes, width: int, height: int) -> Image.Image:
    """The reference image as drawn in a frame of ``width`` x ``height``: scaled to fit a box a
    third of the width and half the height, aspect kept."""
    with Image.open(io.BytesIO(reference)) as image:
        inset = image.convert("RGB")
    inset.thumbnail((max(2, width // 3), max(2, height // 2)))
    return inset


def _encode(
    payload: Mapping[str, Any], index: int, height: int, fps: int, reference: bytes | None
) -> bytes:
    shots = parse_shots(payload)
    width, height = frame_size(payload.get("aspect_ratio"), height)
    model = model_label(payload)
    key = _seed(payload, shots, model, index)
    inset = None if reference is None else inset_image(reference, width, height)
    with _TEXT_LOCK:  # FreeType faces are shared between threads
        lay = layout(width, height)
        arts = [
            shot_art(lay, key, shot, number, len(shots), model, index, inset)
            for number, shot in enumerate(shots, start=1)
        ]
    audio = _audio(key, shots) if payload.get("generate_audio") else None
    # The mp4 muxer's faststart pass reopens the output by name, so it needs a real file.
    with tempfile.TemporaryDirectory(prefix="kling-video-") as tmp:
        path = os.path.join(tmp, "clip.mp4")
        _encode_to(path, lay, shots, arts, audio, fps)
        with open(path, "rb") as fh:
            return fh.read()


def _encode_to(
    path: str, lay: Layout, shots: list[Shot], arts: list[ShotArt], audio: F32 | None, fps: int
) -> None:
    total = sum(s.duration for s in shots)
    with av.open(
        path,
        mode="w",
        format="mp4",
        container_options={"movflags": "+faststart", "fflags": "+bitexact"},
    ) as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = lay.width, lay.height, "yuv420p"
        video.thread_count = 1  # one thread: the same input gives the same bytes
        video.gop_size = 2 * fps
        video.codec_context.options = {"preset": "ultrafast", "crf": "26"}
        sound = None
        if audio is not None:
            sound = container.add_stream("aac", rate=AUDIO_SAMPLE_RATE, layout="mono")
            sound.bit_rate = 48_000

        pts = 0
        start = 0.0
        for shot, art in zip(shots, arts, strict=True):
            end = start + shot.duration
            last_pts = round(end * fps)
            while pts < last_pts:
                t = pts / fps
                rgb = draw_frame(lay, art, t - start, t, total)
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                frame.pts = pts
                frame.time_base = Fraction(1, fps)
                container.mux(video.encode(frame))
                pts += 1
            start = end
        container.mux(video.encode(None))

        if sound is not None and audio is not None:
            for offset in range(0, audio.size, _AUDIO_FRAME):
                chunk = audio[offset : offset + _AUDIO_FRAME]
                aframe = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
                aframe.sample_rate = AUDIO_SAMPLE_RATE
                aframe.pts = offset
                aframe.time_base = Fraction(1, AUDIO_SAMPLE_RATE)
                container.mux(sound.encode(aframe))
            container.mux(sound.encode(None))


_TEXT_LOCK = threading.Lock()
# Recently rendered videos (unpadded), bounded by their total size.
_CACHE: LRUCache[tuple[str, int, int, int], bytes] = LRUCache(64 << 20, getsizeof=len)
_CACHE_LOCK = threading.Lock()


def _check(index: int, height: int, fps: int) -> None:
    if index < 0:
        raise ValueError(f"index must be 0 or more, got {index}.")
    if not 16 <= height <= 2160:
        raise ValueError(f"height must be between 16 and 2160 pixels, got {height}.")
    if not 1 <= fps <= 60:
        raise ValueError(f"fps must be between 1 and 60, got {fps}.")


def _mp4(
    payload: Mapping[str, Any], index: int, height: int, fps: int, reference: bytes | None = None
) -> bytes:
    _check(index, height, fps)
    parse_shots(payload)  # raise on bad durations before touching the cache
    seen = "" if reference is None else hashlib.sha256(reference).hexdigest()
    key = (f"{_canonical(payload)}|reference={seen}", index, height, fps)
    with _CACHE_LOCK:
        data = _CACHE.get(key)
    if data is None:
        data = _encode(payload, index, height, fps, reference)
        if len(data) <= _CACHE.maxsize:
            with _CACHE_LOCK:
                _CACHE[key] = data
    return data


def _free_header(gap: int) -> bytes:
    if gap <= 0xFFFFFFFF:
        return struct.pack(">I4s", gap, b"free")
    return struct.pack(">I4sQ", 1, b"free", gap)


def _grow_last_box(mp4: bytes, gap: int) -> bytes:
    """``mp4`` with its last top-level box (the 'mdat') declared ``gap`` bytes longer.

    For gaps too small for a 'free' box: trailing zeros inside 'mdat' are never read, since
    samples are located by absolute offsets.
    """
    offset = last = 0
    while offset + 8 <= len(mp4):
        (size,) = struct.unpack_from(">I", mp4, offset)
        if size < 8:  # 64-bit or to-end-of-file sizes: not produced here
            break
        last, offset = offset, offset + size
    (size,) = struct.unpack_from(">I", mp4, last) if len(mp4) >= 8 else (0,)
    if offset != len(mp4) or size < 8 or size + gap > 0xFFFFFFFF:
        raise ValueError(
            f"pad_to leaves {gap} bytes, fewer than an MP4 'free' box needs ({_FREE_HEADER}), "
            "and this file's last box cannot absorb them; ask for at least 8 bytes more."
        )
    return mp4[:last] + struct.pack(">I", size + gap) + mp4[last + 4 :]


def padded_chunks(mp4: bytes, pad_to: int | None, chunk_size: int = _PAD_CHUNK) -> Iterator[bytes]:
    """Yield ``mp4`` then, if ``pad_to`` is larger, padding that makes it exactly ``pad_to`` bytes.

    The padding is a top-level 'free' box, which players skip, so the file still plays. A gap of
    1 to 7 bytes cannot hold a box: the final 'mdat' box is declared that much longer instead.
    Zeros come in chunks of at most ``chunk_size`` bytes (one shared object), so a 200 MB result
    never sits in memory.
    """
    gap = 0 if pad_to is None else pad_to - len(mp4)
    if gap <= 0:
        yield mp4
        return
    if gap < _FREE_HEADER:
        yield _grow_last_box(mp4, gap)
        yield bytes(gap)
        return
    yield mp4
    header = _free_header(gap)
    yield header
    remaining = gap - len(header)
    zeros = bytes(min(chunk_size, remaining))
    while remaining > 0:
        if remaining >= len(zeros):
            yield zeros
            remaining -= len(zeros)
        else:
            yield zeros[:remaining]
            remaining = 0


def render_video(
    payload: Mapping[str, Any],
    index: int = 0,
    *,
    height: int = 180,
    fps: int = 12,
    pad_to: int | None = None,
    reference: bytes | None = None,
) -> bytes:
    """The MP4 for generation ``index`` of a request ``payload`` (the JSON body).

    The clip lasts the sum of the shots' durations, its frame is ``height`` pixels tall in the
    payload's ``aspect_ratio``, and it has an AAC track iff ``generate_audio``; ``reference``
    (image bytes the generation fetched) is shown in every frame. The same arguments always
    give the same bytes (recent results are cached). With ``pad_to`` larger than the
    video, a 'free' box pads the file to exactly ``pad_to`` bytes; for large sizes prefer
    :func:`write_video` or :func:`padded_chunks`, which never hold the padding twice.
    """
    mp4 = _mp4(payload, index, height, fps, reference)
    if pad_to is None or pad_to <= len(mp4):
        return mp4
    return b"".join(padded_chunks(mp4, pad_to))


def write_video(
    path: str | os.PathLike[str],
    payload: Mapping[str, Any],
    index: int = 0,
    *,
    height: int = 180,
    fps: int = 12,
    pad_to: int | None = None,
) -> int:
    """Write :func:`render_video`'s result to ``path``, padding in chunks; return the size."""
    mp4 = _mp4(payload, index, height, fps)
    written = 0
    with open(path, "wb") as fh:
        for chunk in padded_chunks(mp4, pad_to):
            fh.write(chunk)
            written += len(chunk)
    return written
