"""The rules a request's content is checked against (``request_checks``): prompts and their
``@ImageN`` mentions, durations per shot and in total, images and references, the model's
parameters and its allowed values; first the O3 pro seed's own tables, row by row."""

from __future__ import annotations

import re
from typing import Any

import pytest
from _bodies import NEITHER, O3_PRO, URL, errors_of, messages, shots
from _seeds import O3_PRO_SEED, error_rows, markdown_table, seed_text
from pydantic import ValidationError

from kling_nb.catalog import get_model
from kling_nb.requests import Shot, VideoRequest, error_summary, field_errors

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
