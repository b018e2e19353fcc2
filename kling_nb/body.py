"""The ``%%kling`` cell body: shots, ``{name}`` interpolation and brace escapes.

Grammar::

    [5s] @Image1 walks toward the camera,      <- a line starting with [Ns] starts a shot of N s
    cinematic lighting                         <- later lines continue that shot
    [3s] She turns to the window, {style}      <- {name} is the user's variable; {{ }} are braces

- With no ``[Ns]`` marker the whole body is one prompt; with markers, every line of text must
  belong to a shot, so text before the first marker is an error. A marker may be indented; a
  near miss (``[5 s]``, ``[5sec]``, ``[5]``) at the start of a line is an error, not prompt text.
- A prompt keeps its lines as written, joined with newlines; only the blank space around the whole
  prompt (``str.strip``) is dropped, as the request's canonical form drops it. So the ``%%kling``
  export of a request (``VideoRequest.to_magic``, the form's export) reads back as the same
  request, with the same hash, and replays.
- Interpolation runs after the body is split into shots, so a variable's value never starts a shot.
- Every mistake is an IPython ``UsageError`` that says what to write instead.

The parser is pure: text and a namespace in, a :class:`Body` out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from IPython.core.error import UsageError

__all__ = ["Body", "ShotText", "interpolate", "parse_body", "starts_like_shot"]

# ASCII digits only: `\d` would also accept digits of other scripts.
_MARKER = re.compile(r"\[([0-9]+)s\]")
# Things that look like a shot marker but are not one: "[5 s]", "[5sec]", "[5]", "[ 5s ]".
_NEAR_MARKER = re.compile(r"\[\s*[0-9]+\s*(?:s|sec|secs|second|seconds)?\s*\]", re.IGNORECASE)
_BRACES = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


@dataclass(frozen=True)
class ShotText:
    """One shot of the body: its prompt and its duration in seconds."""

    prompt: str
    duration: int


@dataclass(frozen=True)
class Body:
    """A parsed cell body: either one ``prompt`` (``None`` when the body is blank) or ``shots``."""

    prompt: str | None = None
    shots: tuple[ShotText, ...] = ()


def parse_body(text: str, namespace: Mapping[str, object]) -> Body:
    """Split ``text`` into a single prompt or ``[Ns]`` shots and interpolate ``{name}`` fields.

    >>> parse_body("[5s] a cat\\non a mat\\n[3s] {who} waves", {"who": "a dog"}).shots
    (ShotText(prompt='a cat\\non a mat', duration=5), ShotText(prompt='a dog waves', duration=3))
    """
    preamble: list[str] = []
    shots: list[tuple[int, list[str]]] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.lstrip()
        marker = _MARKER.match(line)
        if marker:
            shots.append((int(marker.group(1)), [line[marker.end() :]]))
            continue
        near = _NEAR_MARKER.match(line)
        if near:
            raise UsageError(
                f"Line {number} starts with {near.group(0)!r}, which is not a shot marker: "
                "write it as [Ns], for example [5s]."
            )
        if shots:
            shots[-1][1].append(raw)
        else:
            preamble.append(raw)
    if not shots:
        text = _join(preamble)
        return Body(prompt=interpolate(text, namespace)) if text else Body()
    if _join(preamble):
        raise UsageError(
            f"Text before the first [Ns] shot marker: {_clip(_join(preamble))!r}. "
            "With shots, every line belongs to a shot: start the cell with a [Ns] line, "
            "or remove the markers for a single prompt."
        )
    return Body(
        shots=tuple(
            ShotText(prompt=interpolate(_join(lines), namespace), duration=seconds)
            for seconds, lines in shots
        )
    )


def starts_like_shot(line: str) -> bool:
    """Whether the parser reads ``line`` as a shot marker or refuses it as a near miss: a prompt
    line for which this is true cannot be written in a cell (``to_magic`` must refuse it)."""
    return _NEAR_MARKER.match(line.lstrip()) is not None


def interpolate(text: str, namespace: Mapping[str, object]) -> str:
    """Replace ``{name}`` with ``str(namespace[name])``; ``{{`` and ``}}`` are literal braces.

    >>> interpolate("a {{literal}} and {x}", {"x": 1})
    'a {literal} and 1'
    """

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        if token in ("{", "}"):
            raise UsageError(
                f"Unmatched {token!r} in the cell body: write {token * 2!r} for a literal brace, "
                "or {name} for a variable."
            )
        name = (match.group(1) or "").strip()
        if not name.isidentifier():
            raise UsageError(
                f"{token!r} in the cell body is not a variable name: write {{name}} for a "
                "variable, or {{ and }} for literal braces."
            )
        if name not in namespace:
            raise UsageError(
                f"Name {name!r} in the cell body is not defined: define it in a cell above, "
                f"or write {{{{{name}}}}} for the literal text {{{name}}}."
            )
        try:
            return str(namespace[name])
        except Exception as exc:
            why = " ".join(f"{type(exc).__name__}: {exc}".split())
            raise UsageError(f"Could not turn {{{name}}} into text: {why}") from None

    return _BRACES.sub(replace, text)


def _join(lines: list[str]) -> str:
    return "\n".join(lines).strip()


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
