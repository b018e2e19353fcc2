"""The local rules of a request: their names, how failures are collected, and how they read.

Every rule has a name (``RULES``); a failure is a pydantic error whose ``type`` is that name, so
``VideoRequest.unchecked(body, ignore=[name])`` can let a request break it on purpose. Messages
use the seeds' wording; pydantic prefixes sentences with ``Value error, `` as the server does.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError, ValidationInfo
from pydantic_core import InitErrorDetails, PydanticCustomError

from kling_nb.local_images import is_local_token

__all__ = [
    "MAX_ELEMENT_REFERENCES",
    "MAX_PROMPT_CHARS",
    "NUM_GENERATIONS_MESSAGE",
    "RULES",
    "SHOT_DURATION_MESSAGE",
    "SHOT_SECONDS",
    "TAKES",
    "VALUE_ERROR",
    "Checks",
    "LocalRuleWarning",
    "check_prompt",
    "check_unknown",
    "check_url",
    "literal_message",
    "rule_context",
    "url_problem",
    "validate_num_generations",
]

MAX_PROMPT_CHARS = 512
MAX_ELEMENT_REFERENCES = 3
SHOT_SECONDS = range(1, 16)  # a shot's allowed lengths
TAKES = range(1, 5)  # num_generations
NUM_GENERATIONS_MESSAGE = "num_generations must be an integer between 1 and 4"

#: The local rules, by name. ``VideoRequest.unchecked(body, ignore=[name, ...])`` lets a request
#: break the named ones (with a ``LocalRuleWarning``); every other rule still applies.
RULES: Mapping[str, str] = {
    "prompt_conflict": "both 'prompt' and 'multi_prompt' are given",
    "prompt_required": "neither 'prompt' nor a non-empty 'multi_prompt' is given",
    "prompt_length": f"a prompt is empty or longer than {MAX_PROMPT_CHARS} characters",
    "shot_duration": "a duration is not one the model allows (1..15 s for the O3 models)",
    "duration_with_multi_prompt": "'duration' is given with 'multi_prompt'",
    "total_duration_min": "the total duration is below the model's minimum (3 s)",
    "total_duration_max": "the total duration is above the model's maximum (15 s)",
    "tail_needs_start": "'tail_image_url' is given without a start image",
    "element_references": f"an element has more than {MAX_ELEMENT_REFERENCES} reference_image_urls",
    "max_references": "more references (input images plus elements) than the model allows",
    "input_image_shape": "'input_image' is a list where the model takes one URL, or the reverse",
    "allowed_values": "a value outside its set (aspect_ratio, response_format, ...) or range",
    "mentions": "@ImageN or @ElementN in a prompt with no N-th image or element",
    "url_scheme": "an image or video input that is not an http(s) URL",
    "unknown_field": "a field no model knows",
    "model_params": "a parameter the chosen model does not accept",
    "required_params": "the model's image or video input is missing",
}

_IGNORE = "kling_nb.ignore"
_BROKEN = "kling_nb.broken"
VALUE_ERROR = "Value error, "


def rule_context(ignore: frozenset[str], broken: set[str]) -> dict[str, Any]:
    """The pydantic validation context that lets ``ignore``'d rules pass, noting in ``broken``
    the ones a request actually broke."""
    return {_IGNORE: ignore, _BROKEN: broken}


class LocalRuleWarning(UserWarning):
    """A request was built with ``VideoRequest.unchecked`` and breaks the named local rules."""


def literal_message(values: Iterable[object]) -> str:
    """pydantic's wording for a Literal: ``Input should be '1', '2' or '3'``."""
    quoted = [f"'{v}'" for v in values]
    if len(quoted) == 1:
        return f"Input should be {quoted[0]}"
    return f"Input should be {', '.join(quoted[:-1])} or {quoted[-1]}"


SHOT_DURATION_MESSAGE = literal_message(SHOT_SECONDS)


