"""The front-end files: the checkout's ``js/`` folder in a source checkout, ``kling_nb/_static``
in an installed wheel, a clear error without either; the widgets' modules are these files."""

from __future__ import annotations

from pathlib import Path

import pytest
from _widgets import FakeJob, request

from kling_nb.widgets import JobView, RequestForm, _static
from kling_nb.widgets._static import joined, static_dir, static_file


def test_the_front_end_is_the_plain_files_and_views_share_theirs() -> None:
    text = {p.name: static_file(p.name).read_text() for p in static_dir().iterdir()}
    assert {"common.js", "job.js", "job_loader.js", "form.js", "kling.css"} <= set(text)
    first, second = JobView(FakeJob(request())), JobView(FakeJob(request()))
    assert first._esm == text["job_loader.js"] and not hasattr(first, "_css")
    assert first.frontend is second.frontend  # the code and style are saved once per notebook
    assert first.get_state()["frontend"] == f"IPY_MODEL_{first.frontend.model_id}"
    assert first.frontend._esm == text["common.js"] + "\n" + text["job.js"]
    assert first.frontend._css == text["kling.css"]
    first.frontend.close()
    assert JobView(FakeJob(request())).frontend.comm is not None  # a closed one is replaced
    editor = RequestForm().editor
    assert editor._esm == "\n".join(
        text[n] for n in ("common.js", "picker.js", "inputs.js", "form.js")
    )
    assert editor._css == text["kling.css"] + "\n" + text["form.css"]


@pytest.fixture
def layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder standing for the package's parent: a checkout or site-packages, as a test
    fills it; the package is its ``kling_nb`` folder."""
    monkeypatch.setattr(_static, "_CHECKOUT", tmp_path)
    monkeypatch.setattr(_static, "_PACKAGE", tmp_path / "kling_nb")
    (tmp_path / "kling_nb").mkdir()
    return tmp_path


def files(folder: Path, texts: dict[str, str]) -> Path:
    """``folder`` holding files named and filled as in ``texts``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        (folder / name).write_text(text)
    return folder


def test_a_source_checkout_uses_its_js_folder(layout: Path) -> None:
    (layout / "pyproject.toml").write_text("[project]\n")
    js = files(layout / "js", {"job.js": "// checkout"})
    files(layout / "kling_nb" / "_static", {"job.js": "// stale build"})
    assert static_dir() == js and static_file("job.js").read_text() == "// checkout"


@pytest.mark.parametrize("checkout", ["no pyproject", "no job.js"])
def test_an_installed_wheel_uses_its_static_folder(layout: Path, checkout: str) -> None:
    if checkout == "no job.js":
        (layout / "pyproject.toml").write_text("[project]\n")
        files(layout / "js", {"kling.css": ""})
    else:
        files(layout / "js", {"job.js": "// another package's js folder"})
    installed = files(layout / "kling_nb" / "_static", {"job.js": "// wheel"})
    assert static_dir() == installed


def test_without_the_files_the_error_says_where_it_looked_and_what_to_do(layout: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        static_dir()
    message = str(info.value)
    assert str(layout / "js") in message and str(layout / "kling_nb" / "_static") in message
    assert "pip install --force-reinstall kling-nb" in message


def test_joined_files_follow_one_another_as_they_are(layout: Path) -> None:
    files(layout / "kling_nb" / "_static", {"job.js": "job();\n", "common.js": "common();"})
    assert joined("common.js", "job.js") == "common();\njob();\n"
