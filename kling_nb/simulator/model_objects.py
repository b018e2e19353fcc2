"""Model objects for ``GET /api/ai/models``, built from the catalog and the request model.

The request schema is the JSON Schema of :class:`kling_nb.requests.VideoRequest`, narrowed to the
parameters the model accepts, with the hub's extras: ``x-order``, ``renderType`` and ``basic``.
It is sent under both ``request_schema`` and ``json_request_schema``, as pages disagree.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from kling_nb.catalog import ModelSpec, list_models
from kling_nb.requests import VideoRequest

__all__ = ["model_object", "model_objects", "request_schema"]

_RENDER_TYPES = {
    "input_image": "image-url",
    "start_image_url": "image-url",
    "tail_image_url": "image-url",
    "input_video": "video-url",
}
_BASIC = ("prompt", "multi_prompt", "duration", "input_image", "aspect_ratio", "generate_audio")
_CREATED = 1_767_225_600  # 2026-01-01, fixed so responses are stable


@functools.cache
def _full_schema() -> dict[str, Any]:
    return VideoRequest.model_json_schema()


def request_schema(spec: ModelSpec) -> dict[str, Any]:
    """The JSON Schema of the model's request parameters."""
    full = copy.deepcopy(_full_schema())
    properties: dict[str, Any] = full.get("properties", {})
    kept = [name for name in properties if name in spec.params]
    schema: dict[str, Any] = {
        "type": "object",
        "title": spec.display_name,
        "properties": {},
        "additionalProperties": False,
        "basic": [name for name in _BASIC if name in spec.params],
    }
    for order, name in enumerate(kept):
        prop = dict(properties[name])
        prop["x-order"] = order
        if name in _RENDER_TYPES:
            prop["renderType"] = _RENDER_TYPES[name]
        schema["properties"][name] = prop
    _apply_spec_defaults(schema["properties"], spec)
    if "$defs" in full:
        schema["$defs"] = full["$defs"]
    return schema


def _apply_spec_defaults(properties: dict[str, Any], spec: ModelSpec) -> None:
    if "duration" in properties:
        if spec.default_duration is not None:
            properties["duration"]["default"] = spec.default_duration
        if spec.allowed_durations:
            properties["duration"]["enum"] = list(spec.allowed_durations)
    if "negative_prompt" in properties and spec.default_negative_prompt is not None:
        properties["negative_prompt"]["default"] = spec.default_negative_prompt
    if "aspect_ratio" in properties:
        properties["aspect_ratio"]["enum"] = list(spec.aspect_ratios)
    for name, value in spec.defaults:
        if name in properties:
            properties[name]["default"] = value


def _pricing(spec: ModelSpec) -> dict[str, Any]:
    return {
        "method": "per_video_output_second",
        "cost_per_second": spec.price_per_second,
        "cost_per_second_with_audio": spec.price_per_second_with_audio,
        "cost_per_second_high_res": spec.price_per_second,
    }


@functools.cache
def model_object(spec: ModelSpec) -> dict[str, Any]:
    """One bare model object, as ``GET /api/ai/models/{id}`` answers (cached: do not mutate)."""
    schema = request_schema(spec)
    inputs = ["text" if name == "prompt" else name.rstrip("s") for name in spec.inputs]
    return {
        "id": spec.id,
        "object": "model",
        "created": _CREATED,
        "owned_by": "kling",
        "display_name": spec.display_name,
        "description": spec.description,
        "summary": spec.description.split(";")[0],
        "model_type": "video",
        "endpoint": "/videos/generate",
        "capabilities": {"input": inputs, "output": ["video"]},
        "pricing": _pricing(spec),
        "deployments": [{"provider": "fal", "status": "active"}],
        "developer": "Kling",
        "image_url": None,
        "released_at": "2026-01-01T00:00:00Z",
        "request_schema": schema,
        "json_request_schema": schema,
    }


def model_objects() -> list[dict[str, Any]]:
    """Every catalog model's object."""
    return [model_object(spec) for spec in list_models()]
