"""The local rules as such (``rules``): every rule has a name, and a request that breaks it fails
with that name as the error's type, so ``VideoRequest.unchecked`` can let it pass by name; and the
checks every part of a request shares: a prompt's length, a URL the server can fetch, unknown
fields, the number of generations."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from _bodies import NEITHER, O3_PRO, URL, errors_of, messages, shots
from _seeds import error_rows, from_queue_body
from pydantic import ValidationError

from kling_nb.catalog import get_model
from kling_nb.requests import RULES, LocalRuleWarning, VideoRequest, validate_num_generations

# ----- checks every part of a request shares -----


def test_errors_table_row_num_generations():
    (error,) = [e for e, cause in error_rows() if "Invalid count" in cause]
    for bad in (0, 5, -1, 2.0, "2", True, None):
        with pytest.raises(ValueError) as info:
            validate_num_generations(bad)
        assert str(info.value) == error.strip("`")
    assert [validate_num_generations(n) for n in (1, 2, 3, 4)] == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="between 1 and 4"):
        from_queue_body({"prompt": "x", "num_generations": 9})


def test_prompts_over_512_characters():
    assert VideoRequest(prompt="x" * 512).prompt == "x" * 512
    too_long_text = "String should have at most 512 characters"
    assert messages({"prompt": "x" * 513}) == [too_long_text]
    (error,) = errors_of({"multi_prompt": [{"prompt": "y" * 600}, {"prompt": "ok"}]})
    assert (error["loc"], error["msg"]) == (("multi_prompt", 0, "prompt"), too_long_text)
    assert messages({"prompt": ""}) == ["String should have at least 1 character"]


@pytest.mark.parametrize(
    ("url", "advice"),
    [
        ("face.jpg", "local files need a URL"),
        ("./img/face.jpg", "local files need a URL"),
        ("/home/me/face.jpg", "local files need a URL"),
        ("file:///home/me/face.jpg", "local files need a URL"),
        ("C:\\Users\\me\\face.jpg", "local files need a URL"),
        ("data:image/png;base64,AAAA", "is not an http(s) URL"),
        ("ftp://example.com/a.jpg", "is not an http(s) URL"),
        ("https:///a.jpg", "has no host"),
        (" https://example.com/a.jpg", "percent-encode"),
        ("https://example.com/my face.jpg", "a space is %20"),
        ("https://example.com/a\n.jpg", "line breaks"),
        ("https://example.com/a\x00.jpg", "control characters"),
    ],
)
def test_image_urls_must_be_http(url, advice):
    bodies = {
        ("input_image", 0): {"input_image": [url]},
        ("start_image_url",): {"start_image_url": url},
        ("elements", 0, "frontal_image_url"): {"elements": [{"frontal_image_url": url}]},
        ("elements", 0, "reference_image_urls", 1): {
            "elements": [{"frontal_image_url": URL, "reference_image_urls": [URL, url]}]
        },
    }
    for loc, extra in bodies.items():
        (error,) = errors_of({"prompt": "x", **extra})
        assert error["type"] == "url_scheme"
        assert error["loc"] == loc
        assert advice in error["msg"]
    VideoRequest(prompt="x", input_image=["http://example.com/a.jpg", URL.upper()])


def test_unknown_fields_name_the_closest_known_one():
    typo, no_prompt = errors_of({"promt": "A puppy"})
    assert typo["loc"] == ("promt",)
    assert typo["msg"] == "Value error, Unknown field 'promt': did you mean 'prompt'?"
    assert no_prompt["msg"] == NEITHER
    (error,) = errors_of({"prompt": "x", "multi_prompt": None, "aspect": "16:9"})
    assert "did you mean 'aspect_ratio'?" in error["msg"]
    (error,) = errors_of({"multi_prompt": [{"prompt": "x", "durations": 5}]})
    assert error["loc"] == ("multi_prompt", 0, "durations")
    assert "did you mean 'duration'?" in error["msg"]
    (error,) = errors_of({"prompt": "x", "elements": [{"frontal_image_url": URL, "refs": []}]})
    assert error["loc"] == ("elements", 0, "refs")
    (error,) = errors_of({"prompt": "x", "num_generations": 2})
    assert "pass num_generations=N to Client.submit" in error["msg"]
    (error,) = errors_of({"prompt": "x", "zzzzzz": 1})
    assert "known fields: model, prompt, multi_prompt" in error["msg"]


# ----- each rule by its name, which the escape hatch lets pass -----

RULE_EXAMPLES: dict[str, dict[str, Any]] = {
    "prompt_conflict": {"prompt": "a", "multi_prompt": [{"prompt": "b"}]},
    "prompt_required": {"multi_prompt": []},
    "prompt_length": {"prompt": "x" * 513},
    "shot_duration": {"model": "v2.6-t2v", "prompt": "x", "duration": 7},
    "duration_with_multi_prompt": {"multi_prompt": [{"prompt": "b"}], "duration": 5},
    "total_duration_min": {"prompt": "x", "duration": 2},
    "total_duration_max": {"multi_prompt": shots(5, 5, 6)},
    "tail_needs_start": {"prompt": "x", "tail_image_url": URL},
    "element_references": {
        "prompt": "x",
        "elements": [{"frontal_image_url": URL, "reference_image_urls": [URL] * 4}],
    },
    "max_references": {"prompt": "x", "input_image": [URL] * 5},
    "input_image_shape": {"prompt": "x", "input_image": URL},
    "allowed_values": {"prompt": "x", "aspect_ratio": "4:3"},
    "mentions": {"prompt": "@Image1 waves"},
    "url_scheme": {"prompt": "x", "input_image": ["face.jpg"]},
    "unknown_field": {"prompt": "x", "seed": 42},
    "model_params": {"prompt": "x", "cfg_scale": 0.5},
    "required_params": {"model": "o3-pro-edit", "prompt": "x"},
}


def test_every_rule_has_an_example():
    assert set(RULE_EXAMPLES) == set(RULES)


@pytest.mark.parametrize("rule", sorted(RULE_EXAMPLES))
def test_each_rule_fails_with_its_name_as_the_error_type(rule):
    assert [error["type"] for error in errors_of(RULE_EXAMPLES[rule])] == [rule]


@pytest.mark.parametrize("rule", sorted(RULE_EXAMPLES))
def test_unchecked_sends_a_request_that_breaks_the_named_rule_with_a_warning(rule):
    body = {"model": O3_PRO, **RULE_EXAMPLES[rule]}
    body["model"] = get_model(body["model"]).id
    with pytest.warns(LocalRuleWarning) as record:
        request = VideoRequest.unchecked(body, ignore=[rule])
    (warning,) = record
    assert rule in str(warning.message)
    assert RULES[rule] in str(warning.message)
    assert request.payload() == body
    assert request.ignored_rules == {rule}
    assert request.canonical()["model"] == body["model"]
    assert len(request.request_hash) == 64


def test_unchecked_still_applies_the_rules_not_named_and_is_silent_when_nothing_breaks():
    with pytest.raises(ValidationError) as info:
        VideoRequest.unchecked({"prompt": "x" * 600, "duration": 2}, ignore=["prompt_length"])
    assert [e["type"] for e in info.value.errors()] == ["total_duration_min"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        request = VideoRequest.unchecked({"prompt": "x"}, ignore=["prompt_length"])
    assert request.ignored_rules == frozenset()
    with pytest.warns(LocalRuleWarning, match="shot_duration.*total_duration_max"):
        VideoRequest.unchecked(
            {"prompt": "x", "duration": 20}, ignore=["shot_duration", "total_duration_max"]
        )


def test_plain_validation_never_uses_the_escape_hatch():
    with pytest.raises(ValidationError):
        VideoRequest.model_validate(RULE_EXAMPLES["url_scheme"], context={"ignore": ["url_scheme"]})
