from __future__ import annotations

import json
import re
import warnings
from typing import Any

import pytest
from _seeds import (
    O3_4K_SEEDS,
    O3_PRO_SEED,
    from_queue_body,
    markdown_table,
    request_examples,
    seed_text,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from kling_nb.catalog import get_model, list_models
from kling_nb.requests import (
    RULES,
    Element,
    LocalRuleWarning,
    Shot,
    VideoRequest,
    error_summary,
    estimate_cost,
    field_errors,
    format_cost,
    validate_num_generations,
)

O3_PRO = "kling-video-o3-pro-reference-to-video"
O3_4K = "kling-video-o3-4k-reference-to-video"
URL = "https://example.com/a.jpg"
NEITHER = "Value error, Either 'prompt' or 'multi_prompt' must be provided."
BOTH = "Value error, Cannot provide both 'prompt' and 'multi_prompt'."
SHOT_LITERAL = (
    "Input should be '1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12', '13', '14' "
    "or '15'"
)


def too_short(total: int) -> str:
    return (
        f"Value error, duration value '{total}' is invalid. Try using duration='5' instead, as "
        "duration support may vary by model and mode."
    )


def too_long(total: int) -> str:
    return f"Value error, Total shot duration ({total}s) exceeds maximum allowed (15s)."


def errors_of(body: Any) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as info:
        VideoRequest.model_validate(body)
    return info.value.errors(include_url=False)


def messages(body: Any) -> list[str]:
    return [error["msg"] for error in errors_of(body)]


def shots(*durations: int) -> list[dict[str, Any]]:
    return [{"prompt": f"shot {i}", "duration": d} for i, d in enumerate(durations)]


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


# ----- the seed's tables, row by row -----


def duration_rows() -> list[tuple[str, list[int], int, bool]]:
    rows = markdown_table(seed_text(O3_PRO_SEED), "| Configuration")
    parsed = []
    for configuration, total, result in rows:
        durations = [int(d) for d in re.findall(r"`duration: (\d+)`", configuration)]
        parsed.append((configuration, durations, int(total.rstrip("s")), "Fails" in result))
    return parsed


def test_the_duration_table_has_its_eight_rows():
    rows = duration_rows()
    assert len(rows) == 8
    assert all(sum(durations) == total for _, durations, total, _ in rows)


@pytest.mark.parametrize(("configuration", "durations", "total", "fails"), duration_rows())
def test_duration_constraints_table_row_as_shots(configuration, durations, total, fails):
    body = {"model": O3_PRO, "multi_prompt": shots(*durations)}
    if not fails:
        assert VideoRequest.model_validate(body).total_duration == total
        return
    expected = too_short(total) if total < 3 else too_long(total)
    assert messages(body) == [expected]
    with pytest.raises(ValidationError) as info:
        VideoRequest.model_validate(body)
    assert list(field_errors(info.value)) == ["multi_prompt"]


@pytest.mark.parametrize(
    ("configuration", "durations", "total", "fails"),
    [row for row in duration_rows() if row[0].startswith("Single shot")],
)
def test_duration_constraints_table_single_shot_rows_as_prompt(
    configuration, durations, total, fails
):
    body = {"model": O3_PRO, "prompt": "A flower", "duration": durations[0]}
    if fails:
        assert messages(body) == [too_short(total)]
    else:
        assert VideoRequest.model_validate(body).total_duration == total


def test_duration_constraints_limits_match_the_catalog():
    rows = dict(markdown_table(seed_text(O3_PRO_SEED), "### Duration Constraints"))
    spec = get_model("o3-pro")
    assert rows["Minimum total duration"] == f"**{spec.min_total_duration} seconds**"
    assert rows["Maximum total duration"] == f"**{spec.max_total_duration} seconds**"
    assert rows["Maximum per shot"] == f"{max(spec.allowed_durations)} seconds"
    assert rows["Default per shot"] == f"{spec.default_duration} seconds"
    assert Shot(prompt="x").duration == spec.default_duration


ERROR_ROW_BODIES: dict[str, Any] = {
    "Sent both fields": {"prompt": "a", "multi_prompt": shots(5)},
    "Neither sent, or empty array": [{"model": O3_PRO}, {"multi_prompt": []}],
    "`multi_prompt` item missing `prompt`": {"multi_prompt": [{"duration": 5}]},
    "Total duration \\< 3 seconds": {"multi_prompt": shots(1, 1)},
    "Total duration > 15 seconds": {"multi_prompt": shots(5, 5, 6)},
    "Single shot > 15": {"multi_prompt": shots(16)},
}


def error_rows() -> list[tuple[str, str]]:
    rows = markdown_table(seed_text(O3_PRO_SEED), "## Errors")
    return [(error.strip("`"), cause) for error, cause, _fix in rows]


def test_every_errors_table_row_has_a_test():
    causes = {cause for _, cause in error_rows()}
    assert causes == set(ERROR_ROW_BODIES) | {"Invalid count (via `/ai/queue`)"}


@pytest.mark.parametrize(("error", "cause"), [r for r in error_rows() if r[1] in ERROR_ROW_BODIES])
def test_errors_table_row(error, cause):
    bodies = ERROR_ROW_BODIES[cause]
    for body in bodies if isinstance(bodies, list) else [bodies]:
        with pytest.raises(ValidationError) as info:
            VideoRequest.model_validate(body)
        summary = error_summary(info.value)
        # The table quotes the server's text; the error keeps what follows "422 - " (the
        # simulator answers with it), and the summary says it without pydantic's prefix.
        local = error.removeprefix("Getting model response error: 422 - ")
        if "..." in local:  # the table abbreviates the literal; the seed spells it out
            assert local == "Input should be '1', '2', ... or '15'"
            assert SHOT_LITERAL in seed_text(O3_PRO_SEED)
            assert [e["msg"] for e in info.value.errors()] == [SHOT_LITERAL]
            # ...and the user reads the shot and the rule instead.
            assert summary == "shot 1 is 16 s; a shot is 1 to 15 s."
            continue
        assert any(local in e["msg"] for e in info.value.errors())
        assert local.removeprefix("Value error, ") in summary
        assert "\n" not in summary


def test_errors_table_row_num_generations():
    (error,) = [e for e, cause in error_rows() if "Invalid count" in cause]
    for bad in (0, 5, -1, 2.0, "2", True, None):
        with pytest.raises(ValueError) as info:
            validate_num_generations(bad)
        assert str(info.value) == error.strip("`")
    assert [validate_num_generations(n) for n in (1, 2, 3, 4)] == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="between 1 and 4"):
        from_queue_body({"prompt": "x", "num_generations": 9})


