"""The form's file picker, Python side, and paths typed into the form's image slots."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from kling_nb.local_images import MAX_BYTES, is_local_token, lookup, parse_token
from kling_nb.widgets._draft import draft_from_request
from kling_nb.widgets._picker import Picker
from kling_nb.widgets.request_form import RequestForm


def png(size: tuple[int, int] = (400, 320)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (5, 120, 240)).save(out, format="PNG")
    return out.getvalue()


class Replies:
    def __init__(self) -> None:
        self.sent: list[tuple[dict[str, Any], list[bytes]]] = []

    def __call__(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        self.sent.append((content, buffers))


def test_a_file_sent_in_chunks_is_checked_and_answered_with_its_token() -> None:
    replies = Replies()
    picker = Picker(replies)
    data = png()
    cut = len(data) // 3
    pieces = [data[:cut], data[cut : 2 * cut], data[2 * cut :]]
    head = {"kind": "local-image", "id": "p1", "name": "face.png", "size": len(data), "parts": 3}
    assert picker.handle({**head, "part": 0}, [pieces[0]])
    assert picker.handle({"kind": "local-image", "id": "p1", "part": 2}, [pieces[2]])
    assert replies.sent == []  # not all parts yet
    picker.handle({"kind": "local-image", "id": "p1", "part": 1}, [pieces[1]])
    [(answer, _)] = replies.sent
    assert answer["id"] == "p1" and is_local_token(answer["token"])
    assert answer["token"].endswith("/face.png")
    parsed = parse_token(answer["token"])
    assert parsed is not None and lookup(parsed[0]) is not None
    # The browser asks for a thumbnail of a token: the bytes come back.
    picker.handle({"kind": "local-preview", "id": "v1", "token": answer["token"]}, [])
    preview, buffers = replies.sent[-1]
    assert preview == {"kind": "local-response", "id": "v1", "found": True, "mime": "image/png"}
    assert buffers == [data]
    assert not picker.handle({"kind": "submit"}, [])


def test_a_refused_file_is_answered_in_one_line_and_a_huge_one_at_its_first_chunk() -> None:
    replies = Replies()
    picker = Picker(replies)
    small = png((200, 200))
    picker.handle(
        {
            "kind": "local-image",
            "id": "a",
            "name": "s.png",
            "size": len(small),
            "part": 0,
            "parts": 1,
        },
        [small],
    )
    assert replies.sent[-1][0]["error"].startswith("s.png: 200x200 px; Kling needs at least 300")
    picker.handle(
        {
            "kind": "local-image",
            "id": "b",
            "name": "big.png",
            "size": MAX_BYTES + 1,
            "part": 0,
            "parts": 9,
        },
        [b"\x89PNG"],
    )
    assert replies.sent[-1][0] == {
        "kind": "local-response",
        "id": "b",
        "error": "big.png: 30.0 MB; Kling takes images of at most 30 MB: resize or recompress it.",
    }
    picker.handle({"kind": "local-image", "id": "b", "part": 1}, [b"..."])  # ignored now
    assert len(replies.sent) == 2


def test_a_path_typed_into_the_form_is_a_local_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "face.png").write_bytes(png())
    form = RequestForm()
    draft = {**draft_from_request(None), "prompt": "@Image1 waves", "input_image": ["face.png"]}
    assert form.validate(draft) == {}
    assert is_local_token(form.request.images[0])
    assert "-i face.png" in form.editor.exports["magic"]
    errors = form.validate({**draft, "input_image": ["nope.png"]})
    assert errors[""][0].startswith("nope.png: no such file")
    assert not form.editor.valid
