"""Batches and budgets: a batch over budget is refused whole, before any network call."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kling_nb.client import Client
from kling_nb.errors import BudgetExceededError
from kling_nb.requests import VideoRequest, estimate_cost
from kling_nb.simulator import Simulator

SUBJECTS = ["a red fox", "a snow owl", "a grey wolf", "a brown bear", "a white hare", "a lynx"]


def batch() -> list[VideoRequest]:
    return [VideoRequest(prompt=f"{s} walks through a winter forest", duration=3) for s in SUBJECTS]


def test_a_batch_over_budget_is_refused_whole_and_sends_nothing(
    sim: Simulator, tmp_path: Path
) -> None:
    requests = batch()
    each = estimate_cost(requests[0])
    assert each is not None
    with Client("sk-test", sim.base_url, tmp_path, budget_usd=each * 4.5) as client:
        with pytest.raises(BudgetExceededError) as refused:
            client.submit_many(requests, max_in_flight=2)
        message = str(refused.value)
        assert "6 new submissions" in message and "The first 4 fit" in message
        assert client.jobs == [] and client.spent_usd == 0
        assert sim.stats()["enqueue_calls"] == 0

        jobs = client.submit_many(requests[:4], max_in_flight=2)
        assert [job.wait(timeout=60).status for job in jobs] == ["succeeded"] * 4
        assert sim.stats()["enqueue_calls"] == 4
        assert client.spent_usd == pytest.approx(each * 4)


def test_replayed_requests_cost_nothing_against_the_budget(sim: Simulator, tmp_path: Path) -> None:
    requests = batch()[:3]
    each = estimate_cost(requests[0])
    assert each is not None
    with Client("sk-test", sim.base_url, tmp_path) as client:
        for job in client.submit_many(requests):
            job.wait(timeout=60)
    with Client("sk-test", sim.base_url, tmp_path, budget_usd=each * 1.5) as client:
        # three recorded results replay, one new request fits the budget
        jobs = client.submit_many([*requests, batch()[3]])
        assert [job.replayed for job in jobs] == [True, True, True, False]
        assert jobs[-1].wait(timeout=60).status == "succeeded"
    assert sim.stats()["enqueue_calls"] == 4


def test_an_invalid_request_in_a_batch_stops_it_before_anything_is_sent(
    sim: Simulator, tmp_path: Path
) -> None:
    bad = {"model": "o3-pro", "prompt": "x", "duration": 2}
    with Client("sk-test", sim.base_url, tmp_path) as client:
        with pytest.raises(ValueError, match="duration value '2' is invalid"):
            client.submit_many([*batch()[:2], bad])
        assert client.jobs == []
    assert sim.stats()["enqueue_calls"] == 0


def test_a_submitted_jobs_view_cancels_a_single_take_on_the_server(
    sim: Simulator, tmp_path: Path
) -> None:
    from kling_nb.widgets import JobView

    sim.set_faults(stuck=True)
    with Client("sk-test", sim.base_url, tmp_path) as client:
        job = client.submit(VideoRequest(prompt="a lynx", duration=3), num_generations=2)
        view = JobView(job)  # as %%kling shows it: no client passed
        assert view.can_cancel_one
        deadline = time.monotonic() + 30
        while job.generations[0].status not in ("queued", "processing"):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        view._on_msg(view, {"kind": "cancel", "index": 0}, [])  # the take's Cancel button
        deadline = time.monotonic() + 30
        while job.generations[0].status != "cancelled":
            assert time.monotonic() < deadline, job.generations[0]
            time.sleep(0.02)
        assert sim.stats()["cancels"] == 1
        assert job.generations[1].status in ("queued", "processing")  # the other take runs on
        job.cancel()
        assert job.wait(timeout=30).status == "cancelled"


def test_a_budget_already_passed_says_nothing_is_left_not_a_negative_sum(
    sim: Simulator, tmp_path: Path
) -> None:
    with Client("sk-test", sim.base_url, tmp_path, budget_usd=1.0) as client:
        client.submit(VideoRequest(prompt="a fox", duration=3)).wait(timeout=60)
        client.budget_usd = 0.5  # lowered below what was spent
        with pytest.raises(BudgetExceededError) as refused:
            client.submit(VideoRequest(prompt="an owl", duration=3))
        assert "$0.00 left" in str(refused.value) and "-" not in str(refused.value).split("left")[0]
        with pytest.raises(BudgetExceededError, match=r"more than the \$0\.00 left"):
            client.submit_many([VideoRequest(prompt="a hare", duration=3)])
    assert sim.stats()["enqueue_calls"] == 1
