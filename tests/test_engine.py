"""One client's background work, assembled (``engine``): a job sent from any thread runs through
the sender, tracker and journal to its end; the listener and poll loop start once; closing stops
them, writes what was recorded, closes HTTP and ends running jobs without recording it; a crash
ends a job as maybe queued; resumed jobs are tracked or looked for; cancels go where they must.
Module tests on a fake hub (``_core.engine``)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from _core import REQUEST, assert_saved, engine, on_loop, recorded_job, settled, statuses, until
from _hub import BASE, Hub

from kling_nb.engine import Engine
from kling_nb.jobs import Job
from kling_nb.store import Ledger


class Loops:
    """Stand-ins for the event listener and the poll loop: each notes that it started, then
    waits until it is cancelled, noting that too and whether the client was closing by then."""

    def __init__(self, eng: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
        self.api = eng.api
        self.started: list[str] = []
        self.cancelled: list[tuple[str, bool]] = []
        monkeypatch.setattr(eng.tracker.listener, "run", lambda: self._wait("listener"))
        monkeypatch.setattr(eng.tracker, "poll_loop", lambda: self._wait("poll"))

    async def _wait(self, name: str) -> None:
        self.started.append(name)
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.append((name, self.api.closing))
            raise


def deletes(hub: Hub) -> Callable[[httpx.Request], httpx.Response]:
    """``hub``, also answering ``DELETE /api/ai/queue/<id>`` (a cancel)."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            hub.requests.append(request)
            return httpx.Response(200, json={"status": "cancelled"})
        return hub(request)

    return handler


def cancels(hub: Hub) -> list[str]:
    return [r.url.path.rsplit("/", 1)[1] for r in hub.requests if r.method == "DELETE"]


# ----- assembled, started once -----


def test_a_job_sent_from_another_thread_runs_through_the_assembled_parts_to_a_saved_file(
    hub: Hub, tmp_path: Path
) -> None:
    with engine(tmp_path, hub) as eng:
        job = recorded_job(eng.journal.ledger)
        eng.send(job, {**REQUEST.payload(), "num_generations": 1}, None)  # from this thread
        assert job.wait(30).status == "succeeded"
        assert_saved(job)
        assert statuses(tmp_path, job.id) == ["succeeded"]
        assert len(hub.sent("POST", "/api/ai/queue")) == 1


