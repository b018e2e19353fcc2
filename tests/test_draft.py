"""The form's draft: to a request payload (blank fields left out, numbers typed as text made
numbers, only what the model takes) and back from a request; what the model picker is told."""

from __future__ import annotations

from typing import Any

import pytest

from kling_nb.catalog import DEFAULT_MODEL
from kling_nb.requests import VideoRequest
from kling_nb.widgets._draft import (
    KNOWN,
    draft_from_request,
    model_choices,
    payload_from_draft,
)


def payload(**draft: Any) -> dict[str, Any]:
    return payload_from_draft({**draft_from_request(None), **draft})


def test_a_blank_draft_is_the_default_model_alone() -> None:
    blank = draft_from_request(None, num_generations=3)
    assert blank["num_generations"] == 3 and blank["mode"] == "single"
    assert payload_from_draft(blank) == {"model": DEFAULT_MODEL}


@pytest.mark.parametrize(
    ("typed", "sent"),
    [("5", 5), (" 7 ", 7), ("-3", -3), (5.0, 5), ("5.5", "5.5"), (5.5, 5.5), ("five", "five")],
)
def test_whole_numbers_become_ints_and_the_rest_is_left_for_the_validator(
    typed: Any, sent: Any
) -> None:
    assert payload(prompt="a", duration=typed)["duration"] == sent
    shots = payload(mode="shots", multi_prompt=[{"prompt": "a", "duration": typed}])
    assert shots["multi_prompt"] == [{"prompt": "a", "duration": sent}]


def test_shots_are_sent_instead_of_the_prompt_a_shot_without_length_lasting_5_s() -> None:
    shots = [{"prompt": "a", "duration": "4"}, {"prompt": "b"}]
    assert payload(mode="shots", prompt="unused", duration=9, multi_prompt=shots) == {
        "model": DEFAULT_MODEL,
        "multi_prompt": [{"prompt": "a", "duration": 4}, {"prompt": "b", "duration": 5}],
    }


def test_blank_images_and_texts_are_left_out_and_the_rest_trimmed() -> None:
    elements = [
        {"frontal_image_url": " ", "reference_image_urls": ["", " "]},
        {
            "frontal_image_url": "https://e.com/f.jpg",
            "reference_image_urls": [" https://e.com/s.jpg", ""],
        },
    ]
    sent = payload(
        prompt="   ",
        input_image=["", " https://e.com/a.jpg ", "  "],
        elements=elements,
        start_image_url="  ",
        negative_prompt=" blur ",
        generate_audio=False,
    )
    assert sent == {
        "model": DEFAULT_MODEL,
        "input_image": ["https://e.com/a.jpg"],
        "elements": [
            {
                "frontal_image_url": "https://e.com/f.jpg",
                "reference_image_urls": ["https://e.com/s.jpg"],
            }
        ],
        "negative_prompt": "blur",
    }


def test_a_model_with_one_input_image_gets_it_as_a_string() -> None:
    sent = payload(model="o3-pro-i2v", prompt="@Image1 moves", input_image=["https://e.com/a.jpg"])
    assert sent["input_image"] == "https://e.com/a.jpg"


def test_fields_the_model_does_not_take_are_left_out() -> None:
    draft = {
        "model": "v2.6-i2v",
        "mode": "shots",  # no multi_prompt for this model: its prompt is sent
        "multi_prompt": [{"prompt": "a shot", "duration": 5}],
        "prompt": "@Image1 waves",
        "duration": "10",
        "input_image": ["https://e.com/a.jpg"],
        "elements": [{"frontal_image_url": "https://e.com/f.jpg"}],
        "start_image_url": "https://e.com/start.jpg",
        "aspect_ratio": "9:16",
        "generate_audio": True,
    }
    assert payload(**draft) == {
        "model": "v2.6-i2v",
        "prompt": "@Image1 waves",
        "duration": 10,
        "input_image": ["https://e.com/a.jpg"],
        "generate_audio": True,
    }


@pytest.mark.parametrize(
    ("typed", "sent"),
    [("0.7", 0.7), (" 1 ", 1), ("1e-1", 0.1), ("high", "high"), (0.25, 0.25)],
)
def test_an_extra_parameter_typed_as_text_is_sent_as_a_number_where_it_is_one(
    typed: Any, sent: Any
) -> None:
    assert payload(model="v2.6-t2v", prompt="a", extra={"cfg_scale": typed})["cfg_scale"] == sent


def test_only_the_models_own_extra_parameters_are_sent_and_blank_ones_left_out() -> None:
    extra = {
        "resolution": " 1080p ",
        "input_video": "https://e.com/v.mp4",
        "video_mode": "",
        "keep_audio": False,
        "prompt": "not through extra",
        "cfg_scale": "0.5",  # another model's
    }
    sent = payload(model="o3-omni", prompt="a", extra=extra)
    assert sent == {
        "model": "o3-omni",
        "prompt": "a",
        "resolution": "1080p",
        "input_video": "https://e.com/v.mp4",
    }


def test_an_unknown_model_is_sent_alone_for_the_validator_to_name() -> None:
    assert payload(model="kling-v9", prompt="a", duration=5) == {"model": "kling-v9"}


def test_a_request_becomes_a_draft_of_the_forms_inputs() -> None:
    req = VideoRequest(
        model="v2.6-t2v", prompt="a cat", cfg_scale=0.7, duration=10, target_namespace="my-org"
    )
    draft = draft_from_request(req, num_generations=2)
    assert draft["mode"] == "single" and draft["num_generations"] == 2
    assert draft["extra"] == {"cfg_scale": 0.7}  # no input of its own in the form
    assert draft["hidden"] == {"target_namespace": "my-org"}  # not shown, but kept
    assert payload_from_draft(draft)["target_namespace"] == "my-org"
    one_image = VideoRequest(
        model="o3-pro-i2v", prompt="@Image1 moves", input_image="https://e.com/a.jpg"
    )
    assert draft_from_request(one_image)["input_image"] == ["https://e.com/a.jpg"]  # one list input


def test_the_picker_offers_as_extras_only_what_has_no_input_of_its_own() -> None:
    choices = {m["alias"]: m for m in model_choices()}
    assert "cfg_scale" in choices["v2.6-t2v"]["extra"]
    for model in choices.values():
        assert not {"response_format", "target_namespace"} & set(model["params"])
        assert not set(model["extra"]) & KNOWN
        assert set(model["extra"]) <= set(model["params"])
