"""The HTML export of an executed notebook (what ``make demo`` writes) plays each result from the
file beside it, in Chromium, with no kernel and no server."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from kling_nb.demo import execute_notebook, simulated_env

pytestmark = pytest.mark.browser
PLAYABLE = """async () => {
  const videos = [...document.querySelectorAll("video")];
  return await Promise.all(videos.map((v) => new Promise((done) => {
    v.muted = true;
    v.onerror = () => done({src: v.getAttribute("src"), error: v.error && v.error.message});
    v.onloadeddata = () => done({src: v.getAttribute("src"), duration: v.duration,
                                 poster: v.poster.slice(0, 22)});
    v.load();
  })));
}"""


def test_each_result_plays_from_the_file_beside_the_exported_page(
    browser: Any, tmp_path: Path
) -> None:
    import nbformat

    source = tmp_path / "export.ipynb"
    nb = nbformat.v4.new_notebook()
    cells = ["%load_ext kling_nb", "%%kling -d 3 -n 2 --wait\nA kite over a beach"]
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, source)
    out = tmp_path / "out"
    run = execute_notebook(source, out, env=simulated_env(out / "kling_outputs"))
    assert run.errors == [] and run.html is not None
    page = browser.new_page()
    try:
        page.goto(run.html.as_uri())
        videos = page.evaluate(PLAYABLE)
    finally:
        page.context.close()
    assert len(videos) == 2, videos
    for video in videos:
        assert "error" not in video, video
        assert abs(video["duration"] - 3.0) <= 0.2
        assert video["poster"] == "data:image/jpeg;base64"
        assert not os.path.isabs(video["src"]) and (out / video["src"]).is_file()
