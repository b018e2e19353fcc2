"""Local reference images: a path, bytes or a PIL image, checked and named by its content.

A local image stands in a request as a *token*, ``local:sha256:<hex>/<name>``, so the request's
hash follows the image's content (never a presigned URL, which changes every time). The image
itself stays in this process (``lookup``) until the client uploads it at submit
(:mod:`kling_nb.uploads`). Before any of that, ``load`` checks the Kling limits; each failure is
a one-line ``LocalImageError`` naming the file and the rule::

    >>> token = localize({"input_image": ["face.png"]})["input_image"][0]  # doctest: +SKIP
    'local:sha256:9f86d0.../face.png'
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import struct
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kling_nb.errors import KlingError

__all__ = [
    "MAX_BYTES",
    "MIN_SHORT_SIDE",
    "LocalImage",
    "LocalImageError",
    "is_local_token",
    "load",
    "local_tokens",
    "localize",
    "lookup",
    "map_references",
    "parse_token",
    "reference",
    "too_big",
]

MAX_BYTES = 30 * 1024 * 1024
MIN_SHORT_SIDE = 300
MAX_ASPECT = 2.5
_TOKEN = re.compile(r"local:sha256:([0-9a-f]{64})/([A-Za-z0-9._-]{1,100})")
_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}
# JPEG start-of-frame markers (they carry the size); others are skipped by their length.
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


class LocalImageError(KlingError, ValueError):
    """A local reference image the model would not take (or that cannot be read)."""


@dataclass(frozen=True)
class LocalImage:
    """A checked local image: its name, content hash, type, size and dimensions."""

    name: str
    sha256: str
    mime: str
    size: int
    width: int
    height: int
    path: Path | None = None  # where it was read from; None for bytes or a PIL image
    given: str | None = None  # the path as the user wrote it (for the %%kling export)
    data: bytes | None = None  # kept only for in-memory images

    @property
    def token(self) -> str:
        """What stands for this image in a request."""
        return f"local:sha256:{self.sha256}/{self.name}"

    def read(self) -> bytes:
        """The image's bytes; ``LocalImageError`` if the file changed since it was checked."""
        if self.data is not None:
            return self.data
        assert self.path is not None
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise LocalImageError(f"{self.name}: cannot be read any more ({exc}).") from None
        if hashlib.sha256(data).hexdigest() != self.sha256:
            raise LocalImageError(
                f"{self.name}: the file changed after the request was made; run the cell again."
            )
        return data


_known: dict[str, LocalImage] = {}  # sha256 -> image, for every image loaded in this process
_by_file: dict[tuple[str, int, int], LocalImage] = {}  # (path, mtime_ns, size) -> image
_lock = threading.Lock()


def lookup(sha256: str) -> LocalImage | None:
    """The image with this content hash loaded in this process, if any."""
    with _lock:
        return _known.get(sha256)


def parse_token(value: str) -> tuple[str, str] | None:
    """``(sha256, name)`` of a local image token, else None."""
    match = _TOKEN.fullmatch(value)
    return (match.group(1), match.group(2)) if match else None


def is_local_token(value: object) -> bool:
    """Whether ``value`` is a local image token."""
    return isinstance(value, str) and parse_token(value) is not None


