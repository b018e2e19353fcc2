"""Validation errors in the user's words (``wording``): what each location is called (shots and
images counted from 1, elements' images by name), each rule's error after the field it is about,
durations and prompt lengths said as rules, sentences ending once, and the per-field and one-line
forms the form and the magic show."""

from __future__ import annotations

from typing import Any

import pytest
from _bodies import URL, shots
from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from kling_nb.requests import VideoRequest
from kling_nb.rules import VALUE_ERROR
from kling_nb.wording import error_summary, field_errors, field_name, sentence, user_message


def refusal(body: Any) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        VideoRequest.model_validate(body)
    return info.value


def raised(*errors: tuple[str, tuple[str | int, ...], str]) -> ValidationError:
    """A ``ValidationError`` holding ``(rule, loc, message)`` errors as the rules make them."""
    details = [
        InitErrorDetails(
            type=PydanticCustomError(rule, "{message}", {"message": text}), loc=loc, input=None
        )
        for rule, loc, text in errors
    ]
    return ValidationError.from_exception_data("VideoRequest", details)


# ----- what a location is called -----


@pytest.mark.parametrize(
    ("loc", "name"),
    [
        (("multi_prompt",), "shots"),
        (("multi_prompt", 0), "shot 1"),
        (("multi_prompt", 1, "duration"), "shot 2 duration"),
        (("multi_prompt", 2, "prompt"), "shot 3 prompt"),
        (("input_image", 0), "image 1"),
        (("input_image", 6), "image 7"),
        (("input_image",), "input_image"),
        (("elements",), "elements"),
        (("elements", 0), "element 1"),
        (("elements", 1, "frontal_image_url"), "element 2 frontal image"),
        (("elements", 0, "reference_image_urls"), "element 1 reference"),
        (("elements", 0, "reference_image_urls", 2), "element 1 reference 3"),
        (("elements", 0, "refs"), "element 1 refs"),
        (("aspect_ratio",), "aspect_ratio"),
        (("start_image_url",), "start_image_url"),
        ((), ""),
    ],
)
def test_a_location_is_named_as_the_user_counts(loc: tuple[str | int, ...], name: str) -> None:
    assert field_name(loc) == name


# ----- each rule's error, after the field it is about -----


@pytest.mark.parametrize(
    ("body", "rule", "where"),
    [
        ({"prompt": "a", "multi_prompt": [{"prompt": "b"}]}, "prompt_conflict", ""),
        ({"multi_prompt": []}, "prompt_required", ""),
        (
            {"multi_prompt": [{"prompt": "b"}], "duration": 5},
            "duration_with_multi_prompt",
            "duration",
        ),
        ({"prompt": "x", "duration": 2}, "total_duration_min", "duration"),
        ({"multi_prompt": shots(5, 5, 6)}, "total_duration_max", "shots"),
        ({"prompt": "x", "tail_image_url": URL}, "tail_needs_start", "tail_image_url"),
        (
            {
                "prompt": "x",
                "elements": [{"frontal_image_url": URL, "reference_image_urls": [URL] * 4}],
            },
            "element_references",
            "element 1 reference",
        ),
        ({"prompt": "x", "input_image": [URL] * 5}, "max_references", "input_image"),
        ({"prompt": "x", "input_image": URL}, "input_image_shape", "input_image"),
        ({"prompt": "x", "aspect_ratio": "4:3"}, "allowed_values", "aspect_ratio"),
        (
            {"multi_prompt": [{"prompt": "ok", "duration": 3}, {"prompt": "@Image1 waves"}]},
            "mentions",
            "shot 2 prompt",
        ),
        ({"prompt": "x", "input_image": [URL, "face.jpg"]}, "url_scheme", "image 2"),
        (
            {"prompt": "x", "elements": [{"frontal_image_url": "face.jpg"}]},
            "url_scheme",
            "element 1 frontal image",
        ),
        (
            {
                "prompt": "x",
                "elements": [{"frontal_image_url": URL, "reference_image_urls": [URL, "f.jpg"]}],
            },
            "url_scheme",
            "element 1 reference 2",
        ),
        ({"multi_prompt": [{"prompt": "x", "durations": 5}]}, "unknown_field", "shot 1 durations"),
        ({"prompt": "x", "cfg_scale": 0.5}, "model_params", "cfg_scale"),
        ({"model": "o3-pro-edit", "prompt": "x"}, "required_params", "input_video"),
    ],
)
def test_a_rules_error_reads_as_its_field_then_its_sentence(
    body: dict[str, Any], rule: str, where: str
) -> None:
    """The rule's own words stay (they are the server's), without pydantic's prefix, after the
    field named as the user counts it; the whole request's errors name no field."""
    exc = refusal(body)
    (error,) = exc.errors(include_url=False)
    assert error["type"] == rule
    said = error["msg"].removeprefix(VALUE_ERROR)
    expected = sentence(f"{where}: {said}" if where else said)  # its own "?" kept
    assert error_summary(exc) == expected
    assert field_errors(exc) == {".".join(map(str, error["loc"])): [expected]}
    assert "Value error" not in expected


