"""The canonical form of a request, what its hash is taken of: defaults filled in, keys sorted,
blank space around prompts left out, ``response_format`` (how the answer comes, not what is
made) left out, ``cfg_scale`` a float; so requests meaning the same thing share a hash, and
recorded hashes stay what they were."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from _strategies import valid_requests
from hypothesis import given, settings

from kling_nb.canonical import request_hash_of, trimmed
from kling_nb.requests import Element, Shot, VideoRequest, estimate_cost

O3_PRO = "kling-video-o3-pro-reference-to-video"
URL = "https://example.com/a.jpg"


def test_canonical_fills_the_defaults_and_sorts_keys():
    canonical = VideoRequest(prompt="x", response_format="b64_json").canonical()
    assert canonical == {
        "aspect_ratio": "16:9",
        "duration": 5,
        "generate_audio": False,
        "model": O3_PRO,
        "negative_prompt": "blur, distort, and low quality",
        "prompt": "x",
    }
    assert list(canonical) == sorted(canonical)
    shot_canonical = VideoRequest(
        model="o3-4k", multi_prompt=[Shot(prompt="a")], elements=[Element(frontal_image_url=URL)]
    ).canonical()
    assert shot_canonical["multi_prompt"] == [{"duration": 5, "prompt": "a"}]
    assert shot_canonical["elements"] == [{"frontal_image_url": URL, "reference_image_urls": []}]
    assert "negative_prompt" not in shot_canonical  # the 4K page has no default
    assert "duration" not in shot_canonical


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({"prompt": "x"}, {"prompt": "x", "duration": 5}),
        ({"prompt": "x"}, {"prompt": "x", "negative_prompt": "blur, distort, and low quality"}),
        ({"prompt": "x"}, {"prompt": "x", "aspect_ratio": "16:9", "generate_audio": False}),
        ({"prompt": "x"}, {"model": "o3-pro", "prompt": "x", "response_format": "b64_json"}),
        ({"prompt": "x"}, {"prompt": "x", "input_image": [], "elements": []}),
        ({"prompt": "x"}, {"prompt": "x", "multi_prompt": []}),
        ({"prompt": "x", "start_image_url": URL}, {"start_image_url": URL, "prompt": "x"}),
        ({"multi_prompt": [{"prompt": "a"}]}, {"multi_prompt": [{"duration": 5, "prompt": "a"}]}),
        (
            {"prompt": "x", "elements": [{"frontal_image_url": URL}]},
            {"prompt": "x", "elements": [{"frontal_image_url": URL, "reference_image_urls": []}]},
        ),
        (
            {"model": "v2.6-t2v", "prompt": "x"},
            {"model": "v2.6-t2v", "prompt": "x", "cfg_scale": 0.5},
        ),
        (
            {"model": "v2.6-t2v", "prompt": "x", "cfg_scale": 1},
            {"model": "v2.6-t2v", "prompt": "x", "cfg_scale": 1.0},
        ),
    ],
)
def test_requests_that_mean_the_same_hash_the_same(a, b):
    first, second = VideoRequest.model_validate(a), VideoRequest.model_validate(b)
    assert first.canonical_json() == second.canonical_json()
    assert first.request_hash == second.request_hash
    assert re.fullmatch(r"[0-9a-f]{64}", first.request_hash)


@pytest.mark.parametrize(
    "b",
    [
        {"prompt": "y"},
        {"prompt": "x", "duration": 6},
        {"prompt": "x", "generate_audio": True},
        {"prompt": "x", "negative_prompt": ""},
        {"prompt": "x", "model": "o3-4k"},
        {"multi_prompt": [{"prompt": "x"}]},
        {"prompt": "x", "target_namespace": "my-org"},
    ],
)
def test_requests_that_differ_hash_differently(b):
    assert VideoRequest(prompt="x").request_hash != VideoRequest.model_validate(b).request_hash


def test_canonical_json_is_compact_sorted_and_keeps_unicode():
    request = VideoRequest(prompt="一只小狗在公园里奔跑")
    text = request.canonical_json()
    assert text.startswith('{"aspect_ratio":"16:9","duration":5,')
    assert "一只小狗" in text
    assert json.loads(text) == request.canonical()


@settings(max_examples=200)
@given(valid_requests())
def test_valid_requests_round_trip_through_canonical_json(request):
    again = VideoRequest.model_validate(json.loads(request.canonical_json()))
    assert again.canonical() == request.canonical()
    assert again.request_hash == request.request_hash
    assert again.total_duration == request.total_duration
    assert estimate_cost(again) == estimate_cost(request)
    assert VideoRequest.model_validate(request.payload()) == request


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"prompt": "A fox in the snow"},
            "0172de3ae1fcedb740d355728e5a4cf99776c9bda6f8cac07021d16373a97ce4",
        ),
        (
            {"model": "v2.6-t2v", "prompt": "x \U0001f98a 一只", "cfg_scale": 1},
            "20db376a25632124d846881215a1136b22bf9830e72178a1592ffc17cc23a2e7",
        ),
        (
            {"multi_prompt": [{"prompt": "a", "duration": 3}, {"prompt": "b", "duration": 4}]},
            "ecd4bbd13437a8e6daefa0501c08a124848e22cb63998ca00beaa020c76ae6a0",
        ),
    ],
)
def test_request_hashes_stay_what_earlier_versions_recorded(body, expected):
    """Replay finds recorded results by this hash: a change would re-bill every old ledger."""
    request = VideoRequest.model_validate(body)
    assert request.request_hash == expected
    assert request.canonical() == json.loads(request.canonical_json())


def test_blank_space_around_a_prompt_means_nothing_but_the_payload_keeps_it() -> None:
    padded = VideoRequest(prompt=" \n A fox\t ")
    assert padded.canonical()["prompt"] == "A fox"
    assert padded.request_hash == VideoRequest(prompt="A fox").request_hash
    assert padded.payload()["prompt"] == " \n A fox\t "  # sent as written
    inside = VideoRequest(prompt="A  fox")
    assert inside.request_hash != VideoRequest(prompt="A fox").request_hash


def test_blank_space_around_each_shot_prompt_means_nothing() -> None:
    shots = [{"prompt": " a ", "duration": 3}, {"prompt": "\nb", "duration": 4}]
    bare = [{"prompt": "a", "duration": 3}, {"prompt": "b", "duration": 4}]
    padded = VideoRequest.model_validate({"multi_prompt": shots})
    assert padded.canonical()["multi_prompt"] == bare
    assert padded.request_hash == VideoRequest.model_validate({"multi_prompt": bare}).request_hash


def test_a_blank_prompt_is_kept_as_it_is() -> None:
    assert trimmed("  a b \n") == "a b"
    assert trimmed(" \n ") == " \n "
    assert trimmed("") == ""


def test_cfg_scale_is_a_float_in_the_canonical_json() -> None:
    request = VideoRequest.model_validate({"model": "v2.6-t2v", "prompt": "x", "cfg_scale": 1})
    assert request.canonical()["cfg_scale"] == 1.0
    assert isinstance(request.canonical()["cfg_scale"], float)
    assert '"cfg_scale":1.0' in request.canonical_json()


def test_the_hash_is_the_sha256_of_the_canonical_json_lone_surrogates_included() -> None:
    request = VideoRequest(prompt="一只")
    text = request.canonical_json()
    assert request.request_hash == hashlib.sha256(text.encode()).hexdigest()
    assert request_hash_of('"\ud800"') == hashlib.sha256(b'"\xed\xa0\x80"').hexdigest()
