"""Hypothesis strategies shared by the request and export tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from kling_nb.catalog import get_model
from kling_nb.requests import VideoRequest

URL = "https://example.com/a.jpg"
# No lone surrogates (category Cs): a request refuses them, as UTF-8 cannot encode them.
ANY_TEXT = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=40).filter(
    lambda s: "@" not in s
)
#: Blank space around a text, as a prompt may have it (non-breaking and wide spaces too).
BLANK = st.text(st.sampled_from(" \t\n\r\xa0\u2009\u3000\u2028"), max_size=3)


def padded(text: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """``text`` with blank space drawn before and after it."""
    return st.tuples(BLANK, text, BLANK).map("".join)


def valid_requests(text: st.SearchStrategy[str] = ANY_TEXT) -> st.SearchStrategy[VideoRequest]:
    """Valid requests for the seed models, with prompts drawn from ``text``."""

    @st.composite
    def build(draw: st.DrawFn) -> VideoRequest:
        model = draw(st.sampled_from(["o3-pro", "o3-4k", get_model("o3-pro").id]))
        limit = get_model(model).max_references or 0
        images = draw(st.integers(0, limit))
        elements = draw(st.integers(0, limit - images))

        def prompt() -> str:
            mention = draw(st.sampled_from(["", *(f"@Image{i + 1} " for i in range(images))]))
            return mention + draw(text)

        body: dict[str, Any] = {"model": model}
        if draw(st.booleans()):
            body["prompt"] = prompt()
            if draw(st.booleans()):
                body["duration"] = draw(st.integers(3, 15))
        else:
            durations = draw(
                st.lists(st.integers(1, 6), min_size=1, max_size=3).filter(
                    lambda ds: 3 <= sum(ds) <= 15
                )
            )
            body["multi_prompt"] = [
                {"prompt": prompt()}
                if d == 5 and draw(st.booleans())
                else {"prompt": prompt(), "duration": d}
                for d in durations
            ]
        if images:
            body["input_image"] = [f"https://example.com/{i}.jpg" for i in range(images)]
        if elements:
            body["elements"] = [
                {"frontal_image_url": URL, "reference_image_urls": [URL] * (i % 4)}
                for i in range(elements)
            ]
        if draw(st.booleans()):
            body["start_image_url"] = "https://example.com/start.png"
            if draw(st.booleans()):
                body["tail_image_url"] = "https://example.com/end.png"
        for key, strategy in {
            "negative_prompt": text,
            "aspect_ratio": st.sampled_from(["16:9", "9:16", "1:1"]),
            "generate_audio": st.booleans(),
            "response_format": st.sampled_from(["url", "b64_json"]),
            "target_namespace": st.text(min_size=1, max_size=10),
        }.items():
            if draw(st.booleans()):
                body[key] = draw(strategy)
        return VideoRequest.model_validate(body)

    return build()
