"""The notebook session ``%load_ext kling_nb`` made current (``active``): the latest one made
current is the one followed, and a session that ends clears it only while it is still the
current one (``unless``), so an older session's close never leaves the form without one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kling_nb.active import current_session, set_current
from kling_nb.session import KlingSettings, Session


@pytest.fixture(autouse=True)
def _current_restored() -> Iterator[None]:
    """Whatever these tests make current, the session current before is current after."""
    before = current_session()
    yield
    set_current(before)


def session(folder: Path) -> Session:
    return Session(KlingSettings(outputs_dir=str(folder)), out=lambda text: None)


def test_the_latest_session_made_current_is_the_current_one(tmp_path: Path) -> None:
    first, second = session(tmp_path), session(tmp_path)
    set_current(first)
    assert current_session() is first
    set_current(second)
    assert current_session() is second
    set_current(None)
    assert current_session() is None


def test_with_unless_the_current_session_changes_only_while_that_one_is_current(
    tmp_path: Path,
) -> None:
    first, second = session(tmp_path), session(tmp_path)
    set_current(second)
    set_current(None, unless=first)  # first is not current: nothing changes
    assert current_session() is second
    set_current(first, unless=second)
    assert current_session() is first
    set_current(None, unless=first)
    assert current_session() is None
    set_current(second, unless=first)  # none is current, so first is not: nothing changes
    assert current_session() is None


def test_closing_an_older_session_leaves_the_newer_one_current(tmp_path: Path) -> None:
    older, newer = session(tmp_path), session(tmp_path)
    older.activate()
    newer.activate()
    older.close()
    assert current_session() is newer
    newer.close()
    assert current_session() is None
