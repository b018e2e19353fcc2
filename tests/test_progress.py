"""%%kling --wait in a terminal: one progress line rewritten in place (status, elapsed, ETA)."""

from __future__ import annotations

import io
from pathlib import Path

from kling_nb.client import Client
from kling_nb.progress import clock, wait_with_progress
from kling_nb.requests import VideoRequest
from kling_nb.simulator import Simulator


def test_one_line_updates_in_place_until_the_job_ends(sim: Simulator, tmp_path: Path) -> None:
    request = VideoRequest(prompt="A lighthouse at dusk", duration=3)
    with Client(api_key="sk-test", base_url=sim.base_url, outputs_dir=tmp_path) as client:
        first = client.submit(request)
        out = io.StringIO()
        wait_with_progress(first, out, every=0.05)
        text = out.getvalue()
        assert text.startswith("\r") and text.endswith("\n") and text.count("\n") == 1
        updates = text.rstrip("\n").split("\r")[1:]
        assert updates[0].startswith(f"Job {first.id}: ") and "elapsed" in updates[0]
        assert "no estimate yet" in updates[0]  # nothing of this model and length finished yet
        assert updates[-1].strip().startswith(f"Job {first.id}: succeeded · ")
        assert "left" not in updates[-1] and "estimate" not in updates[-1]
        second = client.submit(request, force=True)
        out = io.StringIO()
        wait_with_progress(second, out, every=0.05)
        # The first take's time is the estimate now.
        assert "no estimate yet" not in out.getvalue().split("\r")[1]


def test_clock() -> None:
    assert clock(42.7) == "42s"
    assert clock(185) == "3m 05s"
