"""Local reference images: reading types and sizes from headers, the Kling limits, tokens."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from PIL import Image
from pydantic import ValidationError

from kling_nb.local_images import (
    LocalImageError,
    is_local_token,
    load,
    local_tokens,
    localize,
    lookup,
    parse_token,
)
from kling_nb.requests import VideoRequest


def encoded(fmt: str, size: tuple[int, int], **options: object) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (90, 60, 200)).save(out, format=fmt, **options)
    return out.getvalue()


@pytest.mark.parametrize(
    ("fmt", "options", "mime"),
    [
        ("PNG", {}, "image/png"),
        ("JPEG", {}, "image/jpeg"),
        ("JPEG", {"progressive": True}, "image/jpeg"),
        ("JPEG", {"exif": b"Exif\x00\x00" + b"\x00" * 64}, "image/jpeg"),
        ("WEBP", {"lossless": False}, "image/webp"),  # VP8
        ("WEBP", {"lossless": True}, "image/webp"),  # VP8L
    ],
)
def test_type_and_size_are_read_from_the_header(fmt: str, options: dict, mime: str) -> None:
    for size in ((640, 480), (301, 750)):
        image = load(encoded(fmt, size, **options), name=f"x.{fmt.lower()}")
        assert (image.mime, image.width, image.height) == (mime, *size)


def test_an_extended_webp_header_is_read_too() -> None:
    data = encoded("WEBP", (500, 400), exif=b"Exif\x00\x00" + b"\x00" * 16)  # a VP8X file
    assert data[12:16] == b"VP8X"
    image = load(data, name="x.webp")
    assert (image.width, image.height) == (500, 400)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (encoded("GIF", (400, 400)), "x.img: a GIF image; Kling takes PNG, JPEG or WebP images"),
        (encoded("BMP", (400, 400)), "x.img: not a PNG, JPEG or WebP image"),
        (encoded("PNG", (400, 299)), "x.img: 400x299 px; Kling needs at least 300 px"),
        (encoded("PNG", (751, 300)), "x.img: 751x300 px is 2.50:1; Kling takes aspect ratios"),
        (encoded("PNG", (300, 751)), "x.img: 300x751 px is 1:2.50;"),
        (encoded("JPEG", (400, 400))[:40], "x.img: the image is damaged"),
    ],
)
def test_each_limit_is_one_line_naming_the_file(data: bytes, message: str) -> None:
    with pytest.raises(LocalImageError) as info:
        load(data, name="x.img")
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_the_limits_themselves_pass() -> None:
    load(encoded("PNG", (300, 750)), name="edge.png")  # 1:2.5 exactly, 300 px exactly


def test_a_token_names_the_content_and_the_file(tmp_path: Path) -> None:
    data = encoded("PNG", (400, 400))
    (tmp_path / "my face!.png").write_bytes(data)
    image = load(tmp_path / "my face!.png")
    sha = hashlib.sha256(data).hexdigest()
    assert image.token == f"local:sha256:{sha}/my_face_.png"
    assert parse_token(image.token) == (sha, "my_face_.png") and is_local_token(image.token)
    assert not is_local_token("https://example.com/x.png") and parse_token("face.png") is None
    assert lookup(sha) is image and image.read() == data
    (tmp_path / "my face!.png").write_bytes(encoded("PNG", (500, 400)))
    with pytest.raises(LocalImageError, match="changed after the request was made"):
        image.read()


def test_localize_turns_every_image_slot_into_tokens_and_leaves_urls(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(encoded("PNG", (400, 400)))
    pil = Image.new("RGB", (320, 320), (1, 2, 3))
    body = localize(
        {
            "prompt": "@Image1 @Element1",
            "input_image": [str(tmp_path / "a.png"), "https://example.com/b.jpg"],
            "elements": [{"frontal_image_url": pil, "reference_image_urls": [tmp_path / "a.png"]}],
            "start_image_url": encoded("JPEG", (400, 400)),
        }
    )
    assert body["input_image"][1] == "https://example.com/b.jpg"
    tokens = local_tokens(body)
    assert len(tokens) == 3  # a.png twice is one token
    assert body["elements"][0]["frontal_image_url"].endswith("/image.png")
    request = VideoRequest.model_validate(body)
    assert request.request_hash == VideoRequest.model_validate(dict(body)).request_hash


def test_a_request_takes_path_objects_but_reads_no_string_as_a_path(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(encoded("PNG", (400, 400)))
    request = VideoRequest(prompt="@Image1 x", input_image=[tmp_path / "a.png"])
    assert is_local_token(request.images[0])
    with pytest.raises(ValidationError) as info:
        VideoRequest(prompt="@Image1 x", input_image=[str(tmp_path / "a.png")])
    assert "give it as pathlib.Path" in str(info.value)
    with pytest.raises(ValidationError, match="no such file"):
        VideoRequest(prompt="x", start_image_url=tmp_path / "missing.png")


def test_a_missing_relative_path_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(LocalImageError) as info:
        load("nope.png")
    assert str(info.value) == f"nope.png: no such file (relative paths start in {tmp_path})."
