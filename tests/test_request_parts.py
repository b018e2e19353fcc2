"""The parts of a request (``request_parts``): the strict, immutable base every request model
shares (unknown keys kept for the ``unknown_field`` rule, unsendable text refused), a ``Shot``'s
prompt and duration, an ``Element``'s images; each part's rules collected together and ignorable
by name, as ``VideoRequest.unchecked`` relies on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _bodies import URL, errors_of
from _images import TEAL, picture
from pydantic import ValidationError

from kling_nb.local_images import is_local_token
from kling_nb.request_parts import Element, RequestModel, Shot
from kling_nb.rules import RULES, rule_context


class Note(RequestModel):
    """The smallest request model: what ``RequestModel`` gives every part."""

    text: str
    count: int = 0


def ignoring(*rules: str) -> tuple[dict[str, Any], set[str]]:
    """A validation context that lets ``rules`` pass, and the set it notes broken ones in."""
    broken: set[str] = set()
    return rule_context(frozenset(rules), broken), broken


def types(exc: ValidationError) -> list[str]:
    return [error["type"] for error in exc.errors()]


# ----- the base every request model shares -----


def test_a_request_model_coerces_nothing_keeps_unknown_keys_and_cannot_be_changed() -> None:
    with pytest.raises(ValidationError, match="Input should be a valid integer"):
        Note.model_validate({"text": "a", "count": "5"})  # lax pydantic would take it
    note = Note.model_validate({"text": "a", "txet": "b"})
    assert note.model_extra == {"txet": "b"}  # for the unknown_field rule to name
    with pytest.raises(ValidationError):
        note.text = "c"  # type: ignore[misc]  # frozen: the refused assignment is the test


def test_any_request_model_refuses_a_lone_surrogate_before_its_own_validation() -> None:
    with pytest.raises(ValidationError) as info:
        Note.model_validate({"text": 5, "x\udc80": "y"})
    assert info.value.title == "Note"
    (error,) = info.value.errors()  # the surrogate alone: no type error reported with it
    assert (error["type"], error["loc"]) == ("text_encoding", ())


# ----- a shot -----


def test_shot_without_prompt_is_field_required_at_its_path():
    (error,) = errors_of({"multi_prompt": [{"prompt": "a", "duration": 2}, {"duration": 3}]})
    assert (error["loc"], error["msg"]) == (("multi_prompt", 1, "prompt"), "Field required")


def test_a_shot_outside_one_to_fifteen_seconds_passes_only_when_its_rule_is_ignored() -> None:
    for seconds in (0, 16):
        with pytest.raises(ValidationError) as info:
            Shot.model_validate({"prompt": "x", "duration": seconds})
        assert types(info.value) == ["shot_duration"]
        context, broken = ignoring("shot_duration")
        assert Shot.model_validate(
            {"prompt": "x", "duration": seconds}, context=context
        ).duration == (seconds)
        assert broken == {"shot_duration"}
    context, broken = ignoring("shot_duration")
    Shot.model_validate({"prompt": "x", "duration": 15}, context=context)
    assert broken == set()  # nothing broken, nothing noted


@pytest.mark.parametrize("seconds", [5.0, 2.5, "5", True, None, [5]])
def test_a_shot_duration_that_is_not_an_integer_is_refused_even_when_its_rule_is_ignored(
    seconds: object,
) -> None:
    """No server could read it as a number of seconds: ignoring the range is not ignoring the
    type."""
    context, _ = ignoring(*RULES)
    with pytest.raises(ValidationError) as info:
        Shot.model_validate({"prompt": "x", "duration": seconds}, context=context)
    assert types(info.value) == ["shot_duration"]


def test_a_shots_prompt_length_and_unknown_keys_are_its_rules_reported_together() -> None:
    with pytest.raises(ValidationError) as info:
        Shot.model_validate({"prompt": "", "durations": 5})
    assert info.value.title == "Shot"
    assert [(e["type"], e["loc"]) for e in info.value.errors()] == [
        ("unknown_field", ("durations",)),
        ("prompt_length", ("prompt",)),
    ]
    assert "did you mean 'duration'?" in info.value.errors()[0]["msg"]
    context, broken = ignoring("prompt_length", "unknown_field")
    shot = Shot.model_validate({"prompt": "y" * 600, "durations": 5}, context=context)
    assert shot.duration == 5 and broken == {"prompt_length", "unknown_field"}


def test_a_lone_surrogate_in_a_shot_prompt_is_refused_whatever_rules_are_ignored() -> None:
    context, _ = ignoring(*RULES)
    with pytest.raises(ValidationError) as info:
        Shot.model_validate({"prompt": "caf\udce9"}, context=context)
    assert [(e["type"], e["loc"]) for e in info.value.errors()] == [("text_encoding", ("prompt",))]


# ----- an element -----


def test_elements_need_a_front_view_and_at_most_three_more():
    (error,) = errors_of({"prompt": "x", "elements": [{"reference_image_urls": [URL]}]})
    assert (error["loc"], error["msg"]) == (("elements", 0, "frontal_image_url"), "Field required")
    element = {"frontal_image_url": URL, "reference_image_urls": [URL] * 4}
    (error,) = errors_of({"prompt": "x", "elements": [element]})
    assert error["loc"] == ("elements", 0, "reference_image_urls")
    assert error["msg"] == "List should have at most 3 items after validation, not 4"
    ok = Element(frontal_image_url=URL, reference_image_urls=[URL] * 3)
    assert len(ok.reference_image_urls) == 3


def test_an_elements_local_images_become_tokens_and_no_string_is_read_as_a_path(
    tmp_path: Path,
) -> None:
    face = picture(tmp_path / "face.png", TEAL)
    element = Element.model_validate(
        {"frontal_image_url": face, "reference_image_urls": [face, URL]}
    )
    front, (side, url) = element.frontal_image_url, element.reference_image_urls
    assert is_local_token(front) and side == front and url == URL
    with pytest.raises(ValidationError) as info:
        Element.model_validate({"frontal_image_url": str(face)})
    assert types(info.value) == ["url_scheme"]


def test_an_elements_rules_are_all_reported_at_once_and_each_can_be_ignored() -> None:
    body = {
        "frontal_image_url": "face.jpg",
        "reference_image_urls": [URL, "ftp://e.com/b.jpg", URL, URL],
        "refs": [],
    }
    with pytest.raises(ValidationError) as info:
        Element.model_validate(body)
    assert info.value.title == "Element"
    assert [(e["type"], e["loc"]) for e in info.value.errors()] == [
        ("unknown_field", ("refs",)),
        ("url_scheme", ("frontal_image_url",)),
        ("url_scheme", ("reference_image_urls", 1)),
        ("element_references", ("reference_image_urls",)),
    ]
    context, broken = ignoring("unknown_field", "url_scheme", "element_references")
    element = Element.model_validate(body, context=context)
    assert len(element.reference_image_urls) == 4
    assert broken == {"unknown_field", "url_scheme", "element_references"}
