"""A take with AAC sound (``generate_audio``), which VS Code plays silent: the view offers a copy
with MP3 sound, makes it by itself in VS Code, plays it and records it in the ledger.

VS Code is not testable here; its notebook webview marks ``<body data-vscode-theme-kind>``, which
the view reads, so the second page sets that attribute to stand for VS Code.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from harness import Lab, NotebookPage, open_notebook
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
SETUP = """import kling_nb
from kling_nb.simulator import run
sim = run(generation_seconds=0.5)
client = kling_nb.Client(api_key="sk-test", base_url=sim.base_url, outputs_dir="{folder}",
                         simulated=True)
job = client.submit(kling_nb.VideoRequest(prompt="{prompt}", duration=3, generate_audio=True))
kling_nb.JobView(job.wait(60))"""
LOOKS_LIKE_VSCODE = """document.addEventListener("DOMContentLoaded", () => {
  document.body.dataset.vscodeThemeKind = "vscode-dark";
});"""
VIDEO = """() => {
  const v = document.querySelector(".jp-Notebook .kling-job video");
  return v && v.readyState >= 2 ? {src: v.src, source: v.dataset.source} : null;
}"""
PLAYS_COPY = """() => {
  const v = document.querySelector(".jp-Notebook .kling-job video");
  return v && v.readyState >= 2 && v.dataset.which === "copy" ? v.src : null;
}"""


def copy_records(lab: Lab, folder: str) -> list[dict[str, Any]]:
    [ledger] = list((lab.root / folder).rglob("ledger.jsonl"))
    records = [json.loads(line) for line in ledger.read_text().splitlines()]
    return [r for r in records if r["type"] == "copy"]


def close(nb: NotebookPage, lab: Lab) -> None:
    nb.page.context.close()
    lab.shutdown_kernels()


def test_a_button_makes_and_plays_a_copy_with_mp3_sound(lab: Lab, browser: Any) -> None:
    cells = [SETUP.format(folder="aac_outputs", prompt="A drummer plays a solo")]
    nb = open_notebook(lab, browser, "aac.ipynb", cells)
    try:
        take = nb.output(0).locator(".kling-gen")
        expect(take).to_have_attribute("data-status", "succeeded", timeout=60_000)
        first = nb.page.wait_for_function(VIDEO, timeout=30_000).json_value()
        assert first["source"] == "file" and first["src"].endswith(".mp4")
        assert copy_records(lab, "aac_outputs") == []  # nothing made unasked outside VS Code
        take.get_by_role("button", name="Make a copy of take 1 with MP3 sound").click()
        expect(take).to_contain_text(".mp3.mp4, with MP3 sound.", timeout=60_000)
        expect(take).not_to_contain_text("VS Code cannot play")
        expect(
            take.get_by_role("button", name="Make a copy of take 1 with MP3 sound")
        ).to_be_hidden()
        src = nb.page.wait_for_function(PLAYS_COPY, timeout=30_000).json_value()
        assert src.endswith(".mp3.mp4") and "/files/" in src
        [record] = copy_records(lab, "aac_outputs")
        assert record["path"].endswith(".mp3.mp4") and record["audio"] == "mp3"
    finally:
        close(nb, lab)


def test_in_vscode_the_view_says_so_and_plays_a_copy_it_made(lab: Lab, browser: Any) -> None:
    cells = [SETUP.format(folder="vscode_outputs", prompt="A choir sings in a cathedral")]
    nb = open_notebook(lab, browser, "vscode.ipynb", cells, init_script=LOOKS_LIKE_VSCODE)
    try:
        take = nb.output(0).locator(".kling-gen")
        expect(take).to_have_attribute("data-status", "succeeded", timeout=60_000)
        expect(take).to_contain_text(
            "VS Code cannot play AAC sound: playing ", timeout=60_000
        )  # ... "take.mp3.mp4, with MP3 sound."
        expect(
            take.get_by_role("button", name="Make a copy of take 1 with MP3 sound")
        ).to_be_hidden()
        src = nb.page.wait_for_function(PLAYS_COPY, timeout=30_000).json_value()
        # No files/ URL in VS Code: the kernel sent the copy in chunks.
        assert src.startswith("blob:")
        assert (
            nb.page.evaluate(
                "() => document.querySelector('.jp-Notebook .kling-job video').dataset.source"
            )
            == "kernel"
        )
        [record] = copy_records(lab, "vscode_outputs")
        assert record["path"].endswith(".mp3.mp4")
    finally:
        close(nb, lab)
