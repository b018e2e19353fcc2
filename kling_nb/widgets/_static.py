"""Where the widgets' front-end files live.

In a source checkout (an editable install) they are the repository's ``js/`` folder; an installed
wheel carries the same files as ``kling_nb/_static/`` (pyproject force-includes ``js``).
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent
_CHECKOUT = _PACKAGE.parent


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
    lines = (line.strip() for line in static_file(name).read_text().splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("//"))
