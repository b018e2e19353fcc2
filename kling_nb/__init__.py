"""kling_nb: generate Kling videos from Jupyter notebooks through the Oxen.ai inference API."""

from __future__ import annotations

from kling_nb._version import __version__

__all__ = ["__version__"]
