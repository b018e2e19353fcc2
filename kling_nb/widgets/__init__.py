"""Notebook widgets: :class:`JobView` (a live job), :class:`RequestForm` (a request builder) and
:class:`Gallery` (the saved results, to compare takes)."""

from __future__ import annotations

from kling_nb.widgets.gallery import Gallery
from kling_nb.widgets.job_view import JobView
from kling_nb.widgets.request_form import RequestForm

__all__ = ["Gallery", "JobView", "RequestForm"]
