"""Shared fixtures: ``sim``, a fresh local Oxen.ai simulator for each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kling_nb.simulator import Simulator, run


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """A running simulator: generations take 0.2 s, keep-alives every 0.5 s, any key accepted."""
    with run(generation_seconds=0.2, keepalive_seconds=0.5) as simulator:
        yield simulator
