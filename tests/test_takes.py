"""takes: the ledger as rows (kling_nb.history()), time estimates and billed amounts."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from _core import job_record

import kling_nb
from kling_nb.client import Client
from kling_nb.records import GenerationRecord, JobRecord
from kling_nb.requests import Shot, VideoRequest
from kling_nb.simulator import Simulator
from kling_nb.takes import (
    ETA_SAMPLES,
    billed,
    eta_text,
    fit_columns,
    typical_seconds,
)

O3 = "kling-video-o3-pro-reference-to-video"


def _ledger(sim: Simulator, folder: Path) -> list[Any]:
    with Client(api_key="sk-test", base_url=sim.base_url, outputs_dir=folder) as client:
        single = client.submit(VideoRequest(prompt="A lighthouse at dusk", duration=3))
        shots = [Shot(prompt="A cat wakes", duration=2), Shot(prompt="It yawns", duration=2)]
        multi = client.submit(VideoRequest(multi_prompt=shots), num_generations=2)
        return [single.wait(timeout=30), multi.wait(timeout=30)]


def test_history_is_a_data_frame_of_every_take_from_the_ledger_alone(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    single, multi = _ledger(sim, tmp_path / "out")  # the client is closed: the ledger alone
    monkeypatch.chdir(tmp_path)
    df = kling_nb.history(tmp_path / "out")
    assert list(df.job_id) == [single.id, multi.id, multi.id]
    assert list(df["take"]) == [1, 1, 2]
    assert set(df.model) == {"o3-pro"} and set(df.status) == {"succeeded"}
    assert list(df.seconds) == [3, 4, 4]
    assert list(df.cost) == pytest.approx([0.672, 0.896, 0.896])  # each take's share
    assert df.prompt.iloc[1] == "A cat wakes / It yawns"
    assert all(not p.startswith("/") and Path(p).is_file() for p in df.path)
    assert (df.took >= 0).all()
    assert df[df.seconds == 4].cost.sum() == pytest.approx(multi.estimated_cost)


def test_history_without_pandas_is_a_list_of_dicts(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    single, _ = _ledger(sim, tmp_path)
    monkeypatch.setitem(sys.modules, "pandas", None)
    rows = kling_nb.history(tmp_path)
    assert isinstance(rows, list) and len(rows) == 3
    assert rows[0]["job_id"] == single.id and rows[0]["status"] == "succeeded"


def _record(i: int, model: str, seconds: int, took: float, status: str = "succeeded") -> JobRecord:
    gen = GenerationRecord(
        job_id=f"j{i}",
        generation_id=f"g{i}",
        status=status,
        enqueued_at=1000.0 * i,
        completed_at=1000.0 * i + took,
    )
    return job_record(i, gen, {"prompt": "x", "duration": seconds}, model=model)


def test_the_estimate_is_the_median_of_the_latest_twenty_of_the_same_model_and_length() -> None:
    records = [_record(i, O3, 5, took=float(i)) for i in range(1, 26)]  # 1..25 s
    records += [_record(100 + i, O3, 10, took=500.0) for i in range(5)]  # another length
    records += [_record(200 + i, "other", 5, took=500.0) for i in range(5)]  # another model
    records += [_record(300, O3, 5, took=900.0, status="failed")]  # not a finished take
    assert ETA_SAMPLES == 20
    assert typical_seconds(records, O3, 5) == 15.5  # the median of 6..25
    assert typical_seconds(records, O3, 10) == 500.0
    assert typical_seconds(records, O3, 7) is None


def test_eta_text() -> None:
    assert eta_text(None, 3) == "no estimate yet"
    assert eta_text(95, 10) == "about 1m 25s left"
    assert eta_text(40, 10) == "about 30s left"
    assert eta_text(40, 45) == "any moment now"


def test_billed_counts_only_succeeded_takes() -> None:
    assert billed(4.48, 4, 4) == pytest.approx(4.48)
    assert billed(4.48, 4, 1) == pytest.approx(1.12)
    assert billed(4.48, 4, 0) == 0
    assert billed(None, 2, 1) is None


def test_fit_columns_shortens_only_the_flexible_column() -> None:
    rows = [["abc", "x" * 200, "end"]]
    text = fit_columns(["A", "PROMPT", "Z"], rows, flex=1, width=40)
    assert all(len(line) <= 40 for line in text.splitlines())
    assert text.splitlines()[1].startswith("abc  xxx") and text.endswith("…  end")
