"""RequestForm: limits from Python, replay once and say so, New take, the session's client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kling_nb.client import Client
from kling_nb.requests import VideoRequest
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


def edit(form: RequestForm, **changes: Any) -> dict[str, list[str]]:
    draft = {**form.editor.draft, **changes, "seq": form.editor.draft.get("seq", 0) + 1}
    form.editor.draft = draft
    return dict(form.editor.errors)


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
