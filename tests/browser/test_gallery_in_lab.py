"""The gallery, a compare view, %kling history and the job view's layout in JupyterLab, in light
and dark themes (the README's screenshots come from here).

One notebook serves the module: 24 saved results made by a client that is then closed (the
gallery reads the ledger alone), the gallery, %kling history, a four-take job view, and two
running jobs whose time left comes from the ledger.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from harness import Lab, NotebookPage, open_notebook, screenshot
from playwright.sync_api import expect

PROMPTS = [
    "A lighthouse at dusk, waves rolling in",
    "A red fox trots through fresh snow at dawn",
    "A paper boat drifts down a rainy street",
    "A hummingbird hovers over a red flower",
    "A city skyline as the lights come on",
    "A kite rises over a windy beach",
]
CELLS = [
    f"""import kling_nb
from kling_nb.simulator import run
sim = run(generation_seconds=0.2)
with kling_nb.Client(api_key="sk-test", base_url=sim.base_url, outputs_dir="outputs",
                     simulated=True) as client:
    jobs = [client.submit(kling_nb.VideoRequest(prompt=p, duration=3), 4) for p in {PROMPTS!r}]
    four = [job.wait(timeout=120) for job in jobs][0]
del jobs, client  # the gallery reads the ledger, not these""",
    'kling_nb.gallery("outputs")',
    """%load_ext kling_nb
%config KlingMagics.outputs_dir = "outputs"
%kling history""",
    "kling_nb.JobView(four)",
    """slow = run(generation_seconds=600)
slow_client = kling_nb.Client(api_key="sk-test", base_url=slow.base_url, outputs_dir="outputs",
                              simulated=True)
known = slow_client.submit(kling_nb.VideoRequest(prompt="A kite, again", duration=3))
new = slow_client.submit(kling_nb.VideoRequest(prompt="A kite, longer", duration=4))
import ipywidgets
ipywidgets.HBox([kling_nb.JobView(known), kling_nb.JobView(new)])""",
]
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def nb(lab: Lab, browser: Any) -> Iterator[NotebookPage]:
    page = open_notebook(lab, browser, "gallery.ipynb", CELLS)
    page.page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    yield page
    page.page.context.close()
    lab.shutdown_kernels()


def gallery(nb: NotebookPage) -> Any:
    view = nb.output(1).locator(".kling-gallery")
    expect(view).to_be_visible(timeout=120_000)
    return view


def test_the_gallery_loads_videos_only_as_they_scroll_into_view(nb: NotebookPage) -> None:
    view = gallery(nb)
    cards = view.locator(".kling-card")
    expect(cards).to_have_count(24)
    expect(view.locator(".kling-summary")).to_contain_text("24 saved results in outputs")
    expect(cards.first).to_have_attribute("data-loaded", "true", timeout=30_000)
    assert cards.first.locator("video").get_attribute("preload") == "none"
    last = cards.nth(23)
    assert last.get_attribute("data-loaded") is None  # below the fold: not fetched
    loaded = view.locator(".kling-card[data-loaded='true']").count()
    assert 0 < loaded < 24
    first = cards.first
    expect(first.locator(".kling-card-prompt")).to_have_text(PROMPTS[-1])  # latest first
    expect(first.locator(".kling-card-facts")).to_contain_text("o3-pro · take 1 of 4 · 3 s")
    view.locator(".kling-gallery-grid").evaluate("g => g.scrollTo(0, g.scrollHeight)")
    expect(last).to_have_attribute("data-loaded", "true", timeout=30_000)
    last.locator("video").evaluate(  # its bytes arrived and play
        "v => new Promise((done) => v.readyState >= 2 ? done()"
        " : v.addEventListener('loadeddata', done))"
    )
    assert last.locator("video").evaluate("v => v.src.startsWith('blob:') && v.duration") > 2.5
    view.locator(".kling-gallery-grid").evaluate("g => g.scrollTo(0, 0)")
    nb.page.wait_for_timeout(300)
    screenshot(view, "gallery.png")


def test_a_card_copies_its_request_as_a_cell(nb: NotebookPage) -> None:
    card = gallery(nb).locator(".kling-card").first
    card.get_by_role("button", name="Copy take 1").click()
    # The copy is written asynchronously: wait for the cell to reach the clipboard.
    copied = nb.page.wait_for_function(
        "prompt => navigator.clipboard.readText()"
        ".then(t => t.startsWith('%%kling') && t.includes(prompt) && t)",
        arg=PROMPTS[-1],
        timeout=30_000,
    ).json_value()
    assert copied.startswith("%%kling") and PROMPTS[-1] in copied


