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
    expect(submit).to_be_disabled()  # a blank form is not a request yet

    prompt.fill("A lighthouse at dusk, waves rolling in")
    expect(submit).to_be_enabled()
    expect(form.locator(".kling-cost")).to_contain_text("$")

    prompt.fill("x" * 513)
    expect(prompt_msg).to_contain_text("512")
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
    form.get_by_label("Shot 2 duration (s)", exact=True).fill("11")
    expect(form.locator(".kling-bar-fill.bad")).to_have_count(1)
    expect(form.locator(".kling-msg:not(:empty)").first).to_contain_text("16s")
    expect(submit).to_be_disabled()
    form.get_by_label("Shot 2 duration (s)", exact=True).fill("5")
    expect(submit).to_be_enabled()
    form.get_by_role("button", name="Move shot 2 up").focus()
    nb.page.keyboard.press("Enter")
    expect(form.get_by_label("Shot 1 prompt", exact=True)).to_have_value("She turns to the window")
    screenshot(nb.output(0), "form-shots.png")
    assert nb.dialogs == []
