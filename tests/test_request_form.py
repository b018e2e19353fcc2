"""RequestForm: validates as you type (errors by field, cost, exports) with limits from Python,
submits through its client or the session's and shows a JobView, replays once and says so, and
New take sends again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _widgets import XSS, FakeClient, edit

from kling_nb.client import Client
from kling_nb.requests import VideoRequest, format_cost
from kling_nb.rules import MAX_ELEMENT_REFERENCES, MAX_PROMPT_CHARS
from kling_nb.simulator import Simulator
from kling_nb.widgets import JobView, RequestForm


def test_the_rules_numbers_come_from_python() -> None:
    form = RequestForm()
    assert form.editor.limits == {
        "prompt_chars": MAX_PROMPT_CHARS,
        "shot_seconds": [1, 15],
        "takes": [1, 2, 3, 4],
        "element_references": MAX_ELEMENT_REFERENCES,
    }
    module = form.editor._esm  # plain files: common.js, picker.js, inputs.js, form.js
    assert "512" not in module and "limits.prompt_chars" in module


def test_messages_are_the_users_words_and_end_once() -> None:
    form = RequestForm()
    assert edit(form, prompt="x" * 600) == {
        "prompt": ["prompt is 600 characters; the limit is 512."]
    }
    shots = [{"prompt": "a", "duration": 5}, {"prompt": "b", "duration": 20}]
    errors = edit(form, mode="shots", multi_prompt=shots)
    assert errors == {"multi_prompt.1.duration": ["shot 2 is 20 s; a shot is 1 to 15 s."]}
    assert edit(form, mode="single", prompt="p", num_generations=5) == {
        "num_generations": ["num_generations must be an integer between 1 and 4."]
    }
    edit(form, num_generations=1, prompt="")
    with pytest.raises(ValueError) as info:
        _ = form.request
    message = str(info.value)
    assert message == (
        "The form's request is not valid yet: Either 'prompt' or 'multi_prompt' must be "
        "provided. Fix it in the form."
    )


def test_unchanged_replays_once_and_new_take_is_billed(sim: Simulator, tmp_path: Path) -> None:
    request = VideoRequest(prompt="A lighthouse at dusk", duration=3)
    with Client(api_key="sk-test", base_url=sim.base_url, outputs_dir=tmp_path) as client:
        first = client.submit(request).wait(timeout=30)
        form = RequestForm.from_request(request, client=client)
        form.editor._handle_custom_msg({"kind": "submit"}, [])
        [replay] = form.jobs
        assert replay.replayed and replay.results[0].path == first.results[0].path
        assert form.editor.notice == (
            "Replayed the recorded result of this unchanged request: nothing was sent, no cost. "
            "New take makes another, billed ($0.67)."
        )
        assert isinstance(form.children[1], JobView)
        form.editor._handle_custom_msg({"kind": "submit"}, [])  # again, unchanged: once only
        assert form.jobs == [replay] and len(form.children) == 2
        assert form.editor.notice == (
            f"Unchanged since job {replay.id} above: nothing was sent. "
            "New take sends it again, billed ($0.67)."
        )
        assert sim.stats()["enqueue_calls"] == 1
        form.editor._handle_custom_msg({"kind": "submit", "force": True}, [])  # New take
        new = form.jobs[-1]
        assert not new.replayed and new.wait(timeout=30).status == "succeeded"
        assert sim.stats()["enqueue_calls"] == 2 and form.editor.notice == ""
        assert len(form.children) == 3 and form.children[1].job is new


def test_without_a_session_or_client_the_form_says_what_to_do() -> None:
    form = RequestForm()
    edit(form, prompt="A cat")
    form.editor._handle_custom_msg({"kind": "submit"}, [])
    assert form.editor.notice == (
        "ValueError: This form has no client: create it with "
        "RequestForm(client=kling_nb.Client()), or run %load_ext kling_nb first to use the "
        "session's client."
    )
    assert form.editor.submitted == 1


def test_form_starts_blank_and_invalid() -> None:
    form = RequestForm()
    assert {m["alias"] for m in form.editor.models} >= {"o3-pro", "o3-4k"}
    assert not form.editor.valid and form.editor.errors
    with pytest.raises(ValueError, match="not valid yet"):
        _ = form.request


def test_form_validates_prompt_length_and_clears() -> None:
    form = RequestForm()
    errors = edit(form, prompt="x" * 513)
    assert list(errors) == ["prompt"] and not form.editor.valid
    assert form.editor.exports == {} and form.editor.cost == ""
    errors = edit(form, prompt="x" * 512)
    assert errors == {} and form.editor.valid
    assert form.request.prompt == "x" * 512
    assert form.editor.cost == format_cost(0.224 * 5)


def test_form_maps_shot_errors_to_their_fields() -> None:
    form = RequestForm()
    shots = [{"prompt": "one", "duration": 10}, {"prompt": "two", "duration": 6}]
    errors = edit(form, mode="shots", multi_prompt=shots)
    assert any("16s" in " ".join(m) for m in errors.values()), errors
    shots = [{"prompt": "one", "duration": 10}, {"prompt": "", "duration": 16}]
    errors = edit(form, multi_prompt=shots)
    assert any(path.startswith("multi_prompt.1") for path in errors), errors


def test_form_flags_missing_image_reference() -> None:
    form = RequestForm()
    errors = edit(form, prompt="@Image2 walks", input_image=["https://example.com/a.jpg"])
    assert errors and not form.editor.valid
    assert any("@Image2" in m or "Image2" in m for ms in errors.values() for m in ms), errors
    assert edit(form, prompt="@Image1 walks") == {}


def test_form_checks_takes_and_scales_cost() -> None:
    form = RequestForm()
    assert "num_generations" in edit(form, prompt="p", num_generations=5)
    assert edit(form, num_generations=3) == {}
    assert form.num_generations == 3 and form.editor.cost.endswith("for 3 takes")
    assert form.editor.exports["magic"] == form.request.to_magic(num_generations=3)
    assert form.editor.exports["curl"] == form.request.to_curl(num_generations=3)
    assert form.editor.exports["python"] == form.request.to_python(num_generations=3)


def test_from_request_round_trips() -> None:
    req = VideoRequest(
        model="o3-pro",
        multi_prompt=[{"prompt": "@Image1 walks in", "duration": 4}, {"prompt": "@Element1 waves"}],
        input_image=["https://example.com/face.jpg"],
        elements=[
            {
                "frontal_image_url": "https://example.com/f.jpg",
                "reference_image_urls": ["https://example.com/s.jpg"],
            }
        ],
        start_image_url="https://example.com/start.jpg",
        tail_image_url="https://example.com/end.jpg",
        negative_prompt="blur",
        aspect_ratio="9:16",
        generate_audio=True,
    )
    form = RequestForm.from_request(req, num_generations=2)
    assert form.editor.errors == {}
    assert form.request.canonical_json() == req.canonical_json()
    assert form.num_generations == 2


@pytest.mark.parametrize(
    "fields",
    [
        {"model": "o3-pro-i2v", "prompt": "@Image1 moves", "input_image": "https://e.com/a.jpg"},
        {"model": "v2.6-t2v", "prompt": "a cat", "cfg_scale": 0.7, "duration": 10},
        {"model": "o3-pro", "prompt": "x", "target_namespace": "my-org", "aspect_ratio": "1:1"},
    ],
)
def test_from_request_round_trips_other_models(fields: dict[str, Any]) -> None:
    req = VideoRequest(**fields)
    form = RequestForm.from_request(req)
    assert form.editor.errors == {}
    assert form.request.canonical_json() == req.canonical_json()
    assert form.editor.exports["python"] == req.to_python()


def test_magic_export_that_cannot_be_written_says_why() -> None:
    form = RequestForm.from_request(VideoRequest(model="v2.6-t2v", prompt="a", cfg_scale=0.7))
    assert (
        form.editor.exports["magic"].startswith("# ")
        and "cfg_scale" in form.editor.exports["magic"]
    )


def test_submit_shows_a_job_view_under_the_form() -> None:
    client = FakeClient()
    form = RequestForm(client)
    edit(form, prompt="A cat", num_generations=2)
    form.editor._handle_custom_msg({"kind": "submit"}, [])
    [(req, n)] = client.submitted
    assert (req.prompt, n) == ("A cat", 2)
    assert len(form.children) == 2 and isinstance(form.children[1], JobView)
    assert form.children[1].job is form.jobs[0]
    assert form.editor.submitted == 1


def test_submit_without_client_says_what_to_do() -> None:
    form = RequestForm()
    edit(form, prompt="A cat")
    form.editor._handle_custom_msg({"kind": "submit"}, [])
    assert "RequestForm(client=kling_nb.Client())" in form.editor.notice


def test_form_keeps_xss_as_data() -> None:
    form = RequestForm()
    assert edit(form, prompt=XSS) == {}
    assert form.request.prompt == XSS
