"""No second bill, no lost result: each case over real loopback HTTP to the simulator, with its
count of enqueue calls where money is at stake. (No hang: the time and size limits of a call and
of a download are ``Api``'s, in test_api.py.)"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import httpx
import pytest
from _core import submission, until
from _policies import FAST

from kling_nb import Client, VideoRequest
from kling_nb.errors import LedgerError
from kling_nb.simulator import Simulator, run
from kling_nb.store import Ledger

KEY = "sk-kling-FAKE-KEY-money-4242"


def request(text: str = "A heron lands on a misty lake") -> VideoRequest:
    return VideoRequest(prompt=text, duration=3)


# -- paid twice -------------------------------------------------------------------------------
def test_a_rerun_long_after_the_deadline_adopts_the_job_and_saves_its_result(
    tmp_path: Path,
) -> None:
    """The kernel died while its generation ran; the unchanged cell runs again after the
    deadline: nothing is sent, and the late result is saved."""
    with run(generation_seconds=2.0, keepalive_seconds=0.5) as sim:
        with Client(KEY, sim.base_url, tmp_path, policy=FAST) as c:
            first = c.submit(request())
            until(lambda: bool(first.generation_ids))
        # a new kernel, whose deadline has long passed for that job
        with Client(KEY, sim.base_url, tmp_path, policy=FAST, deadline_seconds=0.001) as c:
            again = c.submit(request())
            assert again.id == first.id
            assert again.wait(10).status == "timed_out"  # it stops waiting, never resends
            until(lambda: again.status == "succeeded")  # the late result is still saved
            assert again.results[0].path.is_file()
        assert sim.stats()["enqueue_calls"] == 1


def test_a_rerun_adopts_an_enqueue_whose_answer_a_killed_kernel_never_heard(
    sim: Simulator, tmp_path: Path
) -> None:
    req = request("A fox the dead kernel sent")
    Ledger(tmp_path).append(submission(req, "died-sending", 2, sim.base_url))
    sent = httpx.post(  # what that kernel's enqueue did on the server
        f"{sim.base_url}/api/ai/queue",
        json={**req.payload(), "num_generations": 2},
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert sent.status_code == 200
    with Client(KEY, sim.base_url, tmp_path, policy=FAST) as c:
        job = c.submit(req, 2)  # the unchanged cell, run again
        assert job.id == "died-sending"
        assert job.wait(30).status == "succeeded"
    assert sorted(job.generation_ids) == sorted(
        g["generation_id"] for g in sent.json()["generations"]
    )
    assert sim.stats()["enqueue_calls"] == 1


def test_an_uncertain_enqueue_is_never_resent_by_a_rerun_only_by_force(
    sim: Simulator, tmp_path: Path
) -> None:
    """A 502 on enqueue may have billed the job; if it is not found on the server, the job ends
    `error`, and running the same request again looks for it again instead of paying twice."""
    sim.set_faults(enqueue_errors=[502])
    with Client(KEY, sim.base_url, tmp_path, policy=FAST) as c:
        first = c.submit(request())
        assert first.wait(30).status == "error" and "may still have been" in (first.error or "")
        assert c.submit(request()) is first  # the same cell again, in the same kernel
    with Client(KEY, sim.base_url, tmp_path, policy=FAST) as c:  # after a restart
        again = c.submit(request())
        assert again.id == first.id and again.wait(30).status == "error"
        assert sim.stats()["enqueue_calls"] == 1
    with Client(KEY, sim.base_url, tmp_path, policy=FAST) as c:
        assert c.resume() == []  # resume() has looked already: no endless suggestions
        forced = c.submit(request(), force=True)
        assert forced.wait(30).status == "succeeded"
    assert sim.stats()["enqueue_calls"] == 2


def test_a_partly_failed_job_rerun_replays_its_success_and_sends_only_the_rest(
    sim: Simulator, tmp_path: Path
) -> None:
    with Client(KEY, sim.base_url, tmp_path, policy=FAST) as c:
        sim.set_faults(fail_next=1)
        first = c.submit(request(), 2).wait(30)
        assert first.status == "partial"
        good = next(g for g in first.generations if g.status == "succeeded")
        again = c.submit(request(), 2).wait(30)
        assert again.status == "succeeded"
        assert again.replayed_takes == 1
        replayed, kept = again.generations[0].result, good.result
        assert replayed is not None and kept is not None and replayed.path == kept.path
        assert first.estimated_cost is not None
        assert again.estimated_cost == pytest.approx(first.estimated_cost / 2)
        assert sim.stats()["enqueue_calls"] == 2
        queued = sim.stats()["generations_created"]
        assert queued == 3  # two takes, then only the missing one
        forced = c.submit(request(), 2, force=True).wait(30)
        assert forced.replayed_takes == 0 and sim.stats()["generations_created"] == 5
    # a fresh client reads it all back from the ledger: the three results replay as one job
    with Client(KEY, sim.base_url, tmp_path, policy=FAST) as c:
        assert c.submit(request(), 2).replayed


# -- wrong answers ----------------------------------------------------------------------------
def test_a_full_disk_at_submit_is_one_clear_error_and_nothing_is_sent(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*args: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Ledger, "_write", full)
    with Client(KEY, sim.base_url, tmp_path, policy=FAST) as c:
        with pytest.raises(LedgerError, match=r"No space left.*Nothing more was sent; free some"):
            c.submit(request())
        assert c.jobs == []
    assert sim.stats()["enqueue_calls"] == 0
