"""The canonical form of a request: what ``request_hash`` hashes, so that requests meaning the
same thing (defaults given or not, keys in any order, blank space around prompts) share a hash."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kling_nb.requests import VideoRequest

__all__ = ["canonical_body", "request_hash_of", "trimmed"]


def canonical_body(request: VideoRequest) -> dict[str, Any]:
    """The body ``VideoRequest.canonical_json`` writes (see ``VideoRequest.canonical``)."""
    spec = request.spec
    body = {
        key: value
        for key, value in request.payload().items()
        if value != [] and key != "response_format"
    }
    if request.multi_prompt:
        body["multi_prompt"] = [
            {"prompt": trimmed(shot.prompt), "duration": shot.duration}
            for shot in request.multi_prompt
        ]
    elif request.prompt is not None:
        body["prompt"] = trimmed(request.prompt)
        if "duration" in spec.params:
            body["duration"] = request.single_duration(spec)
    if request.elements:
        body["elements"] = [
            {**e.model_dump(mode="json"), "reference_image_urls": e.reference_image_urls}
            for e in request.elements
        ]
    if "negative_prompt" in spec.params and spec.default_negative_prompt is not None:
        body.setdefault("negative_prompt", spec.default_negative_prompt)
    for key, default in spec.defaults:
        if key in spec.params:
            body.setdefault(key, default)
    if "cfg_scale" in body:
        body["cfg_scale"] = float(body["cfg_scale"])
    return body


def trimmed(prompt: str) -> str:
    """The blank space around a prompt means nothing, and a %%kling cell cannot hold it (its
    parser drops it, kling_nb.body): without it, an export reads back with the same hash. A blank
    prompt stays as it is (no cell holds one, and an empty one would not be a valid request)."""
    return prompt.strip() or prompt


def request_hash_of(canonical_json: str) -> str:
    """sha256 (hex) of a canonical JSON text."""
    # surrogatepass: a lone surrogate (from a JSON "\ud800" escape) still hashes.
    return hashlib.sha256(canonical_json.encode("utf-8", "surrogatepass")).hexdigest()