class Checks:
    """Collects rule failures of one model, honouring the rules a caller chose to ignore."""

    def __init__(self, info: ValidationInfo) -> None:
        context = info.context if isinstance(info.context, dict) else {}
        self.ignore: frozenset[str] = context.get(_IGNORE, frozenset())
        self.broken: set[str] = context.get(_BROKEN, set())
        self.errors: list[InitErrorDetails] = []

    def fail(
        self,
        rule: str,
        loc: tuple[str | int, ...],
        message: str,
        value: object = None,
        **context: Any,
    ) -> None:
        """Record that ``rule`` failed at ``loc`` with ``message``, unless the caller ignores it;
        ``context`` (e.g. the allowed values) lets ``wording`` say the rule in the user's words."""
        assert rule in RULES, rule
        if rule in self.ignore:
            self.broken.add(rule)
            return
        error = PydanticCustomError(rule, "{message}", {"message": message, **context})
        self.errors.append(InitErrorDetails(type=error, loc=loc, input=value))

    def value_error(
        self, rule: str, loc: tuple[str | int, ...], message: str, value: object = None
    ) -> None:
        """``fail`` with a sentence, prefixed ``Value error, `` as pydantic does for ValueError."""
        self.fail(rule, loc, VALUE_ERROR + message, value)

    def raise_if_any(self, title: str) -> None:
        """Raise every recorded failure as one ``ValidationError`` (locations kept)."""
        if self.errors:
            raise ValidationError.from_exception_data(title, self.errors)


def check_prompt(checks: Checks, loc: tuple[str | int, ...], prompt: str) -> None:
    """``prompt_length``: a prompt has 1 to ``MAX_PROMPT_CHARS`` characters (pydantic's words)."""
    if not prompt:
        checks.fail("prompt_length", loc, "String should have at least 1 character", prompt)
    elif len(prompt) > MAX_PROMPT_CHARS:
        message = f"String should have at most {MAX_PROMPT_CHARS} characters"
        checks.fail("prompt_length", loc, message, prompt)


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be fetched by the server, or None for a usable http(s) URL (or a
    local image's token, which becomes one at submit)."""
    if is_local_token(url):
        return None
    if any(char.isspace() or not char.isprintable() for char in url):
        return (
            f"{_short(url)!r} has spaces, line breaks or control characters: percent-encode "
            "them (a space is %20)."
        )
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if parts.netloc:
            return None
        return f"{_short(url)!r} has no host; use a full URL such as https://example.com/face.jpg."
    if scheme in ("", "file") or len(scheme) == 1:  # a path, file://, or a Windows drive letter
        return (
            f"{_short(url)!r} is a local file path; local files need a URL the server can fetch: "
            "give it as pathlib.Path (or to %%kling, the form or Client.submit), and kling_nb "
            "uploads it to your Oxen.ai repository at submit; or use an https:// URL."
        )
    return f"{_short(url)!r} is not an http(s) URL; image and video inputs must be http:// or https://."


def check_url(checks: Checks, loc: tuple[str | int, ...], url: str) -> None:
    """``url_scheme``: ``url`` is one the server can fetch (see ``url_problem``)."""
    problem = url_problem(url)
    if problem is not None:
        checks.value_error("url_scheme", loc, problem, url)


def check_unknown(
    checks: Checks,
    model: BaseModel,
    extra_hint: Mapping[str, str],
    allowed: frozenset[str] = frozenset(),
) -> None:
    """Fail ``unknown_field`` for each key ``model`` kept as extra, unless ``allowed`` (parameters
    a model learnt from the server declares), naming the closest known field."""
    known = list(type(model).model_fields)
    for name in model.model_extra or {}:
        if name in allowed:
            continue
        hint = extra_hint.get(name)
        if hint is None:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else f"known fields: {', '.join(known)}."
        message = f"Unknown field {name!r}: {hint}"
        checks.value_error("unknown_field", (name,), message, (model.model_extra or {})[name])


def validate_num_generations(n: object) -> int:
    """``n`` if it is an integer from 1 to 4, else ``ValueError`` in the server's words."""
    if isinstance(n, bool) or not isinstance(n, int) or n not in TAKES:
        raise ValueError(NUM_GENERATIONS_MESSAGE)
    return n
