"""The form's file picker in JupyterLab: a local image becomes a checked reference with a
thumbnail drawn from the file, and Submit uploads it and ends in a video."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
from harness import Lab, NotebookPage, open_notebook, screenshot
from PIL import Image
from playwright.sync_api import expect

from kling_nb.simulator import Simulator, run

pytestmark = pytest.mark.browser


def png(size: tuple[int, int], color: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    with run(generation_seconds=0.5) as sim:
        yield sim


@pytest.fixture(scope="module")
def nb(lab: Lab, browser: Any, simulator: Simulator) -> Iterator[NotebookPage]:
    cells = [
        f"""import kling_nb
client = kling_nb.Client(api_key="sk-test", base_url={simulator.base_url!r},
                         outputs_dir="outputs_picker")
kling_nb.RequestForm(client)"""
    ]
    page = open_notebook(lab, browser, "picker.ipynb", cells)
    yield page
    page.page.context.close()
    lab.shutdown_kernels()


def test_a_picked_file_is_checked_shown_uploaded_and_used(
    nb: NotebookPage, simulator: Simulator
) -> None:
    form = nb.output(0).locator(".kling-form")
    expect(form).to_be_visible(timeout=30_000)
    form.get_by_label("Prompt", exact=True).fill("@Image1 waves at the camera")
    form.get_by_role("button", name="Add an input image").click()
    url = form.get_by_label("Image 1 URL (@Image1)", exact=True)
    picker = form.get_by_label("Local file for Image 1 URL (@Image1)", exact=True)
    submit = form.get_by_role("button", name="Submit the request")

    # Too small: refused in one line naming the file and the rule; the slot stays empty.
    picker.set_input_files(
        {"name": "tiny.png", "mimeType": "image/png", "buffer": png((120, 90), (0, 0, 0))}
    )
    message = form.locator(".kling-picker-msg").first
    expect(message).to_contain_text("tiny.png: 120x90 px; Kling needs at least 300 px")
    expect(url).to_have_value("")
    expect(submit).to_be_disabled()

    picker.set_input_files(
        {"name": "face.png", "mimeType": "image/png", "buffer": png((480, 360), (250, 20, 180))}
    )
    expect(url).to_have_value(re.compile(r"^local:sha256:[0-9a-f]{64}/face\.png$"))
    expect(message).to_have_text("")
    thumb = form.locator("img.kling-thumb").first
    expect(thumb).to_be_visible()
    assert (thumb.get_attribute("src") or "").startswith("blob:")
    width = thumb.evaluate("img => img.decode().then(() => img.naturalWidth)")  # once loaded
    assert width == 480  # drawn from the picked file itself
    expect(submit).to_be_enabled()
    assert simulator.stats()["uploads"] == 0  # nothing leaves before Submit
    form.locator("details.kling-exports summary").click()
    python_export = form.locator(".kling-export[data-kind='python'] pre")
    expect(python_export).to_contain_text('upload("face.png")')
    screenshot(nb.output(0), "form-picker.png")

    submit.click()
    status = nb.output(0).locator(".kling-job .kling-job-status")
    expect(status).to_have_text("succeeded", timeout=30_000)
    stats = simulator.stats()
    assert stats["uploads"] == 1 and stats["presigns"] == 1 and stats["reference_fetches"] == 1
    assert nb.dialogs == []
