"""Sample reference images, drawn with Pillow and served at ``/_simulator/samples/NAME.png``.

They let notebooks that use reference images (``input_image``, ``elements``, start and end
frames) run offline: ``sim.sample_url("face")``.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable

from PIL import Image, ImageDraw

__all__ = ["SAMPLE_NAMES", "sample_png"]

_SIZE = 256  # the drawing's canvas
_SERVED = 512  # served scaled up: Kling takes images of at least 300 px on the short side
_Draw = Callable[[ImageDraw.ImageDraw], None]


def _face(d: ImageDraw.ImageDraw) -> None:
    d.ellipse((48, 32, 208, 224), fill=(238, 196, 160), outline=(90, 60, 40), width=4)
    d.ellipse((88, 96, 112, 120), fill=(40, 40, 60))
    d.ellipse((144, 96, 168, 120), fill=(40, 40, 60))
    d.arc((88, 130, 168, 190), start=20, end=160, fill=(160, 40, 50), width=6)


def _dog(d: ImageDraw.ImageDraw) -> None:
    d.rectangle((0, 190, 256, 256), fill=(90, 170, 80))
    d.ellipse((60, 110, 200, 190), fill=(170, 120, 70))
    d.ellipse((150, 70, 230, 140), fill=(170, 120, 70))
    d.polygon([(160, 80), (150, 40), (180, 72)], fill=(120, 80, 40))
    d.ellipse((200, 95, 212, 107), fill=(20, 20, 20))
    for x in (80, 110, 150, 175):
        d.rectangle((x, 180, x + 14, 225), fill=(150, 100, 60))


def _character(front: bool) -> _Draw:
    def draw(d: ImageDraw.ImageDraw) -> None:
        d.ellipse((98, 24, 158, 84), fill=(238, 196, 160))
        d.rectangle((92, 88, 164, 180), fill=(50, 90, 200))
        d.rectangle((100, 180, 124, 240), fill=(40, 40, 60))
        d.rectangle((132, 180, 156, 240), fill=(40, 40, 60))
        if front:
            d.ellipse((112, 44, 122, 54), fill=(20, 20, 20))
            d.ellipse((134, 44, 144, 54), fill=(20, 20, 20))
        else:
            d.ellipse((140, 44, 150, 54), fill=(20, 20, 20))
            d.polygon([(158, 52), (170, 60), (158, 64)], fill=(238, 196, 160))

    return draw


def _frame(label: str, color: tuple[int, int, int]) -> _Draw:
    def draw(d: ImageDraw.ImageDraw) -> None:
        d.rectangle((0, 0, _SIZE, _SIZE), fill=color)
        d.rectangle((16, 16, _SIZE - 16, _SIZE - 16), outline=(255, 255, 255), width=6)
        d.text((40, 118), label, fill=(255, 255, 255))

    return draw


_SAMPLES: dict[str, tuple[_Draw, tuple[int, int, int]]] = {
    "face": (_face, (200, 220, 240)),
    "dog": (_dog, (150, 200, 250)),
    "character-front": (_character(front=True), (235, 235, 225)),
    "character-side": (_character(front=False), (235, 235, 225)),
    "first-frame": (_frame("FIRST FRAME", (40, 110, 170)), (0, 0, 0)),
    "last-frame": (_frame("LAST FRAME", (170, 70, 40)), (0, 0, 0)),
}

SAMPLE_NAMES: tuple[str, ...] = tuple(_SAMPLES)


@functools.cache
def sample_png(name: str) -> bytes:
    """The PNG bytes of a sample image; ``KeyError`` for an unknown name."""
    draw, background = _SAMPLES[name]
    image = Image.new("RGB", (_SIZE, _SIZE), background)
    draw(ImageDraw.Draw(image))
    image = image.resize((_SERVED, _SERVED), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
