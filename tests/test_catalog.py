from __future__ import annotations

import dataclasses
import re

import pytest
from _seeds import O3_4K_SEEDS, O3_PRO_SEED, markdown_table, seed_text

from kling_nb.catalog import (
    DEFAULT_MODEL,
    ModelSpec,
    UnknownModelError,
    get_model,
    list_models,
)
from kling_nb.requests import ASPECT_RATIOS, VideoRequest

O3_PRO = "kling-video-o3-pro-reference-to-video"
O3_4K = "kling-video-o3-4k-reference-to-video"


def test_seed_models_come_first_and_o3_pro_is_the_default():
    models = list_models()
    assert [m.id for m in models[:2]] == [O3_PRO, O3_4K]
    assert DEFAULT_MODEL == O3_PRO
    assert VideoRequest(prompt="x").spec is get_model("o3-pro")


def test_ids_and_aliases_are_unique_and_look_up_either_way():
    models = list_models()
    names = [m.id for m in models] + [m.alias for m in models]
    assert len(names) == len(set(names))
    for spec in models:
        assert get_model(spec.id) is spec
        assert get_model(spec.alias) is spec
        assert get_model(f" {spec.alias.upper()} ") is spec
        assert spec.label == f"{spec.id} ({spec.alias})"
    assert {m.alias for m in models} >= {"o3-pro", "o3-4k", "v2.6-t2v", "v2.6-i2v", "o3-pro-i2v"}


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        ("o3-pr", "o3-pro"),
        ("o3pro", "o3-pro"),
        ("kling-video-o3-4k", "o3-4k"),
        ("v26-t2v", "v2.6-t2v"),
    ],
)
def test_unknown_model_suggests_the_closest(name, suggestion):
    with pytest.raises(UnknownModelError) as info:
        get_model(name)
    assert isinstance(info.value, ValueError)
    assert str(info.value).startswith(f"Unknown model {name!r}. Did you mean {suggestion!r}")
    assert "Known models (ids or aliases): o3-pro, o3-4k," in str(info.value)


def test_a_name_like_nothing_lists_the_known_models():
    with pytest.raises(UnknownModelError, match=r"^Unknown model 'zzz'\. Known models"):
        get_model("zzz")


def test_specs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_model("o3-pro").price_per_second = 0.0  # type: ignore[misc]


def test_o3_pro_parameters_are_exactly_the_seed_table():
    rows = markdown_table(seed_text(O3_PRO_SEED), "## Request Parameters")
    seed_params = {row[0].strip("`") for row in rows}
    assert seed_params == get_model("o3-pro").params | {"model"}
    defaults = {row[0].strip("`"): row[3] for row in rows}
    assert defaults["duration"] == str(get_model("o3-pro").default_duration)
    assert defaults["negative_prompt"] == f'`"{get_model("o3-pro").default_negative_prompt}"`'
    assert defaults["aspect_ratio"] == '`"16:9"`'
    assert re.findall(r'"(\d+:\d+)"', dict((r[0], r[4]) for r in rows)["`aspect_ratio`"]) == [
        "9:16",
        "1:1",
        "16:9",
    ]
    assert set(ASPECT_RATIOS) == {"9:16", "1:1", "16:9"}


def test_o3_4k_parameters_cover_its_seed_table():
    (seed,) = [s for s in O3_4K_SEEDS if s.startswith("000")]
    rows = markdown_table(seed_text(seed), "### Optional parameters")
    assert {row[0].strip("`") for row in rows} <= get_model("o3-4k").params
    assert get_model("o3-4k").params == get_model("o3-pro").params


def test_reference_limits_come_from_the_seeds():
    assert "max 4 combined with elements" in seed_text(O3_PRO_SEED)
    assert get_model("o3-pro").max_references == 4
    for seed in O3_4K_SEEDS:
        assert "combined limit of 7" in seed_text(seed)
    assert get_model("o3-4k").max_references == 7


def test_prices_match_the_seed_table_of_other_kling_models():
    rows = markdown_table(seed_text(O3_PRO_SEED), "## Other Kling Models")
    assert len(rows) == 6
    for model, _inputs, _use, cost in rows:
        spec = get_model(model.strip("`"))
        assert spec.price_per_second == pytest.approx(float(cost.lstrip("\\$")))
    pro = get_model("o3-pro")
    assert pro.price_per_second == pro.price_per_second_with_audio == 0.224
    assert get_model("o3-4k").price_per_second is None
    assert get_model("o3-4k").price_per_second_with_audio is None


@pytest.mark.parametrize("spec", list_models(), ids=lambda s: s.alias)
def test_every_spec_is_consistent(spec: ModelSpec):
    assert "prompt" in spec.params
    assert {key for key, _ in spec.defaults} <= spec.params
    assert spec.required_params <= spec.params
    assert (spec.price_per_second is None) == (spec.price_per_second_with_audio is None)
    if spec.default_duration is None:  # output as long as the input video
        assert spec.allowed_durations == () and "duration" not in spec.params
    else:
        assert spec.default_duration in spec.allowed_durations
        assert spec.min_total_duration is not None and spec.max_total_duration is not None
        assert spec.min_total_duration <= spec.default_duration <= spec.max_total_duration
    assert spec.description and spec.display_name and spec.kind


@pytest.mark.parametrize("spec", list_models(), ids=lambda s: s.alias)
def test_every_model_takes_a_minimal_request(spec: ModelSpec):
    inputs = {"input_image": "https://example.com/a.jpg", "input_video": "https://e.com/v.mp4"}
    body: dict[str, object] = {"model": spec.alias, "prompt": "A cat"}
    for name in spec.required_params:
        value = inputs[name]
        body[name] = value if spec.single_input_image or name == "input_video" else [value]
    request = VideoRequest.model_validate(body)
    assert request.model == spec.id
    assert request.canonical()["model"] == spec.id


@pytest.mark.parametrize("module", ["catalog", "rules", "requests", "exports"])
def test_public_names_exist_and_say_what_they_are(module):
    import importlib

    mod = importlib.import_module(f"kling_nb.{module}")
    assert mod.__doc__
    assert len(mod.__all__) == len(set(mod.__all__))
    for name in mod.__all__:
        value = getattr(mod, name)
        if callable(value):
            assert value.__doc__, f"kling_nb.{module}.{name} has no docstring"