# ----- durations and prompt lengths said as rules -----


def test_a_shot_duration_that_is_not_a_whole_number_says_so_for_a_shot_and_for_the_request() -> (
    None
):
    assert error_summary(refusal({"multi_prompt": [{"prompt": "a", "duration": True}]})) == (
        "shot 1 is True; a shot is a whole number of seconds, 1 to 15 s."
    )
    assert error_summary(refusal({"prompt": "a", "duration": 2.5})) == (
        "duration is 2.5; the duration is a whole number of seconds, 1 to 15 s."
    )


def duration_error(allowed: list[int] | None, value: object = 7) -> dict[str, Any]:
    ctx = {"allowed": allowed} if allowed is not None else None
    return {"type": "shot_duration", "loc": ("duration",), "msg": "m", "input": value, "ctx": ctx}


@pytest.mark.parametrize(
    ("allowed", "rule"),
    [
        ([5], "5 s"),
        ([10, 5], "5 or 10 s"),
        ([5, 6], "5 or 6 s"),
        ([4, 8, 6], "4, 6 or 8 s"),
        ([3, 5, 4], "3 to 5 s"),
        ([2, 3, 4, 6], "2, 3, 4 or 6 s"),
        (None, "1 to 15 s"),  # no allowed values given: a shot's
    ],
)
def test_allowed_durations_are_said_as_a_run_or_a_list(
    allowed: list[int] | None, rule: str
) -> None:
    assert user_message(duration_error(allowed)) == f"duration is 7 s; the duration is {rule}"


def test_prompt_lengths_are_said_in_characters_for_the_prompt_or_the_shot() -> None:
    assert error_summary(refusal({"prompt": "\u00e9" * 513})) == (
        "prompt is 513 characters; the limit is 512."  # characters, not UTF-8 bytes
    )
    body = {"multi_prompt": [{"prompt": "a", "duration": 3}, {"prompt": ""}]}
    assert error_summary(refusal(body)) == "shot 2 prompt is empty; describe what the video shows."


def test_a_prompt_length_error_without_its_text_keeps_the_rules_words() -> None:
    error = {"type": "prompt_length", "loc": ("prompt",), "msg": "Too long.", "input": None}
    assert user_message(error) == "prompt: Too long"


def test_a_message_about_the_whole_request_names_no_field_and_drops_the_prefix() -> None:
    error = {"type": "prompt_required", "loc": (), "msg": VALUE_ERROR + "Give a prompt."}
    assert user_message(error) == "Give a prompt"


# ----- sentences, and the two forms -----


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("a rule", "a rule."),
        ("a rule.", "a rule."),
        ("a rule...  ", "a rule."),
        ("is it?", "is it?"),
        ("is it?.", "is it?"),
        ("stop!", "stop!"),
    ],
)
def test_a_sentence_ends_once(text: str, said: str) -> None:
    assert sentence(text) == said


