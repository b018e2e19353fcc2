"""The ``VideoRequest`` model: the seeds' examples, its fields, payload and shots, cost,
``unchecked``'s rule names and ``recorded``, and properties over any JSON. The rules:
test_rules.py, test_request_checks.py; the canonical form: test_canonical.py; how its errors
read: test_wording.py; unsendable text: test_sendable.py; shots and elements:
test_request_parts.py."""

from __future__ import annotations

import json
import warnings

import pytest
from _bodies import NEITHER, O3_PRO, URL, errors_of, messages, shots
from _seeds import (
    O3_4K_SEEDS,
    O3_PRO_SEED,
    from_queue_body,
    request_examples,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from kling_nb.catalog import list_models
from kling_nb.requests import (
    Shot,
    VideoRequest,
    error_summary,
    estimate_cost,
    field_errors,
    format_cost,
)

O3_4K = "kling-video-o3-4k-reference-to-video"


# ----- the seeds' examples -----

PRO_EXAMPLES = request_examples(O3_PRO_SEED)
K4_EXAMPLES = [example for seed in O3_4K_SEEDS for example in request_examples(seed)]


def test_the_seeds_hold_the_examples_the_tests_expect():
    # 1 JSON block, 4 sync examples and 1 queue example, each in Python and cURL.
    assert [e.kind for e in PRO_EXAMPLES].count("json") == 1
    assert len(PRO_EXAMPLES) == 11
    # 3 tabs (sync, async, async with SSE) x 3 variants x (Python, cURL).
    assert len(K4_EXAMPLES) == 18


@pytest.mark.parametrize("example", PRO_EXAMPLES, ids=lambda e: e.id)
def test_every_o3_pro_seed_example_validates_and_round_trips(example):
    request, count = from_queue_body(example.body)
    assert {**request.payload(), **({"num_generations": count} if count != 1 else {})} == (
        example.body
    )
    again = VideoRequest.model_validate(request.payload())
    assert again == request
    assert again.request_hash == request.request_hash


@pytest.mark.parametrize("example", K4_EXAMPLES, ids=lambda e: e.id)
def test_the_4k_seed_examples_send_no_prompt_and_fail_as_the_server_says(example):
    assert "prompt" not in example.body
    with pytest.raises(ValidationError) as info:
        VideoRequest.model_validate(example.body)
    assert [e["msg"] for e in info.value.errors()] == [NEITHER]  # the server's words...
    assert error_summary(info.value) == NEITHER.removeprefix("Value error, ")  # ...said plainly
    # With a prompt added, the same body is valid and round-trips.
    body = {**example.body, "prompt": "A robot waves"}
    assert VideoRequest.model_validate(body).payload() == body


def test_the_4k_all_parameters_example_with_json_false_parses_as_false():
    bodies = [e.body for e in K4_EXAMPLES if "generate_audio" in e.body]
    assert bodies
    assert all(body["generate_audio"] is False for body in bodies)


# ----- fields (the rules: test_rules.py, test_request_checks.py; shots and elements:
# test_request_parts.py) -----


def test_model_accepts_an_alias_and_holds_the_id():
    assert VideoRequest(model="o3-4k", prompt="x").model == O3_4K
    assert VideoRequest(prompt="x").model == O3_PRO
    (error,) = errors_of({"model": "o3-pr", "prompt": "x"})
    assert error["loc"] == ("model",)
    assert error["msg"].startswith("Unknown model 'o3-pr'. Did you mean 'o3-pro'")


def test_strict_types_are_not_coerced():
    assert messages({"prompt": 5}) == ["Input should be a valid string"]
    assert messages({"prompt": "x", "generate_audio": "true"}) == [
        "Input should be a valid boolean"
    ]
    assert messages({"prompt": "x", "input_image": ("a",)}) == [
        "Input should be a valid list of URL strings"
    ]


def test_requests_are_immutable_values():
    request = VideoRequest(prompt="x")
    with pytest.raises(ValidationError):
        request.prompt = "y"  # type: ignore[misc]


# ----- payload, shots (the canonical form: test_canonical.py) -----


def test_payload_is_the_body_as_given_with_model_first():
    request = VideoRequest.model_validate(
        {"prompt": "x", "model": "o3-pro", "generate_audio": False}
    )
    assert list(request.payload()) == ["model", "prompt", "generate_audio"]
    assert VideoRequest(prompt="x").payload() == {"model": O3_PRO, "prompt": "x"}
    nulls = {"prompt": "x", "multi_prompt": None, "generate_audio": None, "elements": None}
    assert VideoRequest.model_validate(nulls).payload() == {"model": O3_PRO, "prompt": "x"}
    element = {"frontal_image_url": URL, "reference_image_urls": []}
    assert VideoRequest(prompt="x", elements=[element]).payload()["elements"] == [element]


def test_shots_and_total_duration():
    single = VideoRequest(prompt="x", duration=7)
    assert [(s.prompt, s.duration) for s in single.shots] == [("x", 7)]
    assert VideoRequest(prompt="x").total_duration == 5
    multi = VideoRequest.model_validate({"multi_prompt": shots(2, 1, 4)})
    assert multi.total_duration == 7
    assert [s.prompt for s in multi.shots] == ["shot 0", "shot 1", "shot 2"]


# ----- cost -----


def test_estimate_cost_from_the_catalog_price():
    assert estimate_cost(VideoRequest(prompt="x")) == pytest.approx(1.12)
    audio = VideoRequest(prompt="x", duration=15, generate_audio=True)
    assert estimate_cost(audio, num_generations=4) == pytest.approx(13.44)
    assert format_cost(estimate_cost(audio, 4)) == "$13.44"
    assert estimate_cost(VideoRequest(model="v2.6-t2v", prompt="x", duration=10)) == pytest.approx(
        0.7
    )
    with pytest.raises(ValueError, match="between 1 and 4"):
        estimate_cost(audio, num_generations=5)


def test_unknown_prices_say_price_unknown_never_zero():
    unknown = VideoRequest(model="o3-4k", prompt="x")
    assert estimate_cost(unknown) is None
    assert format_cost(estimate_cost(unknown)) == "price unknown"
    edit = VideoRequest(model="o3-pro-edit", prompt="x", input_video="https://example.com/v.mp4")
    assert estimate_cost(edit) is None  # the output is as long as the input video
    assert format_cost(0.0) == "$0.00"
    assert format_cost(1234.5) == "$1,234.50"


# ----- the escape hatch -----


def test_unchecked_refuses_unknown_rule_names():
    with pytest.raises(ValueError, match=r"Unknown rule 'url_schema'\. Did you mean 'url_scheme'"):
        VideoRequest.unchecked({"prompt": "x"}, ignore=["url_schema"])


def test_recorded_requests_come_back_whatever_today_s_rules_say():
    body = {"model": O3_PRO, "prompt": "x" * 600, "duration": 20, "cfg_scale": 1.0}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        request = VideoRequest.recorded(body)
    assert request.payload() == body
    assert request.ignored_rules == {
        "prompt_length",
        "shot_duration",
        "total_duration_max",
        "model_params",
    }
    assert [s.duration for s in request.shots] == [20]
    assert VideoRequest.recorded(VideoRequest(prompt="x").canonical()).ignored_rules == set()
    with pytest.raises(ValidationError, match="Unknown model"):
        VideoRequest.recorded({"model": "kling-video-gone", "prompt": "x"})


# ----- properties -----


def _nested(children: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.lists(children, max_size=4) | st.dictionaries(
        st.text(max_size=10), children, max_size=4
    )


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(st.characters(exclude_categories=()), max_size=20),  # lone surrogates too
    _nested,
    max_leaves=12,
)
FIELDS = [*VideoRequest.model_fields, "promt", "num_generations"]
SHOT_LIKE = st.dictionaries(st.sampled_from(["prompt", "duration", "x"]), JSON | st.integers(0, 20))
ELEMENT_LIKE = st.dictionaries(
    st.sampled_from(["frontal_image_url", "reference_image_urls"]),
    JSON | st.just(URL) | st.lists(st.just(URL), max_size=5),
)
FIELD_VALUES = (
    JSON
    | st.sampled_from([m.alias for m in list_models()] + ["16:9", "url", URL, "@Image2 hi"])
    | st.integers(0, 20)
    | st.lists(SHOT_LIKE, max_size=4)
    | st.lists(ELEMENT_LIKE, max_size=3)
    | st.lists(st.just(URL) | st.text(max_size=5), max_size=8)
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(JSON, st.dictionaries(st.sampled_from(FIELDS), FIELD_VALUES, max_size=8)))
def test_arbitrary_json_raises_nothing_but_validation_error(body):
    try:
        request = VideoRequest.model_validate(body)
    except ValidationError as exc:
        assert error_summary(exc)
        assert isinstance(field_errors(exc), dict)
        return
    assert VideoRequest.model_validate(request.payload()) == request
    json.dumps(request.canonical())
    assert len(request.request_hash) == 64


def test_a_copy_with_changes_gets_its_own_canonical_form_and_hash():
    request = VideoRequest(prompt="x")
    before = request.request_hash  # computed once and kept
    changed = request.model_copy(update={"prompt": "y"})
    assert changed.request_hash == VideoRequest(prompt="y").request_hash != before
    assert changed.canonical()["prompt"] == "y"
    assert request.model_copy().request_hash == before


def test_a_list_changed_in_place_changes_the_hash_and_identity():
    """pydantic's frozen models keep their lists mutable: nothing may be cached stale."""
    request = VideoRequest.model_validate(
        {"model": "o3-pro", "multi_prompt": [{"prompt": "a", "duration": 3}]}
    )
    before = request.request_hash
    assert request.identity() == (request.canonical(), before)
    request.multi_prompt.append(Shot(prompt="b", duration=4))
    assert request.request_hash != before
    assert request.identity() == (request.canonical(), request.request_hash)
    assert request.total_duration == 7
