"""Drawing the simulator's frames: each shot's number, prompt and running timecode over a
background that follows the request, the model's name and the take (``video`` encodes them)."""

from __future__ import annotations

import colorsys
import functools
import hashlib
import math
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

__all__ = ["Layout", "Shot", "ShotArt", "draw_frame", "layout", "model_label", "shot_art"]

_MAX_PROMPT_CHARS = 400

U8 = npt.NDArray[np.uint8]
U16 = npt.NDArray[np.uint16]
F32 = npt.NDArray[np.float32]
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@dataclass(frozen=True)
class Shot:
    """One shot of a clip: its prompt text and duration in seconds."""

    prompt: str
    duration: float


def model_label(payload: Mapping[str, Any]) -> str:
    """The model's alias when the catalog knows it, else the name as sent."""
    name = str(payload.get("model") or "kling")
    try:
        import importlib

        catalog = importlib.import_module("kling_nb.catalog")
        alias = getattr(catalog.get_model(name), "alias", None)
    except (ImportError, ValueError, AttributeError, TypeError, LookupError):
        return name
    return str(alias) if alias else name


# ---------------------------------------------------------------- text


@functools.lru_cache(maxsize=16)
def _font(size: int) -> Font:
    return ImageFont.load_default(size=size)


# Stand-ins for common characters the bundled font lacks (accents are folded by NFKD).
_FOLD = {
    **dict.fromkeys("—–‐‑−", "-"),
    **{"′": "'", "″": '"', "×": "x", "•": "·", "ß": "ss", "Æ": "AE", "æ": "ae", "Œ": "OE"},
    **{"œ": "oe", "Ø": "O", "ø": "o", "Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "ı": "i"},
}
_GLYPHS_KNOWN: dict[str, bool] = {}


def _has_glyph(ch: str) -> bool:
    """Whether Pillow's bundled font draws ``ch`` (rather than its "missing glyph" box)."""
    known = _GLYPHS_KNOWN.get(ch)
    if known is None:
        font = _font(12)
        known = bytes(font.getmask(ch)) != bytes(font.getmask("\uffff"))
        _GLYPHS_KNOWN[ch] = known
    return known


def _printable(text: str) -> str:
    """``text`` in characters the bundled font can draw: accents dropped, unknown runs as "?"."""
    out: list[str] = []
    for ch in text:
        if ch.isspace():
            out.append(" ")
        elif _has_glyph(ch):
            out.append(ch)
        else:
            decomposed = unicodedata.normalize("NFKD", _FOLD.get(ch, ch))
            folded = "".join(c for c in decomposed if not unicodedata.combining(c))
            if folded and all(_has_glyph(c) for c in folded):
                out.append(folded)
            elif not out or out[-1] != "?":
                out.append("?")
    return "".join(out)


def _fit(text: str, font: Font, width: int) -> str:
    """``text`` cut with "..." so it is at most ``width`` pixels wide."""
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "...") > width:
        text = text[:-1]
    return text.rstrip() + "..."


def _wrap(text: str, font: Font, width: int, max_lines: int) -> list[str]:
    """Greedy word wrap to ``width`` pixels; the last kept line ends with "..." if text remains."""
    words = " ".join(text.split())[:_MAX_PROMPT_CHARS].split(" ")
    lines: list[str] = []
    current = ""
    for word in words:
        candidate = f"{current} {word}" if current else word
        if font.getlength(candidate) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        current = word if font.getlength(word) <= width else _fit(word, font, width)
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = _fit(lines[-1] + " ...", font, width)
    return lines


@dataclass(frozen=True)
class Layout:
    width: int
    height: int
    font: Font
    big: Font
    line: int
    margin: int
    timecode_y: int
    bar_y: int
    bar_h: int
    glyphs: _Glyphs


