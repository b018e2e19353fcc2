"""The wheel ships the front end: js/ lands in kling_nb/_static/, and an installed copy finds it."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def tracked_js_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "js"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    return sorted(Path(line).relative_to("js").as_posix() for line in out.splitlines())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist)],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=240,
    )
    (built,) = dist.glob("kling_nb-*.whl")
    return built


def test_the_wheel_holds_every_js_file_under_static(wheel: Path):
    js = tracked_js_files()
    assert js, "js/ should hold the widgets' front end"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for name in js:
            packed = archive.read(f"kling_nb/_static/{name}")
            assert packed == (REPO / "js" / name).read_bytes()
    static = sorted(n.removeprefix("kling_nb/_static/") for n in names if "/_static/" in n)
    assert static == js
    assert "kling_nb/py.typed" in names
    assert "kling_nb/requests.py" in names
    assert not any(name.startswith("tests/") for name in names)


def test_a_non_editable_install_finds_the_static_files(wheel: Path, tmp_path: Path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    probe = (
        "import importlib.resources, json, kling_nb\n"
        "static = importlib.resources.files('kling_nb') / '_static'\n"
        "print(json.dumps({'file': kling_nb.__file__,\n"
        "    'static': sorted(p.name for p in static.iterdir())}))\n"
    )
    # -I: no user site, no PYTHONPATH, no current directory, so only the installed copy is found.
    out = subprocess.run(
        [str(python), "-I", "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    found = json.loads(out)
    assert Path(found["file"]).is_relative_to(venv)
    assert found["static"] == sorted(Path(name).name for name in tracked_js_files())
