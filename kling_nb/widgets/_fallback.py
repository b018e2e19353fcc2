"""The static part of a JobView's output, for viewers without a kernel (GitHub, nbviewer, HTML).

Every piece of user or server text is escaped; URLs never appear as links, only the local path.
"""

from __future__ import annotations

import html
import urllib.parse
from pathlib import PurePath
from typing import Any

_TERMINAL = {"succeeded", "partial", "failed", "cancelled", "timed_out", "error"}


def _size(n: object) -> str:
    if not isinstance(n, int):
        return ""
    return f"{n / 1_000_000:.1f} MB" if n >= 100_000 else f"{n / 1000:.0f} KB"


def render_text(state: dict[str, Any]) -> str:
    """A few plain lines: what was asked, where it stands, where the files are."""
    badges = "".join(f" [{name}]" for name in ("replayed", "simulated") if state.get(name))
    lines = [
        f"Kling job {state['status']}{badges}: {state['model']} · {state['cost']}",
        f"  {state['summary']}",
    ]
    if state.get("error"):
        lines.append(f"  error: {state['error']}")
    for g in state["generations"]:
        where = g["path"] or g["error"] or ""
        lines.append(f"  take {g['index'] + 1}: {g['status']} {where}".rstrip())
    return "\n".join(lines)


def _generation_html(g: dict[str, Any]) -> str:
    e = html.escape
    parts = [f"<b>Take {g['index'] + 1}</b>: {e(g['status'])}"]
    if g.get("error"):
        parts.append(f"<div>{e(g['error'])}</div>")
    if g.get("path"):
        # The file beside the page (the path is relative to the kernel's folder, where an export
        # is written); the poster shows where the file cannot load (GitHub, nbviewer, VS Code).
        src = urllib.parse.quote(PurePath(g["path"]).as_posix())
        poster = g.get("poster") or ""
        poster = f' poster="{e(poster)}"' if poster.startswith("data:image/jpeg;base64,") else ""
        label = f"take {g['index'] + 1}"
        parts.append(
            f'<div><video src="{e(src)}"{poster} controls preload="none" width="320" '
            f'aria-label="{label}"></video></div>'
        )
        facts = [e(g["path"]), _size(g.get("size"))]
        if g.get("duration"):
            facts.append(f"{g['duration']:.1f} s")
        parts.append(f"<div><code>{' · '.join(f for f in facts if f)}</code></div>")
        parts.append(f"<div>sha256 <code>{e(g['sha256'])}</code></div>")
    if g.get("id"):
        parts.append(f"<div>generation <code>{e(g['id'])}</code></div>")
    return '<div style="margin:4px 0 8px">' + "".join(parts) + "</div>"


def render_html(state: dict[str, Any]) -> str:
    """Request summary, status, provenance and, per finished take, a <video> of its file with
    its poster frame."""
    e = html.escape
    badges = "".join(
        f" <small>[{name}]</small>" for name in ("replayed", "simulated") if state.get(name)
    )
    note = "" if state["status"] in _TERMINAL else " (live view needs a running kernel)"
    rows = [
        f"<div><b>Kling</b> · {e(state['model'])} · {e(state['cost'])}{badges}</div>",
        f"<div>{e(state['summary'])}</div>",
        f"<div>Status: <b>{e(state['status'])}</b>{e(note)}</div>",
        f"<div>Request <code>{e(state['request_hash'])}</code></div>",
    ]
    if state.get("error"):
        rows.append(f"<div>{e(state['error'])}</div>")
    rows.extend(_generation_html(g) for g in state["generations"])
    return '<div class="kling-static">' + "".join(rows) + "</div>"
