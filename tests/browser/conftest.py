"""Fixtures for the browser tests: one JupyterLab and one Chromium for the session.

Chromium must be installed (``make system-deps``): without it these tests fail, in CI and
elsewhere, with what to do; they are never skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from harness import HarnessError, Lab, NotebookPage, chromium, jupyterlab, open_notebook
from playwright.sync_api import expect

# A kernel round trip on a loaded 2-core CI machine can take longer than Playwright's default
# 5 s; a passing expectation still returns as soon as it holds.
expect.set_options(timeout=30_000)


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A JupyterLab server serving a temporary folder."""
    try:
        with jupyterlab(tmp_path_factory.mktemp("lab")) as server:
            yield server
    except HarnessError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium; a missing one fails the run (never skipped)."""
    try:
        with chromium() as b:
            yield b
    except HarnessError as exc:
        pytest.fail(str(exc))


@pytest.fixture
def notebook(lab: Lab, browser: Any) -> Iterator[Callable[..., NotebookPage]]:
    """``notebook(name, cells)``: open a new notebook and run all its cells."""
    opened: list[NotebookPage] = []

    def opener(name: str, cells: list[str]) -> NotebookPage:
        page = open_notebook(lab, browser, name, cells)
        opened.append(page)
        return page

    yield opener
    for page in opened:
        page.page.context.close()
    lab.shutdown_kernels()