# ----- the rules, one by one -----


def test_both_prompts_and_neither():
    assert messages({"prompt": "a", "multi_prompt": shots(5)}) == [BOTH]
    assert messages({}) == [NEITHER]
    assert messages({"multi_prompt": []}) == [NEITHER]
    assert messages({"prompt": None, "multi_prompt": None}) == [NEITHER]


def test_a_shot_over_fifteen_seconds_and_non_integer_durations_get_the_literal_message():
    assert errors_of({"multi_prompt": shots(5, 16)})[0]["loc"] == ("multi_prompt", 1, "duration")
    for bad in (16, 0, -3, 2.5, 5.0, "5", True, [5]):
        assert messages({"multi_prompt": [{"prompt": "x", "duration": bad}]}) == [SHOT_LITERAL]
        assert messages({"prompt": "x", "duration": bad}) == [SHOT_LITERAL]
    with pytest.raises(ValidationError, match=re.escape(SHOT_LITERAL)):
        Shot(prompt="x", duration=20)


def test_shot_without_prompt_is_field_required_at_its_path():
    (error,) = errors_of({"multi_prompt": [{"prompt": "a", "duration": 2}, {"duration": 3}]})
    assert (error["loc"], error["msg"]) == (("multi_prompt", 1, "prompt"), "Field required")


def test_prompts_over_512_characters():
    assert VideoRequest(prompt="x" * 512).prompt == "x" * 512
    too_long_text = "String should have at most 512 characters"
    assert messages({"prompt": "x" * 513}) == [too_long_text]
    (error,) = errors_of({"multi_prompt": [{"prompt": "y" * 600}, {"prompt": "ok"}]})
    assert (error["loc"], error["msg"]) == (("multi_prompt", 0, "prompt"), too_long_text)
    assert messages({"prompt": ""}) == ["String should have at least 1 character"]


