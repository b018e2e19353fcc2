"""Where the widgets' front-end files live.

In a source checkout (an editable install) they are the repository's ``js/`` folder; an installed
wheel carries the same files as ``kling_nb/_static/`` (pyproject force-includes ``js``).
"""

from __future__ import annotations

import re
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent
_CHECKOUT = _PACKAGE.parent
_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_CSS_SPACE = re.compile(r"\s*([{};,>])\s*")  # not ":", which may start a pseudo-class


def static_dir() -> Path:
    """The folder holding ``job.js``, ``form.js`` and ``kling.css``."""
    source = _CHECKOUT / "js"
    if (_CHECKOUT / "pyproject.toml").is_file() and (source / "job.js").is_file():
        return source
    installed = _PACKAGE / "_static"
    if (installed / "job.js").is_file():
        return installed
    raise FileNotFoundError(
        f"kling_nb's front-end files are missing (looked in {source} and {installed}); "
        "reinstall the package: pip install --force-reinstall kling-nb"
    )


def static_file(name: str) -> Path:
    """Path of one front-end file, e.g. ``static_file("job.js")``."""
    return static_dir() / name


def compact_text(name: str) -> str:
    """A front-end file without indentation, blank lines or whole-line ``//`` comments.

    Every saved widget carries its ``_esm`` and ``_css`` in the notebook's widget state, so they
    are kept small. (No line of our files continues a string or template literal.)
    """
    text = static_file(name).read_text()
    if name.endswith(".css"):
        text = _CSS_SPACE.sub(r"\1", _CSS_COMMENT.sub("", text))
    lines = (line.strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("//"))


def widget_module(name: str) -> str:
    """A widget's ESM: the shared helpers of ``common.js`` followed by ``name``, compacted."""
    return compact_text("common.js") + "\n" + compact_text(name)
