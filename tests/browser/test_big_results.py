"""80 MB takes in JupyterLab: they play and seek from the Jupyter server's files/ URL, and from
chunks the kernel sends where the server cannot reach the file; saved views stay small.

The simulator pads each result to 80 MB with a trailing MP4 ``free`` box, so the files are as big
as 4K results while rendering stays cheap. One notebook serves the module.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import nbformat
import pytest
from harness import Lab, NotebookPage, open_notebook
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
SIZE = 80_000_000
CELLS = [
    f"""import kling_nb
from kling_nb.simulator import run
sim = run(generation_seconds=0.5, result_size_bytes={SIZE})
def client(folder):
    return kling_nb.Client(api_key="sk-test", base_url=sim.base_url, outputs_dir=folder,
                           simulated=True)
served, outside = client("big_outputs"), client("../outside_the_root")""",
    """job = served.submit(kling_nb.VideoRequest(prompt="served", duration=4)).wait(120)
kling_nb.JobView(job)""",
    """job2 = outside.submit(kling_nb.VideoRequest(prompt="outside", duration=4)).wait(120)
kling_nb.JobView(job2)""",
]
# The cell's video once playable: its source ("file" or "kernel"), src and duration.
PLAYABLE = """(cell) => {
  const v = document.querySelectorAll(".jp-Notebook .jp-Cell")[cell]?.querySelector("video");
  return v && v.readyState >= 2 && Number.isFinite(v.duration)
    ? {source: v.dataset.source, src: v.src, duration: v.duration} : null;
}"""
# Every text a take's progress line shows, as it changes (installed before the page's scripts).
RECORD_PROGRESS = """window.__progress = [];
new MutationObserver((records) => {
  for (const r of records) {
    if (r.target.classList?.contains("kling-hint")) window.__progress.push(r.target.textContent);
  }
}).observe(document, { childList: true, characterData: true, subtree: true });"""
SEEK = """(cell) => {
  const v = document.querySelectorAll(".jp-Notebook .jp-Cell")[cell].querySelector("video");
  v.dataset.seeked = "";
  v.addEventListener("seeked", () => (v.dataset.seeked = String(v.currentTime)), {once: true});
  v.currentTime = v.duration / 2;
}"""
SEEKED = """(cell) => {
  const v = document.querySelectorAll(".jp-Notebook .jp-Cell")[cell].querySelector("video");
  return v.dataset.seeked && v.readyState >= 2 ? [Number(v.dataset.seeked), v.duration] : null;
}"""


@pytest.fixture(scope="module")
def nb(lab: Lab, browser: Any) -> Iterator[NotebookPage]:
    page = open_notebook(lab, browser, "big.ipynb", CELLS, init_script=RECORD_PROGRESS)
    for cell in (1, 2):
        view = page.output(cell).locator(".kling-job")
        expect(view).to_have_attribute("data-status", "succeeded", timeout=180_000)
    yield page
    page.page.context.close()
    lab.shutdown_kernels()


def plays_and_seeks(nb: NotebookPage, cell: int) -> dict[str, Any]:
    """Wait until the cell's video is playable, seek it to its middle, and check it got there."""
    playing = nb.page.wait_for_function(PLAYABLE, arg=cell, timeout=60_000).json_value()
    assert abs(playing["duration"] - 4.0) <= 0.2
    nb.page.evaluate(SEEK, cell)
    at, duration = nb.page.wait_for_function(SEEKED, arg=cell, timeout=30_000).json_value()
    assert abs(at - duration / 2) <= 0.5
    return dict(playing)


def test_an_80_mb_take_plays_and_seeks_from_the_servers_files_url(nb: NotebookPage) -> None:
    playing = plays_and_seeks(nb, 1)
    assert playing["source"] == "file"
    assert playing["src"].startswith(nb.page.url.split("/lab/")[0] + "/files/big_outputs/")
    facts = nb.output(1).locator(".kling-facts")
    expect(facts).to_contain_text("80.0 MB")


def test_an_80_mb_take_outside_the_root_plays_and_seeks_from_kernel_chunks(
    nb: NotebookPage,
) -> None:
    playing = plays_and_seeks(nb, 2)
    assert playing["source"] == "kernel" and playing["src"].startswith("blob:")
    progress = nb.page.evaluate("() => window.__progress")
    loaded = [float(m[1]) for t in progress if (m := re.search(r"([\d.]+) MB of 80.0 MB", t))]
    assert loaded and min(loaded) < 80 and loaded == sorted(loaded), progress  # shown as it came
    expect(nb.output(2).locator(".kling-hint").first).to_be_hidden()  # the progress line is done


def test_a_saved_notebook_grows_by_under_20_kb_per_finished_view(nb: NotebookPage) -> None:
    plays_and_seeks(nb, 1)
    nb.page.evaluate("() => jupyterapp.commands.execute('docmanager:save')")
    nb.page.wait_for_function(
        "() => !jupyterapp.shell.currentWidget.context.model.dirty", timeout=30_000
    )
    saved = nbformat.read(nb.path, as_version=4)
    state = saved.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    size = len(nbformat.writes(saved).encode())
    views = 0
    for cell in saved.cells[1:]:
        [output] = cell.outputs
        model_id = output["data"]["application/vnd.jupyter.widget-view+json"]["model_id"]
        layout = state[model_id]["state"]["layout"].removeprefix("IPY_MODEL_")
        del state[model_id], state[layout]
        cell.outputs = []
        views += 1
    without = len(nbformat.writes(saved).encode())
    per_view = (size - without) / views
    print(f"saved notebook growth per finished 80 MB JobView: {per_view / 1000:.1f} KB")
    assert 5_000 < per_view < 20_000, json.dumps(state)[:500]
