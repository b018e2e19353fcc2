"""Notebook widgets: :class:`JobView` (a live job) and :class:`RequestForm` (a request builder)."""

from __future__ import annotations

from kling_nb.widgets.job_view import JobView
from kling_nb.widgets.request_form import RequestForm

__all__ = ["JobView", "RequestForm"]
