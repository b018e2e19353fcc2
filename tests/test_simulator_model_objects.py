"""The model objects of ``GET /api/ai/models`` (``simulator/model_objects.py``): each model's
request schema narrowed from the request model, with the hub's extras, pricing and inputs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from kling_nb.catalog import ModelSpec, get_model, list_models
from kling_nb.requests import VideoRequest
from kling_nb.simulator import Simulator
from kling_nb.simulator.model_objects import model_object, model_objects, request_schema
from tests._simulator import MODEL, api

URL_RENDER_TYPES = {
    "input_image": "image-url",
    "start_image_url": "image-url",
    "tail_image_url": "image-url",
    "input_video": "video-url",
}


@pytest.fixture
def client(sim: Simulator) -> Iterator[httpx.Client]:
    with api(sim) as c:
        yield c


def refs(node: Any) -> Iterator[str]:
    """Every ``$ref`` in a JSON Schema."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def test_models_list_and_detail_carry_both_schemas_pricing_and_order(client: httpx.Client) -> None:
    listing = client.get("/api/ai/models").json()
    assert listing["object"] == "list"
    assert [m["id"] for m in listing["data"]] == [s.id for s in list_models()]
    detail = client.get(f"/api/ai/models/{MODEL}").json()
    assert detail == listing["data"][0]
    assert detail["object"] == "model" and detail["endpoint"] == "/videos/generate"
    assert detail["pricing"]["method"] == "per_video_output_second"
    assert detail["pricing"]["cost_per_second"] == 0.224
    schema = detail["request_schema"]
    assert schema == detail["json_request_schema"]
    props = schema["properties"]
    assert "prompt" in props and "multi_prompt" in props and "cfg_scale" not in props
    orders = [p["x-order"] for p in props.values()]
    assert orders == sorted(orders) == list(range(len(orders)))
    assert props["start_image_url"]["renderType"] == "image-url"
    assert props["negative_prompt"]["default"] == "blur, distort, and low quality"
    assert props["aspect_ratio"]["enum"] == ["16:9", "9:16", "1:1"]
    assert "prompt" in schema["basic"]
    for key in ("capabilities", "display_name", "owned_by", "deployments", "released_at"):
        assert key in detail
    assert client.get("/api/ai/models/o3-pro").status_code == 404


@pytest.mark.parametrize("spec", list_models(), ids=lambda spec: spec.alias)
def test_each_schema_offers_exactly_the_models_parameters_in_the_request_models_order(
    spec: ModelSpec,
) -> None:
    schema = request_schema(spec)
    props = schema["properties"]
    assert set(props) == set(spec.params)
    known = list(VideoRequest.model_json_schema()["properties"])
    assert list(props) == sorted(props, key=known.index)
    assert [p["x-order"] for p in props.values()] == list(range(len(props)))
    assert schema["title"] == spec.display_name and schema["additionalProperties"] is False
    assert "prompt" in schema["basic"] and set(schema["basic"]) <= set(props)
    assert {n: p["renderType"] for n, p in props.items() if "renderType" in p} == {
        n: kind for n, kind in URL_RENDER_TYPES.items() if n in props
    }


@pytest.mark.parametrize("spec", list_models(), ids=lambda spec: spec.alias)
def test_durations_aspect_ratios_and_defaults_come_from_the_catalog(spec: ModelSpec) -> None:
    props = request_schema(spec)["properties"]
    assert ("duration" in props) == bool(spec.allowed_durations)
    if "duration" in props:
        assert props["duration"]["enum"] == list(spec.allowed_durations)
        assert props["duration"]["default"] == spec.default_duration
    if "aspect_ratio" in props:
        assert props["aspect_ratio"]["enum"] == list(spec.aspect_ratios)
    for name, value in spec.defaults:
        assert props[name]["default"] == value


@pytest.mark.parametrize("spec", list_models(), ids=lambda spec: spec.alias)
def test_each_schema_is_self_contained(spec: ModelSpec) -> None:
    schema = request_schema(spec)
    found = list(refs(schema))
    assert bool(found) == ("multi_prompt" in spec.params or "elements" in spec.params)
    for ref in found:
        assert ref.startswith("#/$defs/") and ref.removeprefix("#/$defs/") in schema["$defs"]


def test_a_model_object_names_its_inputs_and_prices_from_the_catalog() -> None:
    spec = get_model(MODEL)
    reference = model_object(spec)
    assert reference["capabilities"] == {"input": ["text", "image"], "output": ["video"]}
    motion = model_object(get_model("kling-video-v3-pro-motion-control"))
    assert motion["capabilities"]["input"] == ["text", "image", "video"]
    for obj, model in ((reference, spec), (motion, get_model(motion["id"]))):
        assert obj["pricing"]["cost_per_second"] == model.price_per_second
        assert obj["pricing"]["cost_per_second_with_audio"] == model.price_per_second_with_audio
        assert obj["description"] == model.description
        assert model.description.startswith(obj["summary"]) and ";" not in obj["summary"]


def test_model_objects_are_the_catalogs_in_order_and_plain_json() -> None:
    objects = model_objects()
    assert [o["id"] for o in objects] == [s.id for s in list_models()]
    assert json.loads(json.dumps(objects)) == objects
    assert len({o["created"] for o in objects}) == 1  # a fixed date: answers stay stable
