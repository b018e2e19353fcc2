"""A %%kling cell's options and body turned into one request, and what --dry-run prints."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from test_magics import (
    PROMPT,
    cell,
    dry_run,
    dry_run_payload,
    keyless,
    magics,
    nothing_sent,
    server,
    shell,
)

from kling_nb.body import parse_body
from kling_nb.cell import build_request, dry_run_report, num_generations
from kling_nb.magics import KlingMagics, _parse_options
from kling_nb.requests import VideoRequest
from kling_nb.session import KlingSettings
from kling_nb.simulator import Simulator


def test_options_and_shots_become_one_request(
    magics: KlingMagics, shell: InteractiveShell, server: Simulator, capsys: Any
) -> None:
    shell.user_ns["style"] = "film noir"
    result = cell(
        shell,
        "-m o3-pro -a 9:16 --audio -i https://example.com/face.jpg "
        "--element https://example.com/front.png,https://example.com/side.png "
        "--negative 'blur, low quality' --start https://example.com/a.png "
        "--end https://example.com/b.png --dry-run",
        "[5s] @Image1 walks\ntoward the camera, {style}\n[3s] @Element1 turns, {{calm}}\n",
    )
    assert result is None
    payload = dry_run_payload(capsys.readouterr().out)
    assert payload == {
        "model": "kling-video-o3-pro-reference-to-video",
        "multi_prompt": [
            {"prompt": "@Image1 walks\ntoward the camera, film noir", "duration": 5},
            {"prompt": "@Element1 turns, {calm}", "duration": 3},
        ],
        "input_image": ["https://example.com/face.jpg"],
        "start_image_url": "https://example.com/a.png",
        "tail_image_url": "https://example.com/b.png",
        "elements": [
            {
                "frontal_image_url": "https://example.com/front.png",
                "reference_image_urls": ["https://example.com/side.png"],
            }
        ],
        "negative_prompt": "blur, low quality",
        "aspect_ratio": "9:16",
        "generate_audio": True,
    }
    assert nothing_sent(server)


def test_a_single_prompt_takes_its_duration_from_d(
    magics: KlingMagics, shell: InteractiveShell, capsys: Any
) -> None:
    payload = dry_run(shell, capsys, "-d 10", f"{PROMPT}\non a sunny day\n")
    assert payload == {
        "model": "kling-video-o3-pro-reference-to-video",
        "prompt": f"{PROMPT}\non a sunny day",
        "duration": 10,
    }


def test_settings_give_the_defaults_and_options_override_them(
    magics: KlingMagics, shell: InteractiveShell, capsys: Any
) -> None:
    shell.run_line_magic("config", "KlingMagics.default_model = 'o3-4k'")
    shell.run_line_magic("config", "KlingMagics.aspect_ratio = '1:1'")
    payload = dry_run(shell, capsys, "", PROMPT)
    assert payload["model"] == "kling-video-o3-4k-reference-to-video"
    assert payload["aspect_ratio"] == "1:1"
    payload = dry_run(shell, capsys, "-m o3-pro -a 16:9", PROMPT)
    assert payload["model"] == "kling-video-o3-pro-reference-to-video"
    assert payload["aspect_ratio"] == "16:9"


def test_dry_run_shows_request_cost_and_exports_and_starts_nothing(
    keyless: KlingMagics, shell: InteractiveShell, capsys: Any
) -> None:
    threads = threading.active_count()
    cell(shell, "-n 2 --dry-run", f"[5s] {PROMPT}\n[5s] It sits down")
    out = capsys.readouterr().out
    assert out.startswith("Dry run: nothing was sent.")
    assert "Estimated cost: $4.48 for 2 generations" in out  # 10 s x 2 x $0.224
    assert "As %%kling:\n%%kling" in out
    assert "As Python:" in out and "requests.post" in out
    assert "As cURL:\ncurl" in out and "$OXEN_API_KEY" in out
    assert threading.active_count() == threads
    assert keyless.session.simulator is None
    assert keyless.session.existing_clients() == []


def test_the_magic_export_of_a_dry_run_parses_back_to_the_same_request(
    magics: KlingMagics, shell: InteractiveShell, capsys: Any
) -> None:
    cell(shell, "-a 9:16 -d 7 -n 3 --dry-run", PROMPT)
    out = capsys.readouterr().out
    first = dry_run_payload(out)
    exported = out[out.index("As %%kling:\n") + len("As %%kling:\n") : out.index("\n\nAs Python:")]
    head, _, body = exported.partition("\n")
    cell(shell, head.removeprefix("%%kling").strip() + " --dry-run", body)
    out = capsys.readouterr().out
    assert dry_run_payload(out) == first
    assert "for 3 generations" in out


def test_an_image_to_video_model_takes_one_image_as_a_url(
    magics: KlingMagics, shell: InteractiveShell, capsys: Any
) -> None:
    payload = dry_run(shell, capsys, "-m o3-pro-i2v -i https://example.com/a.png -d 5", PROMPT)
    assert payload["model"] == "kling-video-o3-pro-image-to-video"
    assert payload["input_image"] == "https://example.com/a.png"


def test_a_dry_run_whose_request_has_no_cell_form_still_shows_the_rest(
    magics: KlingMagics, shell: InteractiveShell, capsys: Any
) -> None:
    shell.user_ns["tricky"] = "a cat\n[5s] sits"  # a value never starts a shot...
    cell(shell, "--dry-run", "{tricky}")
    out = capsys.readouterr().out
    assert dry_run_payload(out)["prompt"] == "a cat\n[5s] sits"
    assert "As %%kling:\n(not expressible as a cell: " in out  # ...but a cell could not say so
    assert "As Python:" in out and "As cURL:" in out


# -- the request builder on its own, with the magic's own option parser ------------------------


def request(line: str, body: str = PROMPT, **settings: Any) -> VideoRequest:
    """The request a cell with ``line`` and ``body`` stands for."""
    options = _parse_options(KlingMagics.kling, line)
    return build_request(options, parse_body(body, {}), KlingSettings(**settings))


def build(line: str, body: str = PROMPT, **settings: Any) -> dict[str, Any]:
    return request(line, body, **settings).payload()


@pytest.mark.parametrize(("text", "num"), [("1", 1), (" 3 ", 3), ("+2", 2), ("4", 4)])
def test_n_reads_an_integer_from_1_to_4(text: str, num: int) -> None:
    assert num_generations(text) == num


@pytest.mark.parametrize("text", ["2.0", "", "-1", "5"])
def test_n_refuses_anything_else_in_the_servers_words(text: str) -> None:
    with pytest.raises(UsageError, match=r"^num_generations must be an integer between 1 and 4$"):
        num_generations(text)


def test_the_aspect_ratio_setting_goes_only_to_models_that_take_one() -> None:
    i2v = "-m kling-video-v2-6-pro-image-to-video -i https://e.com/a.png -d 5"
    assert "aspect_ratio" not in build(i2v, aspect_ratio="1:1")
    assert build("-d 5", aspect_ratio="1:1")["aspect_ratio"] == "1:1"
    assert "aspect_ratio" not in build("-d 5")  # no setting: the model's own default


def test_an_element_with_only_a_front_has_no_reference_list() -> None:
    payload = build("-d 5 --element https://e.com/f.png")
    assert payload["elements"] == [{"frontal_image_url": "https://e.com/f.png"}]


def test_two_images_for_an_image_to_video_model_are_refused_not_cut_to_one() -> None:
    with pytest.raises(UsageError, match="input_image"):  # the model takes one: a clear refusal
        build("-m o3-pro-i2v -i https://e.com/a.png -i https://e.com/b.png -d 5")
    payload = build("-i https://e.com/a.png -i https://e.com/b.png -d 5")
    assert payload["input_image"] == ["https://e.com/a.png", "https://e.com/b.png"]


def test_the_dry_run_exports_name_the_endpoint_the_cell_would_use() -> None:
    five = request("-d 5")
    queued, synced = dry_run_report(five, 1), dry_run_report(five, 1, sync=True)
    assert "generations" not in queued.split("Estimated cost: ")[1].split("\n")[0]
    assert "/api/ai/queue" in queued and "/api/ai/queue" not in synced
    assert "/videos/generate" in synced and "/videos/generate" not in queued
