"""Tracking generations until they are final: completion events (early, duplicated, foreign,
confirmed), reconcile passes and polls, deadlines, cancels, and the rounds a result that could
not be saved goes through. Module tests drive a ``Tracker`` on a fake hub; the rest run a client
against the simulator over loopback."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
from _core import assert_saved, engine, on_loop, recorded_job, request, settled, statuses
from _hub import BASE, KEY, VIDEO, Hub
from _policies import FAST

from kling_nb.client import Client
from kling_nb.simulator import Simulator, run
from kling_nb.tracking import row_id, rows

BODY = {"model": "o3-pro", "prompt": "a red fox in the snow", "duration": 3}
# One transfer per download round and a fast safety poll, so the save rounds show within a test.
ONE_TRANSFER = replace(FAST, safety_poll_interval=0.3, download_attempts=1)


def queue_row(gid: str, status: str = "queued", **more: Any) -> dict[str, Any]:
    return {"generation_id": gid, "status": status, **more}


# -- the module's own rules, on a fake hub ----------------------------------------------------
def test_rows_and_ids_are_read_from_any_answer_shape() -> None:
    row = queue_row("g1")
    assert rows({"generations": [row, "junk"]}) == [row]
    assert rows({"data": [row]}) == [row]
    assert rows([row, 3]) == [row]
    assert rows(None) == rows({"generations": None}) == rows("text") == []
    assert row_id({"generation_id": "g1", "id": "other"}) == "g1"
    assert row_id({"id": "g2"}) == "g2"
    assert row_id({"id": 7}) is None


def test_fewer_generations_than_asked_fail_the_rest(hub: Hub, tmp_path: Path) -> None:
    with engine(tmp_path, hub) as eng:
        job = recorded_job(eng.journal.ledger, 3)
        on_loop(eng, lambda: eng.tracker.attach(job, [queue_row("g1", enqueued_at=123.0)]))
        first, *rest = job.generations
        assert (first.id, first.status, first.enqueued_at) == ("g1", "queued", 123.0)
        assert set(eng.tracker.tracked) == {"g1"}
        assert [g.error for g in rest] == ["the server created fewer generations than asked"] * 2
        assert statuses(tmp_path, job.id) == ["queued", "failed", "failed"]


def test_a_success_without_a_result_url_is_asked_again_then_kept_for_resume(
    hub: Hub, tmp_path: Path
) -> None:
    # Paid for: never final as "failed" while a later answer (or resume()) may give the URL.
    with engine(tmp_path, hub) as eng:
        job = recorded_job(eng.journal.ledger)
        on_loop(eng, lambda: eng.tracker.attach(job, [queue_row("g1")]))
        changed = on_loop(eng, lambda: eng.tracker.apply("g1", queue_row("g1", "succeeded")))
        assert changed == 1
        gen = job.generations[0]
        assert gen.status == "downloading" and "g1" in eng.tracker.tracked
        assert "without a result URL" in (gen.error or "")
        for _ in range(2):  # the next polls answer the same
            on_loop(eng, lambda: eng.tracker.apply("g1", queue_row("g1", "succeeded")))
        assert gen.status == "failed" and "Client().resume()" in (gen.error or "")
        assert "g1" not in eng.tracker.tracked
        assert statuses(tmp_path, job.id) == ["save_failed"]
        assert eng.journal.ledger.jobs()[job.id].generations[0].status == "save_failed"


def test_a_success_without_a_result_url_then_with_one_is_saved(hub: Hub, tmp_path: Path) -> None:
    with engine(tmp_path, hub) as eng:
        job = recorded_job(eng.journal.ledger)
        on_loop(eng, lambda: eng.tracker.attach(job, [queue_row("g1")]))
        on_loop(eng, lambda: eng.tracker.apply("g1", queue_row("g1", "succeeded")))
        row = {**queue_row("g1", "succeeded"), "result_url": hub.result_url}
        on_loop(eng, lambda: eng.tracker.apply("g1", row))
        assert job.wait(10).status == "succeeded"
        assert statuses(tmp_path, job.id) == ["succeeded"]


def test_an_answer_that_changes_nothing_records_nothing(hub: Hub, tmp_path: Path) -> None:
    with engine(tmp_path, hub) as eng:
        job = recorded_job(eng.journal.ledger)
        on_loop(eng, lambda: eng.tracker.attach(job, [queue_row("g1")]))
        lines = eng.journal.ledger.path.read_text()
        assert on_loop(eng, lambda: eng.tracker.apply("g1", queue_row("g1"))) == 0
        assert on_loop(eng, lambda: eng.tracker.apply("unknown", queue_row("unknown"))) == 0
        assert eng.journal.ledger.path.read_text() == lines
        row = queue_row("g1", "processing", started_at=200.0)
        assert on_loop(eng, lambda: eng.tracker.apply("g1", row)) == 1
        assert job.generations[0].started_at == 200.0
        assert statuses(tmp_path, job.id) == ["processing"]


def test_a_reconnected_stream_reconciles_what_it_may_have_missed(hub: Hub, tmp_path: Path) -> None:
    with engine(tmp_path, hub) as eng:
        on_loop(eng, eng.tracker.on_connect)  # nothing tracked: nothing to ask
        assert hub.requests == []
        job = recorded_job(eng.journal.ledger)
        on_loop(eng, lambda: eng.tracker.attach(job, [queue_row("g1")]))
        on_loop(eng, eng.tracker.on_connect)  # the hub's row says it succeeded meanwhile
        assert job.wait(10).status == "succeeded"
    assert hub.sent("GET", "/api/ai/queue") and hub.sent("GET", "/api/ai/queue/g1")


def test_a_generation_the_server_no_longer_knows_fails(hub: Hub, tmp_path: Path) -> None:
    def forgotten(r: httpx.Request) -> httpx.Response:
        if r.url.path == "/api/ai/queue/g1":
            return httpx.Response(404, json={"error": {"title": "not found"}})
        return hub(r)

    with engine(tmp_path, forgotten) as eng:
        job = recorded_job(eng.journal.ledger)
        on_loop(eng, lambda: eng.tracker.attach(job, [queue_row("g1")]))
        assert settled(eng, eng.tracker.reconcile()) == 1  # not listed: asked for by id
        assert job.generations[0].status == "failed"
        assert job.generations[0].error == "the server no longer knows this id"


def test_the_deadline_times_out_what_still_runs_and_a_late_success_is_saved(
    hub: Hub, tmp_path: Path
) -> None:
    with engine(tmp_path, hub) as eng:
        job = recorded_job(eng.journal.ledger, 2)
        rows_ = [queue_row("g1"), queue_row("g2", "failed", error_message="no credits")]
        on_loop(eng, lambda: eng.tracker.attach(job, rows_))
        on_loop(eng, lambda: eng.tracker.deadline(job))
        late, failed = job.generations
        assert (late.status, failed.status) == ("timed_out", "failed")
        assert failed.error == "no credits"
        assert job.error is not None and "30-minute deadline" in job.error
        assert f"%kling cancel {job.id}" in job.error
        assert statuses(tmp_path, job.id) == ["timed_out", "failed"]
        assert "g1" in eng.tracker.tracked  # still followed
        saved = threading.Event()
        job.observe(lambda j: late.result is not None and saved.set())
        on_loop(eng, lambda: eng.tracker.on_event({"generation_id": "g1", "status": "succeeded"}))
        assert saved.wait(10)
        assert late.status == "succeeded"
        assert late.result is not None and late.result.path.read_bytes() == VIDEO
        assert statuses(tmp_path, job.id) == ["succeeded", "failed"]


def test_a_generation_that_ended_before_its_cancel_keeps_its_real_end(
    hub: Hub, tmp_path: Path
) -> None:
    deletes: list[str] = []

    def finished_first(r: httpx.Request) -> httpx.Response:
        if r.method == "DELETE":
            deletes.append(r.url.path)
            return httpx.Response(200, json={})
        return hub(r)  # the generation's row says it succeeded

    with engine(tmp_path, finished_first) as eng:
        job = recorded_job(eng.journal.ledger)
        on_loop(eng, lambda: eng.tracker.attach(job, [queue_row("g1")]))
        settled(eng, eng.tracker.cancel_job(job))
        assert deletes == ["/api/ai/queue/g1"]
        assert job.wait(10).status == "succeeded"


def test_a_cancelled_generation_is_recorded_cancelled(hub: Hub, tmp_path: Path) -> None:
    def cancelled(r: httpx.Request) -> httpx.Response:
        if r.method == "DELETE":
            return httpx.Response(200, json={})
        if r.url.path == "/api/ai/queue/g1":
            return httpx.Response(200, json=queue_row("g1", "cancelled"))
        return hub(r)

    with engine(tmp_path, cancelled) as eng:
        job = recorded_job(eng.journal.ledger)
        on_loop(eng, lambda: eng.tracker.attach(job, [queue_row("g1")]))
        settled(eng, eng.tracker.cancel_job(job))
        assert job.status == "cancelled"
        assert statuses(tmp_path, job.id) == ["cancelled"]
        assert not eng.tracker.tracked


def test_a_job_not_sent_yet_is_cancelled_without_a_call(hub: Hub, tmp_path: Path) -> None:
    with engine(tmp_path, hub) as eng:
        job = recorded_job(eng.journal.ledger, 2)
        settled(eng, eng.tracker.cancel_job(job))
        assert job.status == "cancelled" and job.cancel_requested
        assert [g.error for g in job.generations] == ["cancelled before it was sent"] * 2
        assert statuses(tmp_path, job.id) == ["cancelled", "cancelled"]
    assert hub.requests == []


# -- through a client ---------------------------------------------------------------------------


def test_a_completion_event_before_the_enqueue_answer_is_not_lost(hub: Hub, tmp_path: Path) -> None:
    slow_polls = replace(FAST, fallback_poll_min=60.0, safety_poll_interval=60.0)
    c = Client(KEY, BASE, tmp_path, transport=httpx.MockTransport(hub), policy=slow_polls)

    def enqueue(r: httpx.Request) -> httpx.Response:
        event = {"generation_id": "gen-1", "status": "succeeded", "url": hub.result_url}
        c.engine.tracker.on_event(event)  # the stream was faster than the POST's answer
        return httpx.Response(200, json={"generations": [{"generation_id": "gen-1"}]})

    hub.enqueue = [enqueue]
    with c:
        job = c.submit(request()).wait(10)
    assert job.status == "succeeded"
    assert hub.sent("GET", "/api/ai/queue/gen-1") == []
    assert hub.sent("GET", "/api/ai/queue") == []


def test_duplicate_and_foreign_events_change_nothing(sim: Simulator, client: Client) -> None:
    sim.set_faults(events_duplicate=True, events_foreign=True)
    job = client.submit(request(), num_generations=2).wait(30)
    assert job.status == "succeeded"
    assert sim.stats()["downloads"] == 2


def test_confirming_events_by_get_is_a_policy_switch(sim: Simulator, tmp_path: Path) -> None:
    confirm = replace(FAST, confirm_events=True, safety_poll_interval=600.0)
    with Client(KEY, sim.base_url, tmp_path, policy=confirm) as c:
        job = c.submit(request(), 2).wait(30)
    assert job.status == "succeeded"
    assert sim.stats()["polls"] == 2  # one GET per completion event, then the download


def test_dropped_streams_reconnect_and_reconcile(sim: Simulator, client: Client) -> None:
    sim.set_faults(events_drop_after=1)
    jobs = [client.submit(request(f"A fox number {i} runs"), 2) for i in range(3)]
    assert [j.wait(30).status for j in jobs] == ["succeeded"] * 3
    assert sim.stats()["event_connections"] >= 2
    assert sim.stats()["enqueue_calls"] == 3


def test_lost_events_are_caught_by_the_safety_poll(sim: Simulator, client: Client) -> None:
    sim.set_faults(events_lose=2)
    job = client.submit(request(), num_generations=3).wait(30)
    assert job.status == "succeeded"
    assert_saved(job)


def test_new_submissions_do_not_postpone_the_safety_poll(sim: Simulator, client: Client) -> None:
    sim.set_faults(events_lose=1)
    first = client.submit(request("The first fox"))
    others = []
    while not first.done and len(others) < 40:  # 40 x 0.3 s, far beyond the 1 s safety poll
        others.append(client.submit(request(f"Another fox number {len(others)}")))
        threading.Event().wait(0.3)
    assert first.done and first.status == "succeeded"
    assert all(job.wait(30).status == "succeeded" for job in others)


def test_polling_alone_when_the_event_stream_is_unavailable(sim: Simulator, client: Client) -> None:
    sim.set_faults(events_unavailable=True, poll_errors=[503, 500, {"status": 429}])
    jobs = [client.submit(request(f"A fox number {i} runs")) for i in range(3)]
    assert [j.wait(30).status for j in jobs] == ["succeeded"] * 3
    for job in jobs:
        assert_saved(job)
    assert sim.stats()["enqueue_calls"] == 3
    assert sim.stats()["list_calls"] >= 1


def test_a_view_says_processing_when_the_server_does_not_only_at_the_end(tmp_path: Path) -> None:
    """The event stream tells only the end; a status poll runs while a take is queued."""
    policy = replace(FAST, status_poll_interval=0.1, safety_poll_interval=60.0)
    seen: list[str] = []
    with (
        run(generation_seconds=3.0, keepalive_seconds=0.5) as sim,
        Client(KEY, sim.base_url, tmp_path, policy=policy) as c,
    ):
        job = c.submit(request())

        async def follow() -> None:
            # As a view does, on the runtime thread where the job changes (so nothing slips in
            # between): its status now, then every change.
            seen.append(job.status)
            job.observe(lambda j: seen.append(j.status))

        c.runtime.run(follow())
        assert job.wait(30).status == "succeeded"
    assert "processing" in seen and seen.index("processing") < seen.index("succeeded")


def test_a_stuck_job_times_out_with_how_to_cancel_then_cancels(
    sim: Simulator, tmp_path: Path
) -> None:
    sim.set_faults(stuck=True)
    with Client(KEY, sim.base_url, tmp_path, deadline_seconds=0.5, policy=FAST) as c:
        job = c.submit(request()).wait(30)
        assert job.status == "timed_out"
        assert job.error is not None
        assert "job.cancel()" in job.error and f"%kling cancel {job.id}" in job.error
        job.cancel()
        assert job.status == "cancelled"
        assert sim.stats()["cancels"] == 1


def test_batch_deadlines_count_from_each_enqueue_not_from_submission(tmp_path: Path) -> None:
    # 10 generations of 0.4 s one at a time take at least 4 s, past the 3 s deadline, however
    # fast the machine; each job alone has 7 times its run time, however loaded it is.
    requests = [{**BODY, "prompt": f"fox number {i}"} for i in range(10)]
    with (
        run(generation_seconds=0.4) as sim,
        Client(KEY, sim.base_url, tmp_path, deadline_seconds=3.0) as client,
    ):
        started = time.monotonic()
        jobs = client.submit_many(requests, max_in_flight=1)
        statuses = [job.wait(timeout=120).status for job in jobs]
        elapsed = time.monotonic() - started
        enqueues = sim.stats()["enqueue_calls"]
    # one at a time the batch outlasts the deadline, yet no job waited on a slot is timed out
    assert elapsed > 3.0
    assert statuses == ["succeeded"] * 10
    assert enqueues == 10


def test_a_late_success_after_the_deadline_is_saved_by_resume_after_a_restart(
    sim: Simulator, tmp_path: Path
) -> None:
    sim.set_faults(events_lose=1)  # the first client never hears that it finished
    with Client(KEY, sim.base_url, tmp_path, deadline_seconds=0.5) as client:
        job = client.submit(BODY).wait(timeout=30)
        assert job.status == "timed_out"
    assert statuses(tmp_path, job.id) == ["timed_out"]

    with Client(KEY, sim.base_url, tmp_path) as client:
        resumed = client.resume()
        assert [j.id for j in resumed] == [job.id]
        done = resumed[0].wait(timeout=30)
        assert done.status == "succeeded", done.summary()
        assert done.results[0].path.is_file()
    assert statuses(tmp_path, job.id) == ["succeeded"]
    assert sim.stats()["enqueue_calls"] == 1


def test_a_url_that_stays_expired_fails_the_generation(hub: Hub, mock_client: Client) -> None:
    # every attempt of the three rounds (three attempts each, a fresh URL after each 403) fails
    hub.downloads = [lambda r: httpx.Response(403)] * 9
    job = mock_client.submit(request()).wait(10)
    assert job.status == "failed"
    assert "saving it failed 3 times" in (job.generations[0].error or "")
    assert mock_client.ledger.jobs()[job.id].generations[0].status == "save_failed"


def test_a_result_that_failed_to_save_is_retried_with_a_fresh_url(
    sim: Simulator, tmp_path: Path
) -> None:
    sim.set_faults(download_truncate=1)
    with Client(KEY, sim.base_url, tmp_path, policy=ONE_TRANSFER) as client:
        job = client.submit(BODY).wait(timeout=30)
        assert job.status == "succeeded", job.summary()
        assert job.results[0].path.is_file()
    stats = sim.stats()
    assert stats["enqueue_calls"] == 1
    assert stats["downloads"] == 2
    assert statuses(tmp_path, job.id) == ["succeeded"]


def test_a_result_never_saved_is_kept_for_resume_after_a_restart(
    sim: Simulator, tmp_path: Path
) -> None:
    sim.set_faults(download_truncate=100)
    with Client(KEY, sim.base_url, tmp_path, policy=ONE_TRANSFER) as client:
        job = client.submit(BODY).wait(timeout=30)
        gen = job.generations[0]
        assert job.status == "failed"
        assert gen.error is not None and "Client().resume()" in gen.error
        assert "3 times" in gen.error
    assert statuses(tmp_path, job.id) == ["save_failed"]

    sim.set_faults(download_truncate=0)
    with Client(KEY, sim.base_url, tmp_path, policy=ONE_TRANSFER) as client:  # after a restart
        resumed = client.resume()
        assert [j.id for j in resumed] == [job.id]
        assert resumed[0].wait(timeout=30).status == "succeeded"
        assert resumed[0].results[0].path.is_file()
        again = client.submit(BODY)
        assert again.replayed and again.status == "succeeded"
    assert sim.stats()["enqueue_calls"] == 1
