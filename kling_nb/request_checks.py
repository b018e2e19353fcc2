"""The rules a ``VideoRequest`` is checked against, beyond its fields' types: the model's
parameters, prompts and ``@ImageN`` mentions, durations, images and references, allowed values.
Each failure is added to ``Checks`` under the name of the rule it broke (``rules.RULES``)."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

from kling_nb.catalog import ModelSpec, list_models
from kling_nb.rules import Checks, check_prompt, check_url, literal_message

if TYPE_CHECKING:
    from kling_nb.requests import VideoRequest

__all__ = ["CFG_SCALE_RANGE", "CHOICES", "RESPONSE_FORMATS", "check_request"]

CFG_SCALE_RANGE = (0.0, 10.0)
RESPONSE_FORMATS: tuple[str, ...] = ("url", "b64_json")
#: Allowed values of the string parameters the catalog does not list per model.
CHOICES: dict[str, tuple[str, ...]] = {
    "response_format": RESPONSE_FORMATS,
    "video_mode": ("edit", "reference"),
    "resolution": ("720p", "1080p", "4k"),
    "character_orientation": ("image", "video"),
}
_MENTION = re.compile(r"@(Image|Element)(\d+)")


def check_request(request: VideoRequest, checks: Checks, spec: ModelSpec) -> None:
    """Add to ``checks`` every rule ``request`` breaks for the model ``spec``."""
    _check_model_params(request, checks, spec)
    _check_prompts(request, checks, spec)
    _check_durations(request, checks, spec)
    _check_images(request, checks, spec)
    _check_values(request, checks, spec)


def _check_model_params(request: VideoRequest, checks: Checks, spec: ModelSpec) -> None:
    for name in sorted(spec.required_params - set(request.given())):
        checks.fail("required_params", (name,), "Field required")
    for name in request.given():
        if name != "model" and name not in spec.params:
            accepted = ", ".join(sorted(spec.params))
            message = f"{spec.label} does not accept {name!r}. It accepts: {accepted}."
            checks.value_error("model_params", (name,), message, getattr(request, name))


def _check_prompts(request: VideoRequest, checks: Checks, spec: ModelSpec) -> None:
    if request.prompt is not None and request.multi_prompt:  # an empty multi_prompt is none
        message = "Cannot provide both 'prompt' and 'multi_prompt'."
        checks.value_error("prompt_conflict", (), message)
    elif request.prompt is None and not request.multi_prompt:
        if spec.supports_multi_prompt:
            message = "Either 'prompt' or 'multi_prompt' must be provided."
            checks.value_error("prompt_required", (), message)
        else:
            checks.fail("prompt_required", ("prompt",), "Field required")
    images = len(request.images)
    elements = len(request.elements or [])
    if request.prompt is not None:
        check_prompt(checks, ("prompt",), request.prompt)  # shots check their own prompts
    for loc, text in _prompts(request):
        for match in _MENTION.finditer(text):
            kind, number = match.group(1), int(match.group(2))
            have = images if kind == "Image" else elements
            if not 1 <= number <= have:
                where = "input_image" if kind == "Image" else "elements"
                message = (
                    f"{match.group(0)!r} refers to {kind.lower()} {number}, but the request "
                    f"has {have} in {where!r}: add it or fix the reference (counted from 1)."
                )
                checks.value_error("mentions", loc, message, text)


def _prompts(request: VideoRequest) -> list[tuple[tuple[str | int, ...], str]]:
    found: list[tuple[tuple[str | int, ...], str]] = []
    if request.prompt is not None:
        found.append((("prompt",), request.prompt))
    for i, shot in enumerate(request.multi_prompt or []):
        found.append((("multi_prompt", i, "prompt"), shot.prompt))
    return found


def _check_durations(request: VideoRequest, checks: Checks, spec: ModelSpec) -> None:
    default = spec.default_duration
    if not spec.allowed_durations or default is None:
        return
    if request.multi_prompt and not spec.supports_multi_prompt:
        return  # model_params already says the model takes no multi_prompt
    message = literal_message(spec.allowed_durations)
    if request.multi_prompt and request.duration is not None and request.prompt is None:
        text = "'duration' applies only with 'prompt'; give each shot its own duration."
        checks.value_error("duration_with_multi_prompt", ("duration",), text, request.duration)
    if request.multi_prompt:
        located: list[tuple[tuple[str | int, ...], int]] = [
            (("multi_prompt", i, "duration"), shot.duration)
            for i, shot in enumerate(request.multi_prompt)
        ]
        total_loc: tuple[str | int, ...] = ("multi_prompt",)
    elif request.prompt is not None:
        located = [(("duration",), default if request.duration is None else request.duration)]
        total_loc = ("duration",)
    else:
        return
    before = len(checks.errors)
    for loc, seconds in located:
        if seconds not in spec.allowed_durations:
            allowed = list(spec.allowed_durations)
            checks.fail("shot_duration", loc, message, seconds, allowed=allowed)
    if len(checks.errors) > before:
        return  # as on the server: per-shot errors stop before the totals are checked
    total = sum(seconds for _, seconds in located)
    if spec.min_total_duration is not None and total < spec.min_total_duration:
        text = (
            f"duration value '{total}' is invalid. Try using duration="
            f"'{spec.default_duration}' instead, as duration support may vary by model "
            "and mode."
        )
        checks.value_error("total_duration_min", total_loc, text, total)
    if spec.max_total_duration is not None and total > spec.max_total_duration:
        text = (
            f"Total shot duration ({total}s) exceeds maximum allowed ({spec.max_total_duration}s)."
        )
        checks.value_error("total_duration_max", total_loc, text, total)


def _check_images(request: VideoRequest, checks: Checks, spec: ModelSpec) -> None:
    if isinstance(request.input_image, list):
        for i, url in enumerate(request.input_image):
            check_url(checks, ("input_image", i), url)
    for name in ("input_image", "start_image_url", "tail_image_url", "input_video"):
        value = getattr(request, name)
        if isinstance(value, str):
            check_url(checks, (name,), value)
    if request.input_image is not None and "input_image" in spec.params:
        if spec.single_input_image and not isinstance(request.input_image, str):
            text = f"{spec.label} takes 'input_image' as one URL string, not a list."
            checks.value_error("input_image_shape", ("input_image",), text, request.input_image)
        if not spec.single_input_image and isinstance(request.input_image, str):
            text = f"{spec.label} takes 'input_image' as a list of URLs: [{request.input_image!r}]."
            checks.value_error("input_image_shape", ("input_image",), text, request.input_image)
    # (Image-to-video models start from input_image, which they require anyway.)
    tail_only = request.tail_image_url is not None and request.start_image_url is None
    if tail_only and "start_image_url" in spec.params:
        text = "'tail_image_url' requires 'start_image_url': give the first frame too."
        checks.value_error("tail_needs_start", ("tail_image_url",), text)
    _check_reference_count(request, checks, spec)


def _check_reference_count(request: VideoRequest, checks: Checks, spec: ModelSpec) -> None:
    images, elements = len(request.images), len(request.elements or [])
    limit = spec.max_references
    if request.input_video is not None and spec.max_references_with_video is not None:
        limit = spec.max_references_with_video
    if limit is not None and images + elements > limit:
        roomier = [
            s.alias
            for s in list_models()
            if s.kind == spec.kind and (s.max_references or 0) >= images + elements
        ]
        hint = f", or use {roomier[0]!r}" if roomier else ""
        text = (
            f"Too many references for {spec.alias}: {images} input image(s) + {elements} "
            f"element(s) = {images + elements}, and at most {limit} are allowed combined. "
            f"Remove some{hint}."
        )
        loc: tuple[str | int, ...] = ("input_image",) if images else ("elements",)
        checks.value_error("max_references", loc, text, images + elements)
    if spec.max_elements is not None and elements > spec.max_elements:
        text = f"{spec.alias} takes at most {spec.max_elements} element(s), not {elements}."
        checks.value_error("max_references", ("elements",), text, elements)


def _check_values(request: VideoRequest, checks: Checks, spec: ModelSpec) -> None:
    if request.aspect_ratio is not None and request.aspect_ratio not in spec.aspect_ratios:
        message = literal_message(spec.aspect_ratios)
        checks.fail("allowed_values", ("aspect_ratio",), message, request.aspect_ratio)
    for name, choices in CHOICES.items():
        value = getattr(request, name)
        if value is not None and value not in choices:
            checks.fail("allowed_values", (name,), literal_message(choices), value)
    if request.cfg_scale is not None:
        low, high = CFG_SCALE_RANGE
        if not math.isfinite(request.cfg_scale):
            message = "Input should be a finite number"
            checks.fail("allowed_values", ("cfg_scale",), message, request.cfg_scale)
        elif request.cfg_scale < low:
            message = f"Input should be greater than or equal to {low:g}"
            checks.fail("allowed_values", ("cfg_scale",), message, request.cfg_scale)
        elif request.cfg_scale > high:
            message = f"Input should be less than or equal to {high:g}"
            checks.fail("allowed_values", ("cfg_scale",), message, request.cfg_scale)


# ----- what the request means -----
