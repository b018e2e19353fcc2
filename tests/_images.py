"""Plain-coloured pictures saved as files, for the local reference image tests."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

MAGENTA = (250, 20, 180)
TEAL = (20, 200, 190)


def picture(path: Path, color: tuple[int, int, int], size: tuple[int, int] = (480, 360)) -> Path:
    Image.new("RGB", size, color).save(path)
    return path
