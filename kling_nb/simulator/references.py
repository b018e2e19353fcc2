"""A generation fetches its reference images, as the model does, and checks them.

URLs on the simulator itself (presigned repository files, sample images) are fetched over HTTP
without auth, as the hub's workers fetch what they are given; an expired or forged link fails the
generation in the hub's words. URLs elsewhere are not fetched (the simulator stays offline). The
first image fetched is what the video shows.
"""

from __future__ import annotations

from typing import Any

import httpx

from kling_nb.simulator.state import SimState

__all__ = ["fetch_references"]

_TIMEOUT = 10.0


def _image_urls(params: dict[str, Any]) -> list[tuple[str, str]]:
    """``(where, url)`` of every image reference, the one the video shows first."""
    found: list[tuple[str, Any]] = []
    images = params.get("input_image")
    for i, url in enumerate([images] if isinstance(images, str) else images or []):
        found.append((f"input_image[{i}]", url))
    for i, element in enumerate(params.get("elements") or []):
        if isinstance(element, dict):
            found.append((f"elements[{i}].frontal_image_url", element.get("frontal_image_url")))
            for j, url in enumerate(element.get("reference_image_urls") or []):
                found.append((f"elements[{i}].reference_image_urls[{j}]", url))
    for key in ("start_image_url", "tail_image_url"):
        found.append((key, params.get(key)))
    return [(where, url) for where, url in found if isinstance(url, str)]


async def fetch_references(state: SimState, params: dict[str, Any]) -> bytes | str | None:
    """The first reference image's bytes (None if none is on the simulator), or the error
    message a failed fetch gives the generation."""
    base = state.config.base_url
    found = _image_urls(params)
    for where, url in found:
        if not url.lower().startswith(("http://", "https://")):  # e.g. a token never resolved
            return _failed(where, "not an http(s) URL")
    own = [(w, u) for w, u in found if base and u.startswith(base + "/")]
    first: bytes | None = None
    async with httpx.AsyncClient(timeout=_TIMEOUT) as client:
        for where, url in own:
            state.stats.bump("reference_fetches")
            try:
                response = await client.get(url)
            except httpx.HTTPError as exc:
                return _failed(where, f"{type(exc).__name__}")
            if response.status_code != 200:
                detail = _detail(response)
                return _failed(where, f"HTTP {response.status_code}{detail}")
            if first is None:
                first = response.content
    return first


def _failed(where: str, why: str) -> str:
    return f"Getting model response error: 400 - Failed to download the image in {where}: {why}"


def _detail(response: httpx.Response) -> str:
    try:
        error = response.json().get("error", {})
        title = error.get("title") if isinstance(error, dict) else None
    except (ValueError, AttributeError):
        title = None
    return f" ({title})" if isinstance(title, str) else ""
