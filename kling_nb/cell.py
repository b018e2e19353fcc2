"""A ``%%kling`` cell's options and body, turned into the one request it stands for.

Pure: parsed options, a parsed body and the settings in; a validated
:class:`~kling_nb.requests.VideoRequest` (or a one-line ``UsageError`` in the seeds' words) out.
Also what ``--dry-run`` prints.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any, Literal

from IPython.core.error import UsageError

if TYPE_CHECKING:
    from kling_nb.body import Body
    from kling_nb.requests import VideoRequest
    from kling_nb.session import KlingSettings

__all__ = ["build_request", "dry_run_report", "num_generations"]


def num_generations(text: str) -> int:
    """``-n``: an integer from 1 to 4, else ``UsageError`` in the server's words."""
    from kling_nb.requests import validate_num_generations

    value: object = int(text) if text.strip().lstrip("+-").isdigit() else text
    try:
        return validate_num_generations(value)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _images(urls: list[str], *, single: bool) -> list[str] | str | None:
    """``-i`` URLs as the model takes them: one URL for image-to-video models, else a list."""
    if not urls:
        return None
    return urls[0] if single and len(urls) == 1 else urls


def _elements(specs: list[str]) -> list[dict[str, Any]]:
    elements = []
    for spec in specs:
        urls = [url.strip() for url in spec.split(",")]
        if not all(urls):
            raise UsageError(
                f"--element takes FRONT[,REF...], comma-separated URLs with none empty: {spec!r}."
            )
        element: dict[str, Any] = {"frontal_image_url": urls[0]}
        if urls[1:]:
            element["reference_image_urls"] = urls[1:]
        elements.append(element)
    return elements


def build_request(options: argparse.Namespace, body: Body, settings: KlingSettings) -> VideoRequest:
    """The one :class:`VideoRequest` a cell stands for, or a ``UsageError`` in the seeds' words."""
    from pydantic import ValidationError

    from kling_nb.catalog import get_model
    from kling_nb.local_images import LocalImageError, localize
    from kling_nb.requests import VideoRequest, error_summary

    model = options.model or settings.default_model
    try:
        spec = get_model(model)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    payload: dict[str, Any] = {"model": model}
    if body.shots:
        if options.duration is not None:
            raise UsageError(
                "-d sets the duration of a single prompt; with [Ns] shots each shot sets its "
                "own: drop -d, or remove the markers."
            )
        payload["multi_prompt"] = [{"prompt": s.prompt, "duration": s.duration} for s in body.shots]
    elif body.prompt is not None:
        payload["prompt"] = body.prompt
    if options.duration is not None:
        payload["duration"] = options.duration
    aspect = options.aspect_ratio
    if aspect is None and "aspect_ratio" in spec.params:
        aspect = settings.aspect_ratio
    optional = {
        "aspect_ratio": aspect,
        "generate_audio": True if options.audio else None,
        "input_image": _images(options.image, single=spec.single_input_image),
        "elements": _elements(options.element) or None,
        "start_image_url": options.start,
        "tail_image_url": options.end,
        "negative_prompt": options.negative,
    }
    payload.update({k: v for k, v in optional.items() if v is not None})
    try:
        payload = localize(payload)  # a local file's path becomes its checked token
    except LocalImageError as exc:
        raise UsageError(str(exc)) from None
    try:
        return VideoRequest.model_validate(payload)
    except ValidationError as exc:
        raise UsageError(error_summary(exc)) from None


def dry_run_report(request: VideoRequest, num: int, *, sync: bool = False) -> str:
    """What ``--dry-run`` prints: the validated request, its cost and its three exports."""
    from kling_nb.requests import estimate_cost, format_cost

    endpoint: Literal["queue", "sync"] = "sync" if sync else "queue"
    takes = f" for {num} generations" if num > 1 else ""
    return "\n".join(
        [
            "Dry run: nothing was sent.",
            "",
            "Request (validated):",
            json.dumps(request.payload(), indent=2),
            "",
            f"Estimated cost: {format_cost(estimate_cost(request, num))}{takes}",
            *_uploads(request),
            "",
            "As %%kling:",
            _magic_export(request, num),
            "",
            "As Python:",
            request.to_python(endpoint=endpoint, num_generations=num),
            "",
            "As cURL:",
            request.to_curl(endpoint=endpoint, num_generations=num),
        ]
    )


def _uploads(request: VideoRequest) -> list[str]:
    """What submitting would upload first: each local image, once."""
    from kling_nb.local_images import local_tokens, lookup, parse_token

    lines = []
    for token in local_tokens(request.payload()):
        parsed = parse_token(token)
        assert parsed is not None
        image = lookup(parsed[0])
        what = f"{image.width}x{image.height} {image.mime}, {image.size:,} bytes" if image else ""
        lines.append(f"  {parsed[1]} ({what + ', ' if what else ''}sha256 {parsed[0][:12]}...)")
    if not lines:
        return []
    return [
        "",
        "Local images to upload at submit (once per content, to your Oxen.ai repository; "
        "each gets a fresh presigned URL):",
        *lines,
    ]


def _magic_export(request: VideoRequest, num: int) -> str:
    try:
        return request.to_magic(num_generations=num)
    except ValueError as exc:  # e.g. an interpolated value put a shot header inside a prompt
        return f"(not expressible as a cell: {exc})"