def test_duration_with_multi_prompt_is_refused():
    (error,) = errors_of({"multi_prompt": shots(5), "duration": 5})
    assert error["loc"] == ("duration",)
    assert "give each shot its own duration" in error["msg"]


def test_tail_image_requires_start_image():
    (error,) = errors_of({"prompt": "x", "tail_image_url": URL})
    assert error["loc"] == ("tail_image_url",)
    assert "'tail_image_url' requires 'start_image_url'" in error["msg"]
    VideoRequest(prompt="x", start_image_url=URL, tail_image_url=URL)
    VideoRequest(prompt="x", start_image_url=URL)


def test_elements_need_a_front_view_and_at_most_three_more():
    (error,) = errors_of({"prompt": "x", "elements": [{"reference_image_urls": [URL]}]})
    assert (error["loc"], error["msg"]) == (("elements", 0, "frontal_image_url"), "Field required")
    element = {"frontal_image_url": URL, "reference_image_urls": [URL] * 4}
    (error,) = errors_of({"prompt": "x", "elements": [element]})
    assert error["loc"] == ("elements", 0, "reference_image_urls")
    assert error["msg"] == "List should have at most 3 items after validation, not 4"
    ok = Element(frontal_image_url=URL, reference_image_urls=[URL] * 3)
    assert len(ok.reference_image_urls) == 3


@pytest.mark.parametrize(("model", "limit"), [("o3-pro", 4), ("o3-4k", 7), ("o3-omni", 7)])
def test_references_count_input_images_plus_elements(model, limit):
    element = {"frontal_image_url": URL}
    for images in range(limit + 1):
        body = {
            "model": model,
            "prompt": "x",
            "input_image": [URL] * images,
            "elements": [element] * (limit - images),
        }
        VideoRequest.model_validate(body)
        body["elements"].append(element)
        (error,) = errors_of(body)
        assert error["type"] == "max_references"
        assert f"= {limit + 1}, and at most {limit} are allowed" in error["msg"]


def test_too_many_references_for_o3_pro_points_to_o3_4k():
    (error,) = errors_of({"prompt": "x", "input_image": [URL] * 5})
    assert "or use 'o3-4k'" in error["msg"]


def test_o3_omni_allows_four_references_with_a_video():
    body = {"model": "o3-omni", "prompt": "x", "input_image": [URL] * 5}
    VideoRequest.model_validate(body)
    (error,) = errors_of({**body, "input_video": "https://example.com/v.mp4"})
    assert "at most 4" in error["msg"]


def test_motion_control_takes_one_element():
    element = {"frontal_image_url": URL}
    video = "https://example.com/v.mp4"
    body = {
        "model": "v3-motion",
        "prompt": "x",
        "input_image": URL,
        "input_video": video,
        "elements": [element],
    }
    VideoRequest.model_validate(body)
    (error,) = errors_of({**body, "elements": [element, element]})
    assert error["msg"] == "Value error, v3-motion takes at most 1 element(s), not 2."


def test_aspect_ratio_and_response_format_sets():
    for ratio in ("16:9", "9:16", "1:1"):
        VideoRequest(prompt="x", aspect_ratio=ratio)
    for fmt in ("url", "b64_json"):
        VideoRequest(prompt="x", response_format=fmt)
    assert messages({"prompt": "x", "aspect_ratio": "4:3"}) == [
        "Input should be '16:9', '9:16' or '1:1'"
    ]
    assert messages({"prompt": "x", "response_format": "mp4"}) == [
        "Input should be 'url' or 'b64_json'"
    ]


def test_other_models_choices_and_ranges():
    t2v = {"model": "v2.6-t2v", "prompt": "x"}
    VideoRequest.model_validate({**t2v, "duration": 10, "cfg_scale": 10})
    assert messages({**t2v, "duration": 7}) == ["Input should be '5' or '10'"]
    assert messages({**t2v, "cfg_scale": -0.1}) == ["Input should be greater than or equal to 0"]
    assert messages({**t2v, "cfg_scale": 10.5}) == ["Input should be less than or equal to 10"]
    assert messages({**t2v, "cfg_scale": float("nan")}) == ["Input should be a finite number"]
    omni = {"model": "o3-omni", "prompt": "x"}
    assert messages({**omni, "resolution": "8k"}) == ["Input should be '720p', '1080p' or '4k'"]
    assert messages({**omni, "video_mode": "x"}) == ["Input should be 'edit' or 'reference'"]


