"""RequestForm in JupyterLab: it renders, validates as you type, and Submit follows validity."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from harness import NotebookPage, screenshot
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_form_validates_as_you_type(notebook: Callable[..., NotebookPage]) -> None:
    nb = notebook("form.ipynb", ["import kling_nb\nkling_nb.RequestForm()"])
    form = nb.output(0).locator(".kling-form")
    expect(form).to_be_visible(timeout=30_000)
    submit = form.get_by_role("button", name="Submit the request")
    prompt = form.get_by_label("Prompt", exact=True)
    prompt_msg = form.locator(f"#{prompt.get_attribute('aria-describedby')}")
    expect(submit).to_be_disabled()  # a blank form is not a request yet...
    expect(form.locator(".kling-msg:not(:empty)")).to_have_count(0)  # ...but nothing is wrong yet
    screenshot(nb.output(0), "form-blank.png")
    submit.click(force=True)  # trying to submit shows what is missing
    expect(form.locator(".kling-general")).to_have_text(
        "Either 'prompt' or 'multi_prompt' must be provided."
    )

    prompt.fill("A lighthouse at dusk, waves rolling in")
    expect(submit).to_be_enabled()
    expect(form.locator(".kling-cost")).to_contain_text("$")

    prompt.fill("x" * 513)
    expect(prompt_msg).to_have_text("prompt is 513 characters; the limit is 512.")
    expect(prompt).to_have_attribute("aria-invalid", "true")
    expect(submit).to_be_disabled()
    expect(form.locator(".kling-counter").first).to_have_text("513 / 512")

    prompt.fill("@Image1 walks toward the camera")
    expect(form.locator(".kling-msg:not(:empty)").first).to_contain_text("Image1")
    expect(submit).to_be_disabled()

    form.get_by_role("button", name="Add an input image").click()
    image = form.get_by_label("Image 1 URL (@Image1)", exact=True)
    image.fill("https://example.com/face.jpg")
    expect(submit).to_be_enabled()
    expect(form.locator(".kling-msg:not(:empty)")).to_have_count(0)
    expect(prompt).not_to_have_attribute("aria-invalid", "true")

    form.locator("details.kling-exports summary").click()
    expect(form.locator(".kling-export[data-kind='magic'] pre")).to_contain_text("%%kling")
    expect(form.locator(".kling-export[data-kind='curl'] pre")).to_contain_text("curl")
    screenshot(nb.output(0), "form.png")

    # Shots: the total bar and a per-shot error beside its field, reachable by keyboard.
    form.get_by_label("Prompt mode", exact=True).select_option("shots")
    form.get_by_role("button", name="Add a shot").click()
    form.get_by_label("Shot 2 prompt", exact=True).fill("She turns to the window")
    form.get_by_label("Shot 2 duration (seconds)", exact=True).fill("11")
    expect(form.locator(".kling-bar-fill.bad")).to_have_count(1)
    expect(form.locator(".kling-msg:not(:empty)").first).to_have_text(
        "shots: Total shot duration (16s) exceeds maximum allowed (15s)."
    )
    expect(submit).to_be_disabled()
    form.get_by_label("Shot 2 duration (seconds)", exact=True).fill("20")
    expect(form.locator(".kling-msg:not(:empty)").first).to_have_text(
        "shot 2 is 20 s; a shot is 1 to 15 s."
    )
    form.get_by_label("Shot 2 duration (seconds)", exact=True).fill("5")
    expect(submit).to_be_enabled()
    form.get_by_role("button", name="Move shot 2 up").focus()
    nb.page.keyboard.press("Enter")
    expect(form.get_by_label("Shot 1 prompt", exact=True)).to_have_value("She turns to the window")
    screenshot(nb.output(0), "form-shots.png")
    assert nb.dialogs == []


FORM_CELLS = [
    """import kling_nb
from kling_nb.simulator import run
sim = run(generation_seconds=0.2)
client = kling_nb.Client(api_key="sk-test", base_url=sim.base_url, outputs_dir="outputs_form",
                         simulated=True)
request = kling_nb.VideoRequest(prompt="A paper boat drifts down a rainy street", duration=3)
client.submit(request).wait(timeout=60)  # recorded: the form's Submit replays it
form = kling_nb.RequestForm.from_request(request, client=client)
form""",
]


def test_submit_replays_once_and_new_take_shows_its_cost(
    notebook: Callable[..., NotebookPage],
) -> None:
    nb = notebook("form-takes.ipynb", FORM_CELLS)
    form = nb.output(0).locator(".kling-form")
    expect(form).to_be_visible(timeout=60_000)
    submit = form.get_by_role("button", name="Submit the request")
    new_take = form.get_by_role("button", name="Send a new, billed take of this request")
    expect(new_take).to_be_hidden()
    submit.click()
    notice = form.locator(".kling-notice")
    expect(notice).to_have_text(
        "Replayed the recorded result of this unchanged request: nothing was sent, no cost. "
        "New take makes another, billed ($0.67)."
    )
    views = nb.output(0).locator(".kling-job")
    expect(views).to_have_count(1)
    expect(views.first.locator(".kling-cost")).to_have_text("$0 (replayed; made for $0.67)")
    submit.click()
    expect(notice).to_contain_text("nothing was sent. New take sends it again, billed ($0.67).")
    expect(views).to_have_count(1)  # replayed once
    new_take.click()
    confirm = form.locator(".kling-confirm")
    expect(confirm).to_contain_text("A new take is billed: $0.67. Send it?")
    screenshot(nb.output(0), "form-new-take.png")
    confirm.get_by_role("button", name="Send a new, billed take").click()
    expect(views).to_have_count(2)
    expect(views.first).to_have_attribute("data-status", "succeeded", timeout=60_000)
    expect(views.first.locator(".kling-cost")).to_have_text("$0.67")
    expect(notice).to_have_text("")


def test_form_dark_theme_screenshot(notebook: Callable[..., NotebookPage]) -> None:
    nb = notebook("form-dark.ipynb", ["import kling_nb\nkling_nb.RequestForm()"])
    nb.page.evaluate(
        "() => jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})"
    )
    nb.page.wait_for_selector("body[data-jp-theme-light='false']", state="attached")
    form = nb.output(0).locator(".kling-form")
    expect(form).to_be_visible(timeout=30_000)
    form.get_by_label("Prompt", exact=True).fill("A lighthouse at dusk, waves rolling in")
    expect(form.locator(".kling-cost")).to_contain_text("$")
    nb.page.wait_for_timeout(500)  # let the theme's stylesheet apply
    screenshot(nb.output(0), "form-dark.png")
    nb.page.evaluate(
        "() => jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Light'})"
    )
