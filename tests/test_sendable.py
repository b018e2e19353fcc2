"""Text a request could never send (``sendable``): a lone surrogate, found in any text of a body,
field names and nested lists included, located where it is, in a message that can itself be
printed; and the request refusing it whatever rules are ignored."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from kling_nb.requests import RULES, VideoRequest, error_summary, field_errors
from kling_nb.sendable import unsendable_text


def locations(body: object) -> list[tuple[str | int, ...]]:
    return [tuple(error["loc"]) for error in unsendable_text(body)]


def message(error: Any) -> str:
    """What the error says (its ``PydanticCustomError`` formatted)."""
    return str(error["type"].message())


# ----- what is found, and where -----


def test_a_body_without_lone_surrogates_has_nothing_to_refuse() -> None:
    body = {
        "prompt": "caf\u00e9 at dusk \U0001f600",  # an astral character is one code point
        "multi_prompt": [{"prompt": "a", "duration": 5}, ("b", None, 2.5, True)],
        "bytes": b"\xed\xa0\x80",  # not text
        1: ["\ud7ff\ue000\U0010ffff"],  # the neighbours of the surrogate range
    }
    assert unsendable_text(body) == []


@pytest.mark.parametrize("char", ["\ud800", "\udbff", "\udc00", "\udfff"])
def test_each_end_of_the_surrogate_range_is_refused(char: str) -> None:
    assert locations({"prompt": f"a{char}"}) == [("prompt",)]


def test_every_text_with_one_is_located_in_nested_lists_tuples_and_mappings() -> None:
    body = {
        "prompt": "fine",
        "input_image": ["https://e.com/a.jpg", "https://e.com/\udc80.jpg"],
        "deep": [["ok", "x\ud800"], ("\udfff",)],
        "elements": [{"frontal_image_url": "\udce9", "reference_image_urls": ["\udce9"]}],
    }
    assert locations(body) == [
        ("input_image", 1),
        ("deep", 0, 1),
        ("deep", 1, 0),
        ("elements", 0, "frontal_image_url"),
        ("elements", 0, "reference_image_urls", 0),
    ]


def test_a_text_is_one_error_naming_its_first_lone_surrogate_counted_from_one() -> None:
    (error,) = unsendable_text({"prompt": "ab\udc80c\udc81"})
    assert error["input"] == "ab\udc80c\udc81"
    said = message(error)
    assert said.startswith(
        r"Value error, a lone surrogate '\udc80' (character 3) cannot be sent as UTF-8"
    )
    assert "surrogateescape" in said
    said.encode("utf-8")  # the message shows the character escaped: it can itself be printed


def test_a_top_level_field_name_is_refused_as_a_field_name_and_its_value_on_its_own() -> None:
    first, second = unsendable_text({"promt\udc80": "also \ud800"})
    assert (first["loc"], first["input"]) == ((), "promt\udc80")
    assert message(first).startswith(
        r"Value error, a field name with a lone surrogate '\udc80' (character 6)"
    )
    assert (second["loc"], second["input"]) == (("promt\udc80",), "also \ud800")
    assert message(second).startswith(r"Value error, a lone surrogate '\ud800' (character 6)")


def test_a_nested_field_name_is_located_at_the_mapping_that_holds_it_and_says_it_is_one() -> None:
    body = {"prompt": "a", "elements": [{"frontal_image_url": "https://e.com/a.jpg", "x\ud800": 1}]}
    (error,) = unsendable_text(body)
    assert (error["loc"], error["input"]) == (("elements", 0), "x\ud800")
    assert message(error).startswith(
        r"Value error, a field name with a lone surrogate '\ud800' (character 2)"
    )


def test_a_key_that_is_not_text_is_named_as_text_in_the_location() -> None:
    assert locations({3: "\ud800"}) == [("3",)]


def test_a_json_surrogate_escape_is_refused_alone_but_not_as_a_pair() -> None:
    assert locations(json.loads('{"prompt": "\\ud800 waves"}')) == [("prompt",)]
    assert unsendable_text(json.loads('{"prompt": "\\ud83d\\ude00 waves"}')) == []


def test_the_errors_make_a_validation_error_that_reads_as_a_value_error() -> None:
    exc = ValidationError.from_exception_data("VideoRequest", unsendable_text({"prompt": "\ud800"}))
    (error,) = exc.errors(include_url=False)
    assert error["type"] == "text_encoding"
    assert error["msg"].startswith("Value error, a lone surrogate")


# ----- the request refuses it -----


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"prompt": "a \ud800 b"}, "prompt"),
        ({"multi_prompt": [{"prompt": "a"}, {"prompt": "\udce9"}]}, "multi_prompt.1.prompt"),
        ({"prompt": "a", "negative_prompt": "\udfff"}, "negative_prompt"),
        ({"prompt": "a", "target_namespace": "org\udc80"}, "target_namespace"),
        ({"prompt": "a", "input_image": ["https://e.com/\udc80.jpg"]}, "input_image.0"),
        (
            {"prompt": "a", "elements": [{"frontal_image_url": "https://e.com/\udc80.jpg"}]},
            "elements.0.frontal_image_url",
        ),
        ({"prompt": "a", "promt\udc80": "x"}, "the request"),
    ],
)
def test_a_lone_surrogate_in_any_text_is_refused_whatever_rules_are_ignored(body, where):
    """It could never be sent (UTF-8 cannot encode it): no rule to ignore, one clear error."""
    for build in (VideoRequest.model_validate, lambda b: VideoRequest.unchecked(b, ignore=RULES)):
        with pytest.raises(ValidationError) as info:
            build(body)
        (error,) = info.value.errors()
        assert error["type"] == "text_encoding"
        summary = error_summary(info.value)
        assert "lone surrogate" in summary and "cannot be sent as UTF-8" in summary
        assert summary.count(".") == summary.count("character.")  # one sentence, ending once
    if where != "the request":
        assert list(field_errors(info.value)) == [where]  # shown beside its field in the form


def test_a_recorded_request_with_a_lone_surrogate_is_refused_too() -> None:
    """``recorded`` lets today's rules pass, not text that could never have been sent."""
    with pytest.raises(ValidationError) as info:
        VideoRequest.recorded({"model": "o3-pro", "prompt": "caf\udce9"})
    assert [error["type"] for error in info.value.errors()] == ["text_encoding"]
