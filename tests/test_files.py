"""Result files: collision-free names, locked temporary files, placement that never overwrites
another file, and the removal of leftovers from killed processes."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from _policies import FAST
from test_money_safety import KEY, until

from kling_nb.client import Client
from kling_nb.errors import DownloadError
from kling_nb.files import PartFile, clean_parts, extension, result_name, save_b64


@pytest.mark.parametrize(
    "ids",
    [
        ["a/b", "a_b"],
        ["x" * 100 + "1", "x" * 100 + "2"],
        ["日本", "中国", "..."],
    ],
)
def test_distinct_generation_ids_never_share_a_file_name(ids: list[str]) -> None:

    names = [result_name(gid) for gid in ids]
    assert len(set(names)) == len(ids)
    for name in names:
        assert name.replace("-", "").replace("_", "").isalnum() and name.isascii()


def test_a_save_never_replaces_a_file_it_did_not_write(tmp_path: Path) -> None:
    mine = tmp_path / "take-1.mp4"
    mine.write_bytes(b"the user's own video")
    with PartFile(tmp_path, "take-1") as part:
        part.write(b"a downloaded result")
        saved = part.keep(".mp4")
    assert mine.read_bytes() == b"the user's own video"
    assert saved.path.name == "take-1-1.mp4"
    assert saved.path.read_bytes() == b"a downloaded result"
    with PartFile(tmp_path, "take-1") as part:  # the same bytes again: the same file
        part.write(b"a downloaded result")
        assert part.keep(".mp4").path == saved.path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["take-1-1.mp4", "take-1.mp4"]


def test_part_files_left_by_a_killed_process_are_removed_but_not_those_being_written(
    tmp_path: Path,
) -> None:
    stale = tmp_path / ".gen-abc.0123456789ab.part"
    stale.write_bytes(b"half a video from a killed kernel")
    with PartFile(tmp_path, "busy") as busy:  # another kernel's download, still running
        with Client(KEY, "http://127.0.0.1:9", tmp_path, policy=FAST) as c:
            c.runtime.call_soon(c.engine.start)
            until(lambda: not stale.exists(), 10)
        assert busy.path.exists()
    assert clean_parts(tmp_path) == 0


def test_a_part_file_is_removed_when_not_kept_and_capped_in_size(tmp_path: Path) -> None:
    with (
        pytest.raises(DownloadError, match="size cap") as caught,
        PartFile(tmp_path, "big", limit=10) as part,
    ):
        part.write(b"12345")
        part.write(b"678901")
    assert caught.value.retry == "fresh_url"
    assert list(tmp_path.iterdir()) == []


def test_save_b64_hashes_what_it_saves_and_refuses_junk(tmp_path: Path) -> None:
    saved = save_b64(base64.b64encode(b"video bytes").decode(), tmp_path, "sync-x")
    assert saved.path.read_bytes() == b"video bytes" and saved.size == 11
    with pytest.raises(DownloadError, match="unreadable b64_json"):
        save_b64("%%% not base64", tmp_path, "sync-y")


@pytest.mark.parametrize(
    ("content_type", "path", "ext"),
    [
        ("video/mp4", "/x", ".mp4"),
        ("video/webm; codecs=vp9", "/x.mp4", ".webm"),
        ("application/octet-stream", "/a/b.MOV", ".mov"),
        ("", "/a/b.exe", ".mp4"),
    ],
)
def test_extension(content_type: str, path: str, ext: str) -> None:
    assert extension(content_type, path) == ext