def test_the_same_message_twice_is_said_once_and_others_keep_their_order() -> None:
    exc = raised(
        ("allowed_values", ("aspect_ratio",), "Input should be '16:9'"),
        ("allowed_values", ("aspect_ratio",), "Input should be '16:9'"),
        ("model_params", ("aspect_ratio",), VALUE_ERROR + "Not accepted."),
        ("prompt_required", (), VALUE_ERROR + "Give a prompt."),
    )
    assert field_errors(exc) == {
        "aspect_ratio": ["aspect_ratio: Input should be '16:9'.", "aspect_ratio: Not accepted."],
        "": ["Give a prompt."],
    }
    assert error_summary(exc) == (
        "aspect_ratio: Input should be '16:9'; aspect_ratio: Not accepted; Give a prompt."
    )


def test_field_errors_map_to_paths_without_the_value_error_prefix():
    body = {
        "prompt": "x",
        "multi_prompt": [{"prompt": "a"}, {"prompt": "b", "duration": 20}],
    }
    with pytest.raises(ValidationError) as info:
        VideoRequest.model_validate(body)
    assert field_errors(info.value) == {
        "multi_prompt.1.duration": ["shot 2 is 20 s; a shot is 1 to 15 s."]
    }
    with pytest.raises(ValidationError) as info:
        VideoRequest.model_validate(
            {"prompt": "x", "multi_prompt": shots(5), "aspect_ratio": "2:1"}
        )
    assert field_errors(info.value) == {
        "": ["Cannot provide both 'prompt' and 'multi_prompt'."],
        "aspect_ratio": ["aspect_ratio: Input should be '16:9', '9:16' or '1:1'."],
    }


def test_error_summary_is_one_line_in_the_users_words():
    with pytest.raises(ValidationError) as info:
        VideoRequest.model_validate({"multi_prompt": [{"duration": 5}, {"prompt": "x" * 600}]})
    assert error_summary(info.value) == (
        "shot 1 prompt: Field required; shot 2 prompt is 600 characters; the limit is 512."
    )


@pytest.mark.parametrize(
    ("body", "summary"),
    [
        ({"prompt": "x" * 600}, "prompt is 600 characters; the limit is 512."),
        ({"prompt": ""}, "prompt is empty; describe what the video shows."),
        (
            {"multi_prompt": [{"prompt": "a", "duration": 5}, {"prompt": "b", "duration": 20}]},
            "shot 2 is 20 s; a shot is 1 to 15 s.",
        ),
        ({"prompt": "a", "duration": 20}, "duration is 20 s; the duration is 1 to 15 s."),
        (
            {"model": "v2.6-t2v", "prompt": "a", "duration": 7},
            "duration is 7 s; the duration is 5 or 10 s.",
        ),
        (
            {"multi_prompt": [{"prompt": "a", "duration": "5"}]},
            "shot 1 is '5'; a shot is a whole number of seconds, 1 to 15 s.",
        ),
        # The seeds' own sentences stay, after the field they are about.
        (
            {"multi_prompt": [{"prompt": "a", "duration": 10}, {"prompt": "b", "duration": 6}]},
            "shots: Total shot duration (16s) exceeds maximum allowed (15s).",
        ),
        (
            {"multi_prompt": [{"prompt": "a", "duration": 1}, {"prompt": "b", "duration": 1}]},
            "shots: duration value '2' is invalid. Try using duration='5' instead, as duration "
            "support may vary by model and mode.",
        ),
        (
            {"prompt": "@Image2 runs", "input_image": [URL]},
            "prompt: '@Image2' refers to image 2, but the request has 1 in 'input_image': add it "
            "or fix the reference (counted from 1).",
        ),
    ],
)
def test_messages_name_the_shot_or_field_and_end_once(body, summary):
    with pytest.raises(ValidationError) as info:
        VideoRequest.model_validate(body)
    assert error_summary(info.value) == summary
    assert ".." not in summary and ".;" not in summary
