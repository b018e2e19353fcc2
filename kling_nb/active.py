"""The notebook session ``%load_ext kling_nb`` made current: what the form, the gallery and
``kling_nb.history()`` follow (a module of its own, so that they need not import the session)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kling_nb.session import Session

__all__ = ["current_session", "set_current"]

_active: Session | None = None


def current_session() -> Session | None:
    """The session of the loaded ``%load_ext kling_nb`` (the latest one; None once unloaded)."""
    return _active


def set_current(session: Session | None, *, unless: Session | None = None) -> None:
    """Make ``session`` current; with ``unless``, only while ``unless`` is the current one."""
    global _active
    if unless is None or _active is unless:
        _active = session
