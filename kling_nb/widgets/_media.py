"""What the widgets learn from a finished video file: its duration and a small poster frame.

PyAV comes with the ``simulator`` extra; without it the poster is left out and the duration is the
one the request asked for.
"""

from __future__ import annotations

import base64
import functools
import io
from dataclasses import dataclass
from pathlib import Path

POSTER_BOX = 112  # pixels: a 16:9 frame becomes 112x63, about 2 KB of JPEG
_MIME_BY_SUFFIX = {".mp4": "video/mp4", ".webm": "video/webm", ".mov": "video/quicktime"}


@dataclass(frozen=True)
class MediaInfo:
    """Duration in seconds (None if unknown) and a ``data:image/jpeg;base64,...`` poster or ""."""

    duration: float | None
    poster: str


def video_mime(path: Path) -> str:
    """The MIME type the browser needs for a Blob of this file."""
    return _MIME_BY_SUFFIX.get(path.suffix.lower(), "video/mp4")


@functools.lru_cache(maxsize=256)
def _probe(path: str, mtime_ns: int) -> MediaInfo:
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
            frame = next(container.decode(stream))
            image = frame.to_image()  # type: ignore[no-untyped-call]
    except (OSError, StopIteration, IndexError, av.FFmpegError):
        return MediaInfo(None, "")
    thumb = image.convert("RGB")
    thumb.thumbnail((POSTER_BOX, POSTER_BOX), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    thumb.save(buf, format="JPEG", quality=50, optimize=True)
    return MediaInfo(
        duration, "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()
    )


def probe(path: Path) -> MediaInfo:
    """Duration and poster of a local video file, cached by path and modification time."""
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return MediaInfo(None, "")
    return _probe(str(path), mtime)