def layout(width: int, height: int) -> Layout:
    size = max(8, round(height / 15))
    margin = max(3, size // 3)
    line = size + max(2, size // 4)
    bar_h = max(2, height // 60)
    bar_y = height - bar_h
    footer_y = bar_y - margin - line  # model / take line
    timecode_y = footer_y - line
    return Layout(
        width=width,
        height=height,
        font=_font(size),
        big=_font(round(size * 1.35)),
        line=line,
        margin=margin,
        timecode_y=timecode_y,
        bar_y=bar_y,
        bar_h=bar_h,
        glyphs=_glyphs(size, line),
    )


def _overlay(
    lay: Layout,
    shot: Shot,
    number: int,
    count: int,
    model: str,
    index: int,
    inset: Image.Image | None = None,
) -> tuple[U16, U16, list[tuple[int, int]]]:
    """Static text (and the reference image) of one shot: RGB x alpha, 256 - alpha (alpha in
    0..256) and row bands."""
    img = Image.new("RGBA", (lay.width, lay.height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    m, w = lay.margin, lay.width
    inner = w - 2 * m
    # Header: shot number, large.
    head_h = round(lay.line * 1.35)
    draw.rectangle((0, 0, w, head_h + m), fill=(0, 0, 0, 150))
    draw.text(
        (m, m // 2), _fit(f"Shot {number}/{count}", lay.big, inner), font=lay.big, fill="white"
    )
    # Prompt, wrapped into the space between header and timecode.
    top = head_h + 2 * m
    room = lay.timecode_y - m - top
    max_lines = max(1, room // lay.line)
    prompt = _printable(shot.prompt).strip() or "(no prompt)"
    lines = _wrap(prompt, lay.font, inner - 2 * m, max_lines)
    if lines:
        box_h = len(lines) * lay.line + m
        draw.rectangle((m, top, w - m, top + box_h), fill=(0, 0, 0, 110))
        for i, text in enumerate(lines):
            draw.text((2 * m, top + m // 2 + i * lay.line), text, font=lay.font, fill="white")
    # Footer: timecode panel (text drawn per frame) and model + take.
    draw.rectangle((0, lay.timecode_y - m // 2, w, lay.bar_y), fill=(0, 0, 0, 150))
    take = f" · take {index + 1}"
    room = max(1, inner - math.ceil(lay.font.getlength(take)))
    footer = _fit(_printable(model), lay.font, room) + take
    draw.text((m, lay.timecode_y + lay.line), footer, font=lay.font, fill=(220, 220, 220))
    if inset is not None:  # the reference image, opaque, at the right below the header
        img.paste(inset.convert("RGBA"), (w - m - inset.width, top))
    rgba = np.asarray(img, dtype=np.uint16)
    alpha = _alpha256(rgba[:, :, 3:4])
    premult = (rgba[:, :, :3] * alpha).astype(np.uint16)
    inverse = (256 - alpha).astype(np.uint16)
    # Runs of rows the overlay touches: rows it leaves alone are not blended per frame.
    used = np.concatenate(([False], alpha[:, :, 0].any(axis=1), [False]))
    edges = np.flatnonzero(used[1:] != used[:-1])
    bands = [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]
    return premult, inverse, bands


def _alpha256(alpha: U16) -> U16:
    """Alpha 0..255 as 0..256, so that blending divides by a shift."""
    return (alpha + (alpha >> 7)).astype(np.uint16)


def _timecode(seconds: float) -> str:
    cs = round(seconds * 100)
    return f"{cs // 6000:02d}:{cs // 100 % 60:02d}.{cs % 100:02d}"


# ---------------------------------------------------------------- pictures


def _palette(seed: bytes) -> tuple[U16, U16]:
    """Two colours from a seed: dark enough for white text to read."""
    h1 = seed[0] / 255
    h2 = (h1 + 0.25 + seed[1] / 255 * 0.5) % 1.0
    c1 = colorsys.hsv_to_rgb(h1, 0.55 + seed[2] / 255 * 0.35, 0.45 + seed[3] / 255 * 0.25)
    c2 = colorsys.hsv_to_rgb(h2, 0.55 + seed[4] / 255 * 0.35, 0.30 + seed[5] / 255 * 0.25)
    return (
        np.array([round(v * 255) for v in c1], dtype=np.uint16),
        np.array([round(v * 255) for v in c2], dtype=np.uint16),
    )


def _background(seed: bytes, width: int, height: int) -> tuple[U16, int]:
    """A diagonal striped pattern, periodic in x with the returned period (px)."""
    c1, c2 = _palette(seed)
    period = max(16, width // 3)
    slope = 0.4 + seed[6] / 255 * 0.8
    x = np.arange(width + period, dtype=np.float32)[None, :]
    y = np.arange(height, dtype=np.float32)[:, None]
    wave = 0.5 + 0.5 * np.sin((x + slope * y) * np.float32(2 * math.pi / period))
    # A soft vertical vignette so the frame is not flat.
    shade = 0.8 + 0.2 * np.cos((y / height - 0.5) * np.float32(math.pi))
    mix = (wave * shade)[:, :, None]
    pattern = c1[None, None, :] * mix + c2[None, None, :] * (1 - mix)
    return np.clip(pattern, 0, 255).astype(np.uint16), period


@dataclass
class ShotArt:
    background: U16
    period: int
    speed: float  # px per second
    premult: U16
    inverse: U16
    bands: list[tuple[int, int]]
    accent: U8


def shot_art(
    lay: Layout,
    key: bytes,
    shot: Shot,
    number: int,
    count: int,
    model: str,
    index: int,
    inset: Image.Image | None,
) -> ShotArt:
    seed = hashlib.sha256(key + f"|shot={number}".encode()).digest()
    background, period = _background(seed, lay.width, lay.height)
    premult, inverse, bands = _overlay(lay, shot, number, count, model, index, inset)
    direction = 1 if seed[7] & 1 else -1
    speed = direction * period * (0.5 + seed[8] / 255)
    accent = np.array(
        [round(v * 255) for v in colorsys.hsv_to_rgb(seed[9] / 255, 0.7, 1.0)], dtype=np.uint8
    )
    return ShotArt(background, period, speed, premult, inverse, bands, accent)


def draw_frame(lay: Layout, art: ShotArt, shot_t: float, total_t: float, total: float) -> U8:
    offset = round(art.speed * shot_t) % art.period
    frame16 = art.background[:, offset : offset + lay.width].copy()
    for first, last in art.bands:
        region = frame16[first:last]
        region *= art.inverse[first:last]
        region += art.premult[first:last]
        region >>= 8
    frame = frame16.astype(np.uint8)
    # Running timecode.
    m = lay.margin
    text = f"{_timecode(total_t)} / {_timecode(total)}"
    if lay.glyphs.width(text) > lay.width - 2 * m:
        text = _timecode(total_t)
    mask = lay.glyphs.mask(text)
    y0 = lay.timecode_y
    y1 = min(lay.height, y0 + mask.shape[0])
    sub = frame[y0:y1, m : m + mask.shape[1]]
    a = _alpha256(mask[: y1 - y0, : sub.shape[1], None].astype(np.uint16))
    sub[:] = ((sub.astype(np.uint16) * (256 - a) + 255 * a) >> 8).astype(np.uint8)
    # Progress bar over the whole clip.
    filled = round(lay.width * min(1.0, total_t / total))
    frame[lay.bar_y :, :filled] = art.accent
    frame[lay.bar_y :, filled:] = 40
    return frame


class _Glyphs:
    """Pre-rendered characters of one font, so the per-frame timecode costs a few array copies."""

    def __init__(self, font: Font, height: int, chars: str = "0123456789:./ ") -> None:
        self.height = height
        self.cells: dict[str, U8] = {}
        for ch in chars:
            advance = max(1, math.ceil(font.getlength(ch)))
            img = Image.new("L", (advance, height), 0)
            ImageDraw.Draw(img).text((0, 0), ch, font=font, fill=255)
            self.cells[ch] = np.asarray(img, dtype=np.uint8)

    def width(self, text: str) -> int:
        return sum(self.cells[ch].shape[1] for ch in text)

    def mask(self, text: str) -> U8:
        return np.concatenate([self.cells[ch] for ch in text], axis=1)


@functools.lru_cache(maxsize=16)
def _glyphs(size: int, height: int) -> _Glyphs:
    return _Glyphs(_font(size), height)


# ---------------------------------------------------------------- sound
