"""Validation errors in the user's words, for the magic and the form.

A rule's error keeps the server's wording in the exception itself (the simulator answers with it, as
Oxen.ai does). What a person reads is made here from the error's rule, location and value: the shot
is named from 1 and the rule said, ``shot 2 is 20 s; a shot is 1 to 15 s`` rather than
``multi_prompt.1.duration: Input should be '1', '2', ...``. Where the seeds give their own sentence
(the total-duration messages, ``Cannot provide both ...``) it stays, after the shot or field named.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from kling_nb.rules import MAX_PROMPT_CHARS, SHOT_SECONDS, VALUE_ERROR

__all__ = ["error_summary", "field_errors", "field_name", "sentence", "user_message"]


def field_name(loc: Sequence[str | int]) -> str:
    """What the user calls a field: ``shot 2 duration``, ``image 1``, ``element 1 frontal image``,
    ``shots`` for the list of shots; other fields keep their name (``aspect_ratio``)."""
    parts = list(loc)
    if parts[:1] == ["multi_prompt"]:
        if len(parts) == 1:
            return "shots"
        return " ".join([f"shot {_nth(parts[1])}", *map(str, parts[2:])])
    if parts[:1] == ["input_image"] and len(parts) == 2:
        return f"image {_nth(parts[1])}"
    if parts[:1] == ["elements"] and len(parts) >= 2:
        rest = {"frontal_image_url": "frontal image", "reference_image_urls": "reference"}
        words = [f"element {_nth(parts[1])}"]
        words += [_nth(p) if isinstance(p, int) else rest.get(p, p) for p in parts[2:]]
        return " ".join(words)
    return ".".join(str(p) for p in parts)


def _nth(index: object) -> str:
    return str(index + 1) if isinstance(index, int) else str(index)


def _seconds_rule(allowed: Sequence[int]) -> str:
    """``1 to 15 s`` for a run of whole seconds, ``5 or 10 s`` otherwise."""
    values = sorted(allowed)
    if len(values) > 2 and values == list(range(values[0], values[-1] + 1)):
        return f"{values[0]} to {values[-1]} s"
    words = [str(v) for v in values]
    return (", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else words[0]) + " s"


def user_message(error: dict[str, Any]) -> str:
    """One pydantic error (from ``ValidationError.errors()``) as one sentence, without a final
    period: the field named, then the rule or the seeds' own words."""
    kind, loc, value = error["type"], tuple(error["loc"]), error.get("input")
    ctx = error.get("ctx") or {}
    where = field_name(loc)
    message = str(error["msg"]).removeprefix(VALUE_ERROR).rstrip(".")
    shot = loc[:1] == ("multi_prompt",)
    if kind == "shot_duration":
        rule = _seconds_rule(ctx.get("allowed") or SHOT_SECONDS)
        subject, noun = (f"shot {_nth(loc[1])}", "a shot") if shot else (where, "the duration")
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{subject} is {value} s; {noun} is {rule}"
        return f"{subject} is {value!r}; {noun} is a whole number of seconds, {rule}"
    if kind == "prompt_length" and isinstance(value, str):
        if not value:
            return f"{where} is empty; describe what the video shows"
        return f"{where} is {len(value)} characters; the limit is {MAX_PROMPT_CHARS}"
    return f"{where}: {message}" if where else message


def sentence(text: str) -> str:
    """``text`` ending with exactly one period (or its own ``?``/``!``)."""
    text = text.rstrip().rstrip(".")
    return text if text.endswith(("?", "!")) else text + "."


def field_errors(exc: ValidationError) -> dict[str, list[str]]:
    """Messages by field path (``"prompt"``, ``"multi_prompt.1.duration"``; ``""`` for the whole
    request), each one sentence in the user's words: for showing next to form fields."""
    found: dict[str, list[str]] = {}
    for error in exc.errors(include_url=False):
        path = ".".join(str(part) for part in error["loc"])
        message = sentence(user_message(dict(error)))
        messages = found.setdefault(path, [])
        if message not in messages:
            messages.append(message)
    return found


def error_summary(exc: ValidationError) -> str:
    """Every error on one line in the user's words, ``; ``-separated, ending once."""
    parts: list[str] = []
    for error in exc.errors(include_url=False):
        line = user_message(dict(error))
        if line not in parts:
            parts.append(line)
    return sentence("; ".join(parts))
