"""JobView in JupyterLab against the real Client and the bundled simulator.

One notebook serves the module: a form, a job whose prompt is an XSS attempt, a cell that keeps
the kernel busy until the first test has seen updates arrive meanwhile, and a job on a slow
simulator to cancel.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from harness import Lab, NotebookPage, open_notebook, screenshot
from playwright.sync_api import expect

XSS = "<img src=x onerror=alert(1)>"
SEEN = "updates_seen"  # made by the first test: the busy cell then ends
CELLS = [
    """import os
import time
import kling_nb
from kling_nb.simulator import run
sim = run(generation_seconds=3)
client = kling_nb.Client(api_key="sk-test", base_url=sim.base_url,
                         outputs_dir="outputs_live", simulated=True)""",
    "form = kling_nb.RequestForm(client)\nform",
    f"""job = client.submit(kling_nb.VideoRequest(prompt={XSS!r}, duration=3))
kling_nb.widgets.job_view.show(job)  # refreshed by a display update when it ends""",
    f"""for _ in range(1200):  # busy until the first test has seen the job end (at most 120 s)
    if os.path.exists({SEEN!r}):
        break
    time.sleep(0.1)""",
    """slow = run(generation_seconds=600)
slow_client = kling_nb.Client(api_key="sk-test", base_url=slow.base_url,
                              outputs_dir="outputs_slow", simulated=True)
long_job = slow_client.submit(kling_nb.VideoRequest(prompt="A long take", duration=3), 2)
kling_nb.JobView(long_job)""",
]
pytestmark = pytest.mark.browser
# Looked up afresh on each poll: a display update may re-render the view (a new <video>).
PLAYING = """([cell, state]) => {
  const cells = document.querySelectorAll(".jp-Notebook .jp-Cell");
  const v = cells[cell]?.querySelector(".kling-job video");
  return v && v.readyState >= state && Number.isFinite(v.duration)
    ? [v.src, v.duration, v.dataset.source] : null;
}"""


@pytest.fixture(scope="module")
def nb(lab: Lab, browser: Any) -> Iterator[NotebookPage]:
    page = open_notebook(lab, browser, "live.ipynb", CELLS)
    yield page
    page.page.context.close()
    lab.shutdown_kernels()


def assert_plays(nb: NotebookPage, cell: int, seconds: float, state: int = 2) -> None:
    """The cell's JobView plays (readyState >= 2) a clip of that length from the Jupyter server's
    files/ URL (the outputs folder is under the server's root), not through the kernel."""
    src, duration, source = nb.page.wait_for_function(
        PLAYING, arg=[cell, state], timeout=30_000
    ).json_value()
    assert source == "file" and src.startswith(f"{nb.page.url.split('/lab/')[0]}/files/")
    assert abs(duration - seconds) <= 0.2


def test_updates_arrive_while_another_cell_sleeps(nb: NotebookPage, lab: Lab) -> None:
    view = nb.output(2).locator(".kling-job")
    try:
        expect(view).to_be_visible(timeout=60_000)
        sleeping = nb.cell(3).locator(".jp-InputPrompt")
        expect(sleeping).to_contain_text("*", timeout=30_000)  # the busy cell has started
        expect(view).to_have_attribute("data-status", "succeeded", timeout=30_000)
        expect(sleeping).to_contain_text("*")  # ...and is still running
    finally:
        (lab.root / SEEN).touch()
    expect(view.locator(".kling-badge-simulated")).to_be_visible()
    assert_plays(nb, 2, 3.0)
    # kling.css reached the page through the shared JobFrontend model
    assert view.locator(".kling-grid").evaluate("e => getComputedStyle(e).display") == "grid"


def test_xss_prompt_stays_text(nb: NotebookPage) -> None:
    view = nb.output(2).locator(".kling-job")
    expect(view.locator(".kling-summary")).to_contain_text(XSS)
    assert nb.page.locator("img[src='x']").count() == 0
    view.locator("details.kling-exports summary").click()
    expect(view.locator(".kling-export[data-kind='magic'] pre")).to_contain_text(XSS)
    assert nb.dialogs == []


def test_submit_from_the_form_shows_a_playing_job_view(nb: NotebookPage) -> None:
    form = nb.output(1).locator(".kling-form")
    expect(form).to_be_visible()
    form.get_by_label("Prompt", exact=True).fill("A lighthouse at dusk, waves rolling in")
    form.get_by_label("Duration (seconds)", exact=True).select_option("4")
    form.get_by_label("Aspect ratio", exact=True).select_option("9:16")
    submit = form.get_by_role("button", name="Submit the request")
    expect(submit).to_be_enabled(timeout=30_000)  # the kernel is busy until the busy cell ends
    submit.click()
    view = nb.output(1).locator(".kling-job")
    expect(view).to_have_attribute("data-status", "succeeded", timeout=60_000)
    assert_plays(nb, 1, 4.0)
    expect(submit).to_be_enabled()  # ready for another take
    expect(view.locator(".kling-facts")).to_contain_text("outputs_live")
    assert_plays(nb, 1, 4.0, state=4)  # enough data for the screenshot's first frame
    screenshot(view, "jobview.png")


def test_cancel_one_take_then_all(nb: NotebookPage) -> None:
    view = nb.output(4).locator(".kling-job")
    take = view.locator(".kling-gen[data-index='0']")
    cancel = take.get_by_role("button", name="Cancel")
    expect(cancel).to_be_visible(timeout=60_000)  # once the take has a server id
    screenshot(view, "jobview-running.png")
    cancel.click()
    expect(take).to_have_attribute("data-status", "cancelled", timeout=30_000)
    expect(view.locator(".kling-gen[data-index='1']")).not_to_have_attribute(
        "data-status", "cancelled"
    )
    view.get_by_role("button", name="Cancel all").click()
    expect(view).to_have_attribute("data-status", "cancelled", timeout=30_000)
    expect(view.get_by_role("button", name="Cancel all")).to_be_hidden()
    screenshot(view, "jobview-cancelled.png")


def test_dark_theme_screenshot(nb: NotebookPage) -> None:
    nb.page.evaluate(
        "() => jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})"
    )
    nb.page.wait_for_selector("body[data-jp-theme-light='false']", state="attached")
    nb.page.wait_for_timeout(500)  # let the theme's stylesheet apply
    form = nb.output(1)
    color = form.locator(".kling-root").first.evaluate("e => getComputedStyle(e).color")
    assert color != "rgb(31, 31, 31)"  # the theme's light text, not the fallback's dark text
    screenshot(form, "form-and-jobview-dark.png")