def test_compare_plays_pauses_and_seeks_together(nb: NotebookPage) -> None:
    view = gallery(nb)
    compare = view.get_by_role("button", name="Compare the selected results side by side")
    expect(compare).to_be_disabled()
    picks = view.locator(".kling-card input[type='checkbox']")
    for i in range(4):
        picks.nth(i).check()
    expect(picks.nth(4)).to_be_disabled()  # at most four
    picks.nth(3).uncheck()
    expect(compare).to_have_text("Compare (3)")
    compare.click()
    panel = view.locator(".kling-compare")
    videos = panel.locator("video")
    expect(videos).to_have_count(3)
    ready = "vs => vs.every(v => v.readyState >= 2)"
    nb.page.wait_for_function(
        f"() => ({ready})([...document.querySelectorAll('.kling-compare video')])",
        timeout=30_000,
    )
    play = panel.get_by_role("button", name="Play or pause every compared video")
    play.click()
    nb.page.wait_for_function(
        "() => [...document.querySelectorAll('.kling-compare video')].every(v => !v.paused)"
    )
    play.click()
    nb.page.wait_for_function(
        "() => [...document.querySelectorAll('.kling-compare video')].every(v => v.paused)"
    )
    panel.get_by_label("Position of every compared video").evaluate(
        "s => { s.value = '1.2'; s.dispatchEvent(new Event('input')); }"
    )
    times = videos.evaluate_all("vs => vs.map(v => v.currentTime)")
    assert times == pytest.approx([1.2, 1.2, 1.2], abs=0.05)
    screenshot(panel, "compare.png")


def test_history_fits_in_100_columns(nb: NotebookPage) -> None:
    out = nb.output(2)
    expect(out).to_contain_text("Results are in outputs/", timeout=60_000)
    lines = out.locator("pre").first.inner_text().splitlines()
    assert len(lines) == 8 and max(len(line) for line in lines[1:]) <= 100
    screenshot(out, "history.png")


def test_four_takes_fit_on_one_row_at_1400_px(nb: NotebookPage) -> None:
    nb.page.set_viewport_size({"width": 1400, "height": 2400})
    try:
        view = nb.output(3).locator(".kling-job")
        takes = view.locator(".kling-gen")
        expect(takes).to_have_count(4, timeout=30_000)
        # Once the layout has settled after the resize (a card's contents may still arrive).
        measure = "gs => gs.map(g => Math.round(g.getBoundingClientRect().top))"
        deadline = time.monotonic() + 15
        tops = takes.evaluate_all(measure)
        while len(set(tops)) != 1 and time.monotonic() < deadline:
            nb.page.wait_for_timeout(200)
            tops = takes.evaluate_all(measure)
        assert len(set(tops)) == 1, tops
        path = takes.first.locator(".kling-path")
        expect(path).to_contain_text("outputs")
        box = path.evaluate("p => [p.getClientRects().length, getComputedStyle(p).whiteSpace]")
        assert box == [1, "nowrap"]  # the path stays on one line
    finally:
        nb.page.set_viewport_size({"width": 1280, "height": 2400})


def test_a_running_take_shows_the_time_left_from_the_ledger(nb: NotebookPage) -> None:
    views = nb.output(4).locator(".kling-job")
    expect(views).to_have_count(2, timeout=60_000)
    known = views.nth(0).locator(".kling-gen .kling-elapsed")
    new = views.nth(1).locator(".kling-gen .kling-elapsed")
    expect(known).to_contain_text("any moment now", timeout=30_000)  # 3 s takes took < 1 s
    expect(new).to_contain_text("no estimate yet")  # no 4 s take of this model finished yet


def test_dark_theme_screenshots(nb: NotebookPage) -> None:
    nb.page.evaluate(
        "() => jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})"
    )
    nb.page.wait_for_selector("body[data-jp-theme-light='false']", state="attached")
    nb.page.wait_for_timeout(500)  # let the theme's stylesheet apply
    view = gallery(nb)
    color = view.evaluate("e => getComputedStyle(e).color")
    assert color != "rgb(31, 31, 31)"  # the theme's light text
    screenshot(view, "gallery-dark.png")
    screenshot(view.locator(".kling-compare"), "compare-dark.png")
    screenshot(nb.output(2), "history-dark.png")
    nb.page.evaluate(
        "() => jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Light'})"
    )
