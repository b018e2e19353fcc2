"""The seed documents (copied verbatim into tests/seeds/) and what the tests extract from them.

Request bodies are read from the seeds' own examples at test time: the ``json={...}`` dicts of the
Python examples, the ``-d '{...}'`` bodies of the cURL examples and the ```` ```json ```` blocks
that hold a request. Tables are read as rows of cells.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kling_nb.requests import VideoRequest, validate_num_generations

SEEDS = Path(__file__).parent / "seeds"
O3_PRO_SEED = "003_fa447856f57a56a2.txt"
O3_4K_SEEDS = ("000_e36a9b4c95f5af8e.txt", "004_f969ce4bf9be29a1.txt")
ENDPOINTS = {"/api/ai/queue": "queue", "/api/ai/videos/generate": "sync"}


@dataclass(frozen=True)
class SeedExample:
    seed: str
    kind: str  # "python", "curl" or "json"
    endpoint: str | None  # "queue", "sync", or None for a bare JSON block
    body: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.seed[:3]}-{self.kind}-{self.endpoint}-{self.body.get('model', '?')[-8:]}"


def seed_text(name: str) -> str:
    return (SEEDS / name).read_text(encoding="utf-8")


def balanced_braces(text: str, start: int) -> str:
    """The ``{...}`` that opens at ``text[start]``, braces inside strings ignored."""
    depth, in_string, escaped = 0, False, False
    for i in range(start, len(text)):
        char = text[i]
        if in_string:
            escaped = char == "\\" and not escaped
            if char == '"' and not escaped:
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[start : i + 1]
    raise ValueError(f"unbalanced braces at {start}")


def _endpoint_before(text: str, position: int) -> str:
    found = [(text.rfind(path, 0, position), name) for path, name in ENDPOINTS.items()]
    index, name = max(found)
    assert index >= 0, "an example without an endpoint"
    return name


def python_dict(source: str) -> dict[str, Any]:
    # The 4K seed's "All parameters" examples write JSON's `false` inside Python.
    names = {"__builtins__": {}, "true": True, "false": False, "null": None}
    value = eval(source, names)  # the seeds' own literals
    assert isinstance(value, dict)
    return value


def request_examples(seed: str) -> list[SeedExample]:
    """Every request body in one seed, in document order."""
    text = seed_text(seed)
    found: list[tuple[int, SeedExample]] = []
    for match in re.finditer(r"json=\{", text):
        start = match.end() - 1
        body = python_dict(balanced_braces(text, start))
        found.append((start, SeedExample(seed, "python", _endpoint_before(text, start), body)))
    for match in re.finditer(r"-d '(\{.*?\})'", text, re.DOTALL):
        body = json.loads(match.group(1))
        endpoint = _endpoint_before(text, match.start())
        found.append((match.start(), SeedExample(seed, "curl", endpoint, body)))
    for match in re.finditer(r"```json[^\n]*\n(.*?)```", text, re.DOTALL):
        body = json.loads(match.group(1))
        if "model" in body and "videos" not in body:  # a request, not a response
            found.append((match.start(), SeedExample(seed, "json", None, body)))
    return [example for _, example in sorted(found, key=lambda item: item[0])]


def markdown_table(text: str, after: str) -> list[list[str]]:
    """The rows (cells stripped, header and rule dropped) of the first table after ``after``."""
    lines = text[text.index(after) :].splitlines()
    rows: list[list[str]] = []
    for line in lines[1:]:
        stripped = line.strip()
        if stripped.startswith("|"):
            rows.append([cell.strip() for cell in stripped.strip("|").split("|")])
        elif rows:
            break
    return [row for row in rows[1:] if not set("".join(row)) <= set("-: ")]


def from_queue_body(body: dict[str, Any]) -> tuple[VideoRequest, int]:
    """Split a ``POST /api/ai/queue`` body into its request and ``num_generations`` (default 1)."""
    rest = dict(body)
    count = validate_num_generations(rest.pop("num_generations", 1))
    return VideoRequest.model_validate(rest), count


def error_rows() -> list[tuple[str, str]]:
    """The O3 pro seed's Errors table: each error text (unquoted) and its cause."""
    rows = markdown_table(seed_text(O3_PRO_SEED), "## Errors")
    return [(error.strip("`"), cause) for error, cause, _fix in rows]
