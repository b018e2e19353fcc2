"""The form's file picker, Python side: local images the browser sends in chunks (js/picker.js).

Each file is checked against the Kling limits (``kling_nb.local_images``) as soon as it has
arrived, and answered with its token or a one-line error. A file declared larger than the limit
is refused at its first chunk, so the browser stops sending it. The browser may also ask for a
token's image bytes, to draw a thumbnail of an image it did not pick itself (a typed path).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kling_nb.local_images import (
    MAX_BYTES,
    LocalImageError,
    load,
    lookup,
    parse_token,
    too_big,
)

__all__ = ["Picker"]

Send = Callable[[dict[str, Any], list[bytes]], None]


@dataclass
class _Arriving:
    name: str
    parts: int
    chunks: dict[int, bytes] = field(default_factory=dict)


class Picker:
    """Answers ``local-image`` and ``local-preview`` messages of one form."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._arriving: dict[str, _Arriving] = {}

    def handle(self, content: dict[str, Any], buffers: list[bytes]) -> bool:
        """Handle a picker message; False for any other message."""
        kind = content.get("kind")
        if kind == "local-image":
            self._chunk(content, buffers)
        elif kind == "local-preview":
            self._preview(content)
        else:
            return False
        return True

    def _reply(self, msg_id: object, buffers: list[bytes] | None = None, **answer: Any) -> None:
        self._send({"kind": "local-response", "id": msg_id, **answer}, buffers or [])

    def _chunk(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        msg_id, part = content.get("id"), content.get("part")
        if not isinstance(msg_id, str) or not isinstance(part, int) or len(buffers) != 1:
            return
        if part == 0:
            name = str(content.get("name") or "image")
            size = content.get("size")
            if isinstance(size, int) and size > MAX_BYTES:
                self._reply(msg_id, error=too_big(name, size))
                return
            parts = content.get("parts")
            self._arriving[msg_id] = _Arriving(name, parts if isinstance(parts, int) else 1)
        arriving = self._arriving.get(msg_id)
        if arriving is None:
            return
        arriving.chunks[part] = bytes(buffers[0])
        if len(arriving.chunks) < arriving.parts:
            return
        del self._arriving[msg_id]
        data = b"".join(arriving.chunks[i] for i in sorted(arriving.chunks))
        try:
            image = load(data, name=arriving.name)
        except LocalImageError as exc:
            self._reply(msg_id, error=str(exc))
            return
        self._reply(msg_id, token=image.token)

    def _preview(self, content: dict[str, Any]) -> None:
        parsed = parse_token(str(content.get("token", "")))
        image = lookup(parsed[0]) if parsed else None
        try:
            data = image.read() if image is not None else None
        except LocalImageError:
            data = None
        if image is None or data is None:
            self._reply(content.get("id"), found=False)
        else:
            self._reply(content.get("id"), [data], found=True, mime=image.mime)