@pytest.mark.parametrize(
    ("prompt", "images", "elements", "bad"),
    [
        ("@Image1 and @Image2 wave", 2, 0, None),
        (
            "@Image3 waves",
            2,
            0,
            "'@Image3' refers to image 3, but the request has 2 in 'input_image'",
        ),
        ("@Image0 waves", 1, 0, "'@Image0' refers to image 0"),
        ("@Element1 waves", 0, 1, None),
        ("@Element2 waves", 3, 1, "'@Element2' refers to element 2, but the request has 1"),
        ("@Image1 waves", 0, 0, "'@Image1' refers to image 1, but the request has 0"),
    ],
)
def test_mentions_must_refer_to_an_existing_image_or_element(prompt, images, elements, bad):
    body = {
        "prompt": prompt,
        "input_image": [URL] * images,
        "elements": [{"frontal_image_url": URL}] * elements,
    }
    shot_body = {**body, "prompt": None, "multi_prompt": [{"prompt": "ok"}, {"prompt": prompt}]}
    if bad is None:
        VideoRequest.model_validate(body)
        VideoRequest.model_validate(shot_body)
        return
    (error,) = errors_of(body)
    assert error["loc"] == ("prompt",) and bad in error["msg"]
    (error,) = errors_of(shot_body)
    assert error["loc"] == ("multi_prompt", 1, "prompt") and bad in error["msg"]


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


def test_parameters_a_model_does_not_accept():
    (error,) = errors_of({"model": "v2.6-t2v", "prompt": "x", "input_image": [URL]})
    assert error["loc"] == ("input_image",)
    assert error["msg"].startswith(
        "Value error, kling-video-v2-6-pro-text-to-video (v2.6-t2v) does not accept 'input_image'."
    )
    (error,) = errors_of({"model": "o3-pro", "prompt": "x", "cfg_scale": 0.5})
    assert error["type"] == "model_params"
    (message,) = messages({"model": "o1-ref", "multi_prompt": shots(1, 1)})
    assert message.endswith(
        "does not accept 'multi_prompt'. It accepts: aspect_ratio, duration, elements, "
        "input_image, prompt, response_format, target_namespace."
    )
    assert messages({"model": "v2.6-t2v"}) == ["Field required"]


def test_image_and_video_models_need_their_input():
    video = "https://example.com/v.mp4"
    VideoRequest(model="v3-motion", prompt="x", input_image=URL, input_video=video)
    with pytest.raises(ValidationError) as info:
        VideoRequest(model="v3-motion", prompt="x")
    assert error_summary(info.value) == "input_image: Field required; input_video: Field required."
    with pytest.raises(ValidationError) as info:
        VideoRequest(model="v2.6-i2v", prompt="x")
    assert field_errors(info.value) == {"input_image": ["input_image: Field required."]}


def test_input_image_shape_follows_the_model():
    VideoRequest(model="o3-pro-i2v", prompt="x", input_image=URL, tail_image_url=URL)
    (error,) = errors_of({"model": "o3-pro-i2v", "prompt": "x", "input_image": [URL]})
    assert error["type"] == "input_image_shape"
    (error,) = errors_of({"prompt": "x", "input_image": URL})
    assert "as a list" in error["msg"]
    assert messages({"prompt": "x", "input_image": [URL, 3]}) == [
        "Input should be a valid list of URL strings"
    ]
    (error,) = errors_of({"model": "o3-pro-i2v", "prompt": "x", "tail_image_url": URL})
    assert (error["loc"], error["msg"]) == (("input_image",), "Field required")


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


# ----- error helpers -----


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


# ----- the escape hatch -----

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


def test_plain_validation_never_uses_the_escape_hatch():
    with pytest.raises(ValidationError):
        VideoRequest.model_validate(RULE_EXAMPLES["url_scheme"], context={"ignore": ["url_scheme"]})


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
