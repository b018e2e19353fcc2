"""Where the widgets' front-end files live.

In a source checkout (an editable install) they are the repository's ``js/`` folder; an installed
wheel carries the same files as ``kling_nb/_static/`` (pyproject force-includes ``js``).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent
_CHECKOUT = _PACKAGE.parent
_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_CSS_SPACE = re.compile(r"\s*([{};,>])\s*")  # not ":", which may start a pseudo-class
# The ESM of a packed widget: unzip the CSS and the module, add the CSS to the page once, and
# re-export the module's default. import() waits for this top-level await.
_LOADER = """const z = "{packed}";
const id = "kling-nb-css-{digest}";
const bytes = Uint8Array.from(atob(z), (c) => c.charCodeAt(0));
const unzip = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
const [css, js] = (await new Response(unzip).text()).split("\\u0000");
if (!document.getElementById(id)) {{
const style = document.createElement("style");
style.id = id;
style.textContent = css;
document.head.append(style);
}}
const url = URL.createObjectURL(new Blob([js], {{ type: "text/javascript" }}));
let mod;
try {{ mod = await import(url); }} finally {{ URL.revokeObjectURL(url); }}
export default mod.default;"""


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


def widget_module(name: str, parts: Sequence[str] = ()) -> str:
    """A widget's ESM: the shared helpers of ``common.js``, then ``parts`` (helper files of this
    widget alone), then ``name``, compacted."""
    return "\n".join(compact_text(part) for part in ("common.js", *parts, name))


def packed_module(name: str, css: Sequence[str], parts: Sequence[str] = ()) -> str:
    """A widget's ESM with its CSS, gzipped and base64-encoded behind a small loader.

    Every saved widget carries its ESM (and CSS) in the notebook's widget state; packed they take
    under half the room (about 5 KB instead of 10.6 KB for a JobView). The loader needs
    ``DecompressionStream`` (Chromium 80, Firefox 113, Safari 16.4) and adds the CSS to the
    document itself, so the widget sets no ``_css``.
    """
    style = "\n".join(compact_text(part) for part in css)
    source = f"{style}\0{widget_module(name, parts)}".encode()
    packed = base64.b64encode(gzip.compress(source, compresslevel=9, mtime=0)).decode()
    digest = hashlib.sha256(style.encode()).hexdigest()[:12]
    return _LOADER.format(packed=packed, digest=digest)


def unpack_module(esm: str) -> tuple[str, str]:
    """``(css, module)`` back from :func:`packed_module`'s output (for tests and debugging)."""
    match = re.search(r'const z = "([A-Za-z0-9+/=]+)";', esm)
    if match is None:
        raise ValueError("not a packed kling_nb module")
    css, _, module = gzip.decompress(base64.b64decode(match.group(1))).decode().partition("\0")
    return css, module
