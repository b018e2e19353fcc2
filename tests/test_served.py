"""served_path: where the Jupyter server that started this kernel serves a file (its root from
``jpserver-<parent pid>.json``), or "" where it serves none."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kling_nb.widgets import _served


def test_served_path_is_relative_to_the_parent_jupyter_servers_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json
    import os

    root, runtime = tmp_path / "root", tmp_path / "runtime"
    (root / "sub").mkdir(parents=True)
    runtime.mkdir()
    take = root / "sub" / "take 1.mp4"
    take.write_bytes(b"x")
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    monkeypatch.setattr(_served, "_server_root", _served._server_root.__wrapped__)
    assert _served.served_path(take) == ""  # no server started this process
    info = runtime / f"jpserver-{os.getppid()}.json"
    info.write_text(json.dumps({"root_dir": str(root), "base_url": "/"}))
    assert _served.served_path(take) == "sub/take 1.mp4"
    assert _served.served_path(tmp_path / "elsewhere.mp4") == ""  # outside the root
    (root / ".hidden").mkdir()
    assert _served.served_path(root / ".hidden" / "take.mp4") == ""  # the server refuses it


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The Jupyter runtime folder, empty, read afresh at each call (the root is not cached)."""
    folder = tmp_path / "runtime"
    folder.mkdir()
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(folder))
    monkeypatch.setattr(_served, "_server_root", _served._server_root.__wrapped__)
    return folder


def parent_server(runtime: Path, info: object) -> None:
    """The parent Jupyter server's info file, holding ``info`` as JSON."""
    (runtime / f"jpserver-{os.getppid()}.json").write_text(json.dumps(info))


def test_a_hidden_file_and_the_root_itself_are_not_served(tmp_path: Path, runtime: Path) -> None:
    root = tmp_path / "root"
    (root / "out").mkdir(parents=True)
    parent_server(runtime, {"root_dir": str(root)})
    assert _served.served_path(root / "out" / "take.mp4") == "out/take.mp4"
    assert _served.served_path(root / "out" / ".take.mp4") == ""
    assert _served.served_path(root) == ""


def test_another_servers_info_file_is_not_the_parents(tmp_path: Path, runtime: Path) -> None:
    (runtime / f"jpserver-{os.getppid() + 1}.json").write_text(json.dumps({"root_dir": "/"}))
    assert _served.served_path(tmp_path / "take.mp4") == ""


@pytest.mark.parametrize(
    "info",
    ["not json {", {"base_url": "/"}, {"root_dir": ""}, {"root_dir": 7}],
    ids=["broken", "no-root", "empty-root", "not-a-path"],
)
def test_a_server_info_without_a_usable_root_serves_nothing(
    tmp_path: Path, runtime: Path, info: object
) -> None:
    file = runtime / f"jpserver-{os.getppid()}.json"
    file.write_text(info if isinstance(info, str) else json.dumps(info))
    assert _served.served_path(tmp_path / "take.mp4") == ""


def test_a_root_under_home_is_expanded(
    tmp_path: Path, runtime: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    parent_server(runtime, {"root_dir": "~/notebooks"})
    assert _served.served_path(tmp_path / "notebooks" / "take.mp4") == "take.mp4"


def test_a_path_is_served_where_it_resolves(tmp_path: Path, runtime: Path) -> None:
    root, elsewhere = tmp_path / "root", tmp_path / "elsewhere"
    (root / "out").mkdir(parents=True)
    elsewhere.mkdir()
    (elsewhere / "take.mp4").write_bytes(b"x")
    (root / "out" / "link.mp4").symlink_to(elsewhere / "take.mp4")
    parent_server(runtime, {"root_dir": str(root)})
    assert _served.served_path(root / "out" / "link.mp4") == ""  # the file is outside the root
    assert _served.served_path(root / "out" / ".." / "take.mp4") == "take.mp4"
