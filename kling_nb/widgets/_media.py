"""What the widgets learn from a finished video file: duration, audio codec and a poster frame.

PyAV comes with the ``simulator`` extra; without it the poster is left out and the duration is the
one the request asked for.
"""

from __future__ import annotations

import base64
import functools
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

POSTER_BOX = 112  # pixels: a 16:9 frame becomes 112x63, about 1 KB of JPEG
GRID_POSTER_BOX = 80  # for a view of 3 or 4 takes, so its saved output stays small
_QUALITIES = (50, 35, 20)  # JPEG qualities tried in turn until the poster fits its budget
_MIME_BY_SUFFIX = {".mp4": "video/mp4", ".webm": "video/webm", ".mov": "video/quicktime"}


@dataclass(frozen=True)
class MediaInfo:
    """Duration in seconds (None if unknown), a ``data:image/jpeg;base64,...`` poster or "", and
    the audio codec's name ("" when silent or unknown)."""

    duration: float | None
    poster: str
    audio: str = ""


def video_mime(path: Path) -> str:
    """The MIME type the browser needs for a Blob of this file."""
    return _MIME_BY_SUFFIX.get(path.suffix.lower(), "video/mp4")


def poster_box(takes: int) -> int:
    """The poster's bounding box in pixels for a view of ``takes`` takes."""
    return POSTER_BOX if takes <= 2 else GRID_POSTER_BOX


def poster_budget(box: int) -> int:
    """Most characters a poster's data URL may take (a frame of real footage compresses worse)."""
    return box * 13


def _jpeg_data_url(image: Any, box: int) -> str:
    url = ""
    for quality in _QUALITIES:
        buf = io.BytesIO()
        image.save(buf, format="JPEG", quality=quality, optimize=True)
        url = "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()
        if len(url) <= poster_budget(box):
            break
    return url


@functools.lru_cache(maxsize=256)
def _probe(path: str, mtime_ns: int, box: int) -> MediaInfo:
    try:
        import av
        from PIL import Image
    except ImportError:
        return MediaInfo(None, "")
    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            duration = None
            if container.duration is not None:
                duration = round(container.duration / 1_000_000, 3)
            audio = container.streams.audio[0].codec_context.name if container.streams.audio else ""
            frame = next(container.decode(stream))
            image = frame.to_image()  # type: ignore[no-untyped-call]
    except (OSError, StopIteration, IndexError, av.FFmpegError):
        return MediaInfo(None, "")
    thumb = image.convert("RGB")
    thumb.thumbnail((box, box), Image.Resampling.BILINEAR)
    return MediaInfo(duration, _jpeg_data_url(thumb, box), audio)


def probe(path: Path, box: int = POSTER_BOX) -> MediaInfo:
    """Duration and poster (within ``box`` pixels) of a local video file, cached by path and
    modification time."""
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return MediaInfo(None, "")
    return _probe(str(path), mtime, box)