def _safe_name(name: str, mime: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", Path(name).name).strip("._")[:90]
    return stem or f"image.{_EXTENSIONS[mime]}"


def _dimensions(data: bytes, name: str) -> tuple[str, int, int]:
    """``(mime, width, height)`` read from the image's header; refuses other types."""
    try:
        if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR":
            width, height = struct.unpack(">II", data[16:24])
            return "image/png", width, height
        if data.startswith(b"\xff\xd8"):
            return ("image/jpeg", *_jpeg_size(data))
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return ("image/webp", *_webp_size(data))
    except (struct.error, IndexError):
        pass
    else:
        kind = "a GIF image" if data[:4] == b"GIF8" else "not a PNG, JPEG or WebP image"
        raise LocalImageError(
            f"{name}: {kind}; Kling takes PNG, JPEG or WebP images: convert it to one of those."
        )
    raise LocalImageError(f"{name}: the image is damaged (its header cannot be read).")


def _jpeg_size(data: bytes) -> tuple[int, int]:
    i = 2
    while True:
        while data[i] != 0xFF:  # bytes between segments are not allowed; tolerate them
            i += 1
        while data[i] == 0xFF:
            i += 1
        marker = data[i]
        if marker in _SOF:
            height, width = struct.unpack(">HH", data[i + 4 : i + 8])
            return width, height
        if marker == 0xD9 or marker == 0xDA:  # end of image, or pixel data before any size
            raise IndexError
        if 0xD0 <= marker <= 0xD8 or marker == 0x01:  # markers without a length
            i += 1
            continue
        (length,) = struct.unpack(">H", data[i + 1 : i + 3])
        i += 1 + length


def _webp_size(data: bytes) -> tuple[int, int]:
    chunk = data[12:16]
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":
        (bits,) = struct.unpack("<I", data[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    raise IndexError


def _check(data: bytes, name: str) -> tuple[str, int, int]:
    """The Kling limits, in order: type, size, short side, aspect ratio."""
    mime, width, height = _dimensions(data, name)
    if len(data) > MAX_BYTES:
        raise LocalImageError(too_big(name, len(data)))
    if min(width, height) < MIN_SHORT_SIDE:
        raise LocalImageError(
            f"{name}: {width}x{height} px; Kling needs at least {MIN_SHORT_SIDE} px on the short "
            "side: use a larger image."
        )
    if max(width, height) > MAX_ASPECT * min(width, height):
        ratio = max(width, height) / min(width, height)
        shape = f"{ratio:.2f}:1" if width >= height else f"1:{ratio:.2f}"
        raise LocalImageError(
            f"{name}: {width}x{height} px is {shape}; Kling takes aspect ratios between 1:2.5 "
            "and 2.5:1: crop it."
        )
    return mime, width, height


def too_big(name: str, size: int) -> str:
    """The refusal of an image of ``size`` bytes, over ``MAX_BYTES``."""
    return (
        f"{name}: {size / 1024 / 1024:.1f} MB; Kling takes images of at most "
        f"{MAX_BYTES // 1024 // 1024} MB: resize or recompress it."
    )


def _remember(image: LocalImage) -> LocalImage:
    with _lock:
        _known[image.sha256] = image  # the latest source of this content
    return image


def _from_bytes(data: bytes, name: str | None) -> LocalImage:
    shown = name or "the image given as bytes"
    mime, width, height = _check(data, shown)
    sha = hashlib.sha256(data).hexdigest()
    return _remember(
        LocalImage(_safe_name(name or "", mime), sha, mime, len(data), width, height, data=data)
    )


def _from_path(given: str | os.PathLike[str]) -> LocalImage:
    shown = os.fspath(given)
    path = Path(shown).expanduser().absolute()  # read again at submit, maybe elsewhere
    try:
        stat = path.stat()
    except OSError:
        relative = not Path(shown).expanduser().is_absolute()
        where = f" (relative paths start in {Path.cwd()})" if relative else ""
        raise LocalImageError(f"{shown}: no such file{where}.") from None
    if not path.is_file():
        raise LocalImageError(f"{shown}: not a file.")
    if stat.st_size > MAX_BYTES:  # refused before reading it
        raise LocalImageError(too_big(shown, stat.st_size))
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    with _lock:
        known = _by_file.get(key)
    if known is not None and known.given == shown:
        return _remember(known)
    data = path.read_bytes()
    mime, width, height = _check(data, shown)
    sha = hashlib.sha256(data).hexdigest()
    image = LocalImage(
        _safe_name(path.name, mime), sha, mime, len(data), width, height, path=path, given=shown
    )
    with _lock:
        _by_file[key] = image
    return _remember(image)


def _pil_bytes(value: object) -> bytes | None:
    """PNG bytes of a PIL image (PIL is imported only if the caller already uses it)."""
    pil = sys.modules.get("PIL.Image")
    if pil is None or not isinstance(value, pil.Image):
        return None
    buffer = io.BytesIO()
    value.save(buffer, format="PNG")
    return buffer.getvalue()


def load(value: object, *, name: str | None = None) -> LocalImage:
    """A checked ``LocalImage`` from a path (``str``, ``pathlib.Path``), bytes or a PIL image."""
    if isinstance(value, str | os.PathLike):
        return _from_path(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return _from_bytes(bytes(value), name)
    data = _pil_bytes(value)
    if data is not None:
        return _from_bytes(data, name or "image.png")
    raise LocalImageError(
        f"A reference image must be a URL, a file path, bytes or a PIL image, not "
        f"{type(value).__name__}."
    )


def _is_url(value: str) -> bool:
    return value.lower().startswith(("http://", "https://")) or is_local_token(value)


def reference(value: object, *, paths: bool) -> object:
    """``value`` with a local image replaced by its token. Strings other than URLs and tokens
    are read as paths only when ``paths`` (a request body parsed from JSON never is)."""
    if isinstance(value, str):
        return load(value).token if paths and value.strip() and not _is_url(value) else value
    if isinstance(value, list):
        return [reference(item, paths=paths) for item in value]
    if value is None or isinstance(value, int | float | dict | tuple):
        return value  # not an image: the request's own rules refuse it in their words
    return load(value).token


def map_references(body: Mapping[str, Any], convert: Callable[[Any], Any]) -> dict[str, Any]:
    """A copy of a request body with ``convert`` applied to every image reference: each of
    ``input_image``, ``start_image_url``, ``tail_image_url`` and each element's images."""
    out = dict(body)
    for key in ("input_image", "start_image_url", "tail_image_url"):
        if out.get(key) is not None:
            value = out[key]
            out[key] = [convert(v) for v in value] if isinstance(value, list) else convert(value)
    if isinstance(out.get("elements"), list):
        elements = []
        for element in out["elements"]:
            if isinstance(element, Mapping):
                element = dict(element)
                if "frontal_image_url" in element:
                    element["frontal_image_url"] = convert(element["frontal_image_url"])
                if isinstance(element.get("reference_image_urls"), list | tuple):
                    element["reference_image_urls"] = [
                        convert(v) for v in element["reference_image_urls"]
                    ]
            elements.append(element)
        out["elements"] = elements
    return out


def local_tokens(body: Mapping[str, Any]) -> list[str]:
    """The distinct local image tokens of a request body, in order."""
    found: dict[str, None] = {}

    def note(value: Any) -> Any:
        if is_local_token(value):
            found[value] = None
        return value

    map_references(body, note)
    return list(found)


def localize(body: Mapping[str, Any]) -> dict[str, Any]:
    """A request body with every local image (a path, ``Path``, bytes or PIL image) checked and
    replaced by its token: what ``%%kling``, the form and ``Client.submit`` accept."""
    return map_references(body, lambda value: reference(value, paths=True))
