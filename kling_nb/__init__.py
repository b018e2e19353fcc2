"""kling_nb: generate Kling videos from Jupyter notebooks through the Oxen.ai inference API.

Load the notebook extension with ``%load_ext kling_nb`` and write a ``%%kling`` cell, or use the
Python API::

    import kling_nb
    with kling_nb.Client() as client:
        job = client.submit(kling_nb.VideoRequest(prompt="A puppy runs through a park"))
        job.wait()

Public names are imported on first use, so ``import kling_nb`` stays cheap and never imports
the widgets or the simulator.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from kling_nb._version import __version__

# Nothing reaches stderr (and so a random cell) from background threads unless the user
# configures logging.
logging.getLogger("kling_nb").addHandler(logging.NullHandler())

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

    from kling_nb.catalog import ModelSpec, get_model, list_models
    from kling_nb.client import Client
    from kling_nb.errors import KlingError
    from kling_nb.jobs import Generation, Job, Result
    from kling_nb.requests import Element, Shot, VideoRequest, estimate_cost
    from kling_nb.takes import history
    from kling_nb.widgets import JobView, RequestForm
    from kling_nb.widgets.gallery import gallery

_LAZY: dict[str, str] = {
    "Client": "kling_nb.client",
    "Element": "kling_nb.requests",
    "Generation": "kling_nb.jobs",
    "Job": "kling_nb.jobs",
    "JobView": "kling_nb.widgets",
    "KlingError": "kling_nb.errors",
    "ModelSpec": "kling_nb.catalog",
    "RequestForm": "kling_nb.widgets",
    "Result": "kling_nb.jobs",
    "Shot": "kling_nb.requests",
    "VideoRequest": "kling_nb.requests",
    "estimate_cost": "kling_nb.requests",
    "gallery": "kling_nb.widgets.gallery",
    "history": "kling_nb.takes",
    "get_model": "kling_nb.catalog",
    "list_models": "kling_nb.catalog",
}

__all__ = [
    "Client",
    "Element",
    "Generation",
    "Job",
    "JobView",
    "KlingError",
    "ModelSpec",
    "RequestForm",
    "Result",
    "Shot",
    "VideoRequest",
    "__version__",
    "estimate_cost",
    "gallery",
    "get_model",
    "history",
    "list_models",
    "load_ipython_extension",
    "unload_ipython_extension",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kling_nb' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


def load_ipython_extension(ipython: InteractiveShell) -> None:
    """``%load_ext kling_nb``: register the magics and nothing else (no output, network, thread)."""
    from kling_nb.magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: InteractiveShell) -> None:
    from kling_nb.magics import unload_ipython_extension as unload

    unload(ipython)
