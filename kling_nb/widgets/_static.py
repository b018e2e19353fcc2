"""Where the widgets' front-end files live, and the text of a widget's module.

In a source checkout (an editable install) they are the repository's ``js/`` folder; an installed
wheel carries the same files as ``kling_nb/_static/`` (pyproject force-includes ``js``).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["joined", "static_dir", "static_file"]

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
    """Path of one front-end file, e.g. ``static_file("kling.css")`` for an anywidget ``_css``."""
    return static_dir() / name


def joined(*names: str) -> str:
    """Front-end files one after the other, as they are.

    A widget's ESM is ``common.js`` (helpers both widgets use) followed by its own file: anywidget
    imports the ESM from a Blob URL, against which a relative ``import`` cannot resolve.
    """
    return "\n".join(static_file(name).read_text(encoding="utf-8") for name in names)