def test_the_listener_and_the_poll_loop_start_once_however_often_start_is_called(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with engine(tmp_path, hub) as eng:
        loops = Loops(eng, monkeypatch)
        assert loops.started == []  # nothing runs until started
        on_loop(eng, eng.start)
        on_loop(eng, eng.start)
        until(lambda: len(loops.started) >= 2)
        settled(eng, asyncio.sleep(0))  # any further task would have started by now
        assert sorted(loops.started) == ["listener", "poll"]


# ----- closing -----


def test_closing_cancels_the_loops_and_closes_the_http_client(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with engine(tmp_path, hub) as eng:
        loops = Loops(eng, monkeypatch)
        on_loop(eng, eng.start)
        until(lambda: len(loops.started) == 2)
        settled(eng, eng.aclose([]))
        # Closing already as they stop: what the tracker and downloads read (record no failure).
        assert sorted(loops.cancelled) == [("listener", True), ("poll", True)]
        assert eng.api.client.is_closed


def test_every_background_task_has_stopped_before_the_http_client_closes(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request still connecting as its pool closes would finish on a connection the pool
    no longer knows: a socket nobody closes. So sends and downloads stop first, not after."""
    asked = threading.Event()

    async def never_answers(request: httpx.Request) -> httpx.Response:
        asked.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    with engine(tmp_path, never_answers) as eng:
        call = on_loop(
            eng, lambda: eng.runtime.spawn(eng.api.request("GET", "/api/ai/models", safety="safe"))
        )
        assert asked.wait(10)
        real_close = eng.api.aclose
        in_flight_at_close: list[bool] = []

        async def close() -> None:
            in_flight_at_close.append(not call.done())
            await real_close()

        monkeypatch.setattr(eng.api, "aclose", close)
        settled(eng, eng.aclose([]))
        assert in_flight_at_close == [False]
        assert call.cancelled()


def test_what_was_recorded_is_written_before_the_http_client_closes(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with engine(tmp_path, hub) as eng:
        job = recorded_job(eng.journal.ledger)
        real_close = eng.api.aclose
        written_at_close: list[list[str]] = []

        async def close() -> None:
            written_at_close.append(statuses(tmp_path, job.id))
            await real_close()

        monkeypatch.setattr(eng.api, "aclose", close)

        async def record_then_close() -> None:
            eng.journal.write(job, job.set(job.generations[0], "failed", error="boom"))
            await eng.aclose([])  # in the same loop turn as the change

        eng.runtime.run(record_then_close())
        assert written_at_close == [["failed"]]


def test_closing_ends_running_jobs_with_how_to_resume_and_records_none_of_it(
    hub: Hub, tmp_path: Path
) -> None:
    with engine(tmp_path, hub) as eng:
        ledger = eng.journal.ledger
        running, ended = recorded_job(ledger, job_id="run"), recorded_job(ledger, job_id="end")
        on_loop(eng, lambda: eng.journal.write(ended, ended.set(ended.generations[0], "failed")))
        seen: list[str] = []
        running.observe(lambda job: seen.append(job.status))
        before = ledger.path.read_text()
        settled(eng, eng.aclose([running, ended]))
        assert running.wait(0).status == "error" and seen == ["error"]
        assert running.error is not None
        assert "job run was running" in running.error and "resume()" in running.error
        assert (ended.status, ended.error) == ("failed", None)
        assert ledger.path.read_text() == before  # to the ledger it still runs...
        assert [r.job_id for r in Ledger(tmp_path).pending(base_url=BASE)] == [
            "run"
        ]  # ...resumable


# ----- a crash, resuming, cancelling -----


def test_a_crash_while_running_a_job_ends_it_as_maybe_queued(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It may have crashed after the enqueue reached the server: a re-run must look for it
    rather than pay again."""
    with engine(tmp_path, hub) as eng:

        async def crash(job: Job, payload: dict[str, Any], slot: object) -> None:
            raise RuntimeError("unexpected bug")

        monkeypatch.setattr(eng.sender, "run_job", crash)
        job = recorded_job(eng.journal.ledger)
        eng.send(job, REQUEST.payload(), None)
        assert job.wait(30).status == "error"
        assert job.error is not None
        assert job.error.startswith(
            f"Internal error while running job {job.id}: RuntimeError: unexpected bug."
        )
        record = Ledger(tmp_path).jobs()[job.id]
        assert (record.status, record.uncertain) == ("error", True)


def test_resumed_jobs_are_tracked_or_looked_for_with_their_unsent_takes_only(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with engine(tmp_path, hub) as eng:
        loops = Loops(eng, monkeypatch)
        tracked: list[Job] = []
        looked_for: list[tuple[Job, dict[str, Any]]] = []

        async def adopt_unsent(job: Job, payload: dict[str, Any]) -> None:
            looked_for.append((job, payload))

        monkeypatch.setattr(eng.tracker, "track_existing", tracked.append)
        monkeypatch.setattr(eng.sender, "adopt_unsent", adopt_unsent)
        sent, unsent = Job(REQUEST, 1, job_id="sent"), Job(REQUEST, 3, job_id="unsent")
        unsent.generations[0].id, unsent.generations[0].status = "g0", "queued"
        settled(eng, eng.reattach([sent, unsent], {"unsent"}))
        until(lambda: len(looked_for) == 1)
        assert tracked == [sent]
        assert looked_for == [(unsent, {**REQUEST.payload(), "num_generations": 2})]
        until(lambda: len(loops.started) == 2)  # and the engine was started


def test_cancelling_a_job_never_sent_ends_it_at_once_without_asking_the_server(
    hub: Hub, tmp_path: Path
) -> None:
    with engine(tmp_path, deletes(hub)) as eng:
        first, second = (recorded_job(eng.journal.ledger, job_id=i) for i in ("a", "b"))
        settled(eng, eng.cancel_jobs([first, second]))
        assert (first.status, second.status) == ("cancelled", "cancelled")
        assert statuses(tmp_path, "a") == statuses(tmp_path, "b") == ["cancelled"]
        assert cancels(hub) == []


def test_cancelling_a_job_whose_enqueue_is_in_flight_leaves_it_to_end_on_the_server(
    hub: Hub, tmp_path: Path
) -> None:
    """Its generations may be queued (and billed) already: it is cancelled once their ids come,
    never marked cancelled before."""
    with engine(tmp_path, deletes(hub)) as eng:
        job = recorded_job(eng.journal.ledger)
        eng.sender.sending.add(job.id)
        settled(eng, eng.cancel(job))
        assert job.cancel_requested and not job.done
        assert statuses(tmp_path, job.id) == ["pending"]


def test_cancelling_one_take_asks_the_server_only_once_it_has_an_id(
    hub: Hub, tmp_path: Path
) -> None:
    with engine(tmp_path, deletes(hub)) as eng:
        job = recorded_job(eng.journal.ledger, 2)
        job.generations[1].id = "g1"
        settled(eng, eng.cancel(job, 0))  # not sent yet: the whole job's cancel covers it
        assert cancels(hub) == [] and not job.cancel_requested
        settled(eng, eng.cancel(job, 1))
        assert cancels(hub) == ["g1"] and not job.cancel_requested
