"""Request bodies and their validation errors, shared by the request, rule and check tests."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from kling_nb.requests import VideoRequest

O3_PRO = "kling-video-o3-pro-reference-to-video"
URL = "https://example.com/a.jpg"
NEITHER = "Value error, Either 'prompt' or 'multi_prompt' must be provided."


def errors_of(body: Any) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as info:
        VideoRequest.model_validate(body)
    return info.value.errors(include_url=False)


def messages(body: Any) -> list[str]:
    return [error["msg"] for error in errors_of(body)]


def shots(*durations: int) -> list[dict[str, Any]]:
    return [{"prompt": f"shot {i}", "duration": d} for i, d in enumerate(durations)]
