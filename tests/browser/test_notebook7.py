"""The magic in Notebook 7 (not JupyterLab): ``%load_ext kling_nb`` and a keyless ``%%kling``.

The server runs with no ``OXEN_API_KEY``, so the kernel's first submission starts the bundled
simulator itself; videos go to a temporary ``KLING_NB_OUTPUTS``. Like every browser test this one
fails, never skips, when Chromium or Notebook 7 is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import HarnessError, Lab, jupyter_server, open_notebook, screenshot
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
CELLS = ["%load_ext kling_nb", "%%kling -d 3 --wait\nA paper boat drifts down a rain gutter"]
VIDEO = """() => {
  const cell = document.querySelectorAll(".jp-Notebook .jp-Cell")[1];
  const v = cell?.querySelector(".kling-job video");
  return v && v.readyState >= 2 && Number.isFinite(v.duration)
    ? [v.src, v.duration, v.dataset.source] : null;
}"""


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the kernel's session saves videos and its ledger."""
    return tmp_path_factory.mktemp("kling_outputs")


@pytest.fixture(scope="module")
def notebook7(tmp_path_factory: pytest.TempPathFactory, outputs: Path) -> Iterator[Lab]:
    """A Notebook 7 server whose kernels have no API key (so they use the simulator)."""
    env: dict[str, str | None] = {
        "KLING_NB_OUTPUTS": str(outputs),
        "OXEN_API_KEY": None,
        "KLING_NB_BASE_URL": None,
    }
    try:
        with jupyter_server(tmp_path_factory.mktemp("nb7"), "notebook", env) as server:
            yield server
    except HarnessError as exc:
        pytest.fail(str(exc))


def test_keyless_magic_plays_its_video_in_notebook_7(
    notebook7: Lab, browser: Any, outputs: Path
) -> None:
    nb = open_notebook(notebook7, browser, "magic.ipynb", CELLS)
    try:
        assert "/notebooks/magic.ipynb" in nb.page.url  # Notebook 7's page, not JupyterLab's
        assert nb.page.evaluate("() => jupyterapp.name") == "Jupyter Notebook"
        view = nb.output(1).locator(".kling-job")
        expect(view).to_have_attribute("data-status", "succeeded", timeout=60_000)
        expect(view.locator(".kling-badge-simulated")).to_be_visible()
        src, duration, source = nb.page.wait_for_function(VIDEO, timeout=30_000).json_value()
        # The outputs folder is outside the server's root: the kernel sent the file in chunks.
        assert source == "kernel" and src.startswith("blob:") and abs(duration - 3.0) <= 0.2
        [video] = list(outputs.rglob("*.mp4"))  # simulated results go to a subfolder
        expect(view.locator(".kling-facts")).to_contain_text(video.name)
        assert nb.dialogs == []
        screenshot(view, "jobview-notebook7.png")
    finally:
        nb.page.context.close()
        notebook7.shutdown_kernels()
