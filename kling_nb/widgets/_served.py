"""Where the Jupyter server that started this kernel serves a file, for its ``files/`` handler.

A local Jupyter server (JupyterLab, Notebook 7) starts its kernels as child processes and
describes itself in ``jpserver-<pid>.json`` in the Jupyter runtime folder, with its ``root_dir``.
A file under that root is served at ``<base_url>files/<path relative to the root>``, with HTTP
range requests. The front end adds the base URL it sees (a proxy may change it) and checks that the
URL loads before relying on it; anywhere else (VS Code, a remote kernel) there is no such file and
the view asks the kernel for the bytes instead.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

__all__ = ["served_path"]


@functools.cache
def _server_root() -> Path | None:
    try:
        from jupyter_core.paths import jupyter_runtime_dir

        info = Path(jupyter_runtime_dir()) / f"jpserver-{os.getppid()}.json"
        root = json.loads(info.read_text(encoding="utf-8")).get("root_dir")
    except (ImportError, OSError, ValueError):
        return None
    return Path(root).expanduser().resolve() if isinstance(root, str) and root else None


def served_path(path: Path) -> str:
    """``path`` relative to the parent Jupyter server's root ("/"-separated), or "" if it is not
    served: no such server, outside its root, or hidden (the server refuses hidden files)."""
    root = _server_root()
    if root is None:
        return ""
    try:
        parts = path.resolve().relative_to(root).parts
    except ValueError:
        return ""
    if not parts or any(part.startswith(".") for part in parts):
        return ""
    return "/".join(parts)
