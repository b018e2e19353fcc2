"""Text a request could never send: a lone surrogate, which UTF-8 cannot encode.

Python text holds one after decoding bytes with ``errors="surrogateescape"`` (file names and
environment variables are decoded so), or from a ``"\\ud800"`` JSON escape. Sent, it would raise
``UnicodeEncodeError`` half way through a submission; the request models refuse it instead, in
any field, as a validation error that names the field (see ``VideoRequest``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from pydantic_core import InitErrorDetails, PydanticCustomError

__all__ = ["unsendable_text"]

_SURROGATE = re.compile(r"[\ud800-\udfff]")
_Loc = tuple[str | int, ...]


def unsendable_text(body: object) -> list[InitErrorDetails]:
    """A ``text_encoding`` error for each text in ``body`` (field names too) that holds a lone
    surrogate, located where the text is (``multi_prompt.1.prompt``)."""
    errors = []
    for loc, text, is_key in _texts(body, ()):
        match = _SURROGATE.search(text)
        if match is None:
            continue
        # Located at the mapping that holds it, a field name says it is one (the summary names
        # that mapping's field, ``wording``, so the value would be searched for it otherwise).
        what = "a field name with a lone surrogate" if is_key else "a lone surrogate"
        message = (
            f"{what} {match.group(0)!r} (character {match.start() + 1}) cannot be sent as UTF-8: "
            "the text was probably decoded with errors='surrogateescape'; remove or replace that "
            "character."
        )
        error = PydanticCustomError("text_encoding", "Value error, {message}", {"message": message})
        errors.append(InitErrorDetails(type=error, loc=loc, input=text))
    return errors


def _texts(value: object, loc: _Loc) -> Iterator[tuple[_Loc, str, bool]]:
    """Every text in a body, with where it is and whether it is a field name."""
    if isinstance(value, str):
        yield loc, value, False
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str):
                yield loc, key, True
            yield from _texts(item, (*loc, str(key)))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _texts(item, (*loc, index))
