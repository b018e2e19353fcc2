"""Sending a job: one enqueue call, never resent when it may have queued (and billed) the job;
adoption of what an uncertain enqueue made, and only that; slots, cancels before sending, and
the synchronous endpoint. Module tests drive a ``Sender`` over a fake hub; the rest run a client
against the hub or the simulator over loopback."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from _core import (
    REQUEST,
    assert_saved,
    engine,
    recorded_job,
    request,
    settled,
    submission,
    until,
)
from _hub import BASE, KEY, VIDEO, Hub
from _policies import FAST

from kling_nb.client import Client
from kling_nb.engine import Engine
from kling_nb.enqueue import Sender
from kling_nb.files import result_name
from kling_nb.jobs import Job
from kling_nb.records import GenerationRecord
from kling_nb.requests import VideoRequest
from kling_nb.simulator import Simulator
from kling_nb.store import Ledger

BODY = {"model": "o3-pro", "prompt": "a red fox in the snow", "duration": 3}
# The listener is not started in module tests: enqueue without waiting for it.
NO_STREAM = replace(FAST, events_connect_wait=0.0)
TOKEN = "local:sha256:" + "ab" * 32 + "/face.png"


def payload(n: int = 1, **more: Any) -> dict[str, Any]:
    return {**REQUEST.payload(), "num_generations": n, **more}


def listed(*found: dict[str, Any]) -> Hub:
    """A hub whose queue listings show ``found`` (rows like the server's, for ``REQUEST``)."""
    hub = Hub()
    hub.polls = [lambda r: httpx.Response(200, json={"generations": list(found)})] * 100
    return hub


def row(gid: str, enqueued_at: float, **more: Any) -> dict[str, Any]:
    return {
        "generation_id": gid,
        "status": "queued",
        "model_name": REQUEST.model,
        "prompt": REQUEST.prompt,
        "duration": 3,
        "enqueued_at": enqueued_at,
        **more,
    }


def uncertain(eng: Engine, job_id: str) -> bool:
    return Ledger(eng.journal.ledger.folder).jobs()[job_id].uncertain


# -- the module's own rules, on a fake hub ----------------------------------------------------
def test_an_enqueue_that_never_left_says_nothing_was_queued(hub: Hub, tmp_path: Path) -> None:
    def refused(r: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=r)

    hub.enqueue = [refused] * 100
    with engine(tmp_path, hub, NO_STREAM) as eng:
        job = recorded_job(eng.journal.ledger)
        settled(eng, eng.sender.run_job(job, payload()))
        assert job.status == "error"
        assert (
            job.error is not None and "Nothing was queued; submit the request again." in job.error
        )
        assert not uncertain(eng, job.id)  # a re-run may send it
    assert len(hub.sent("POST", "/api/ai/queue")) == NO_STREAM.max_retries + 1
    assert hub.sent("GET", "/api/ai/queue") == []  # nothing to look for


def test_an_answer_listing_no_generations_is_uncertain(hub: Hub, tmp_path: Path) -> None:
    hub.enqueue = [lambda r: httpx.Response(200, json={"generations": []})]
    with engine(tmp_path, hub, NO_STREAM) as eng:
        job = recorded_job(eng.journal.ledger)
        settled(eng, eng.sender.run_job(job, payload()))
        assert job.status == "error"
        assert job.error is not None and "the answer listed no generations" in job.error
        assert "may still have been queued and billed" in job.error
        assert uncertain(eng, job.id)  # a re-run looks for it instead of paying again


def answering(hub: Hub, *ids: str) -> None:
    """The hub's next enqueue answer lists ``ids`` (200, as a server that lies would)."""
    gens = [{"generation_id": gid, "status": "queued"} for gid in ids]
    hub.enqueue = [lambda r: httpx.Response(200, json={"generations": gens})]


def test_an_answer_naming_only_other_jobs_generations_takes_none_of_them(
    hub: Hub, tmp_path: Path
) -> None:
    answering(hub, "recorded", "tracked")
    with engine(tmp_path, hub, NO_STREAM) as eng:
        ledger = eng.journal.ledger
        recorded_job(ledger, 1, "done")
        ledger.append(GenerationRecord(job_id="done", generation_id="recorded", status="queued"))
        running = recorded_job(ledger, 1, "running")
        eng.tracker.tracked["tracked"] = (running, running.generations[0])
        job = recorded_job(ledger, 2)
        settled(eng, eng.sender.run_job(job, payload(2)))
        assert job.generation_ids == []
        assert eng.tracker.tracked["tracked"][0] is running  # still followed for its own job
        assert job.status == "error"
        assert job.error is not None and "may still have been queued and billed" in job.error
        assert uncertain(eng, job.id)  # a re-run looks for its own, never takes these


def test_an_answer_naming_a_generation_twice_or_another_jobs_takes_each_new_one_once(
    hub: Hub, tmp_path: Path
) -> None:
    answering(hub, "new", "new", "tracked")
    with engine(tmp_path, hub, NO_STREAM) as eng:
        running = recorded_job(eng.journal.ledger, 1, "running")
        eng.tracker.tracked["tracked"] = (running, running.generations[0])
        job = recorded_job(eng.journal.ledger, 3)
        settled(eng, eng.sender.run_job(job, payload(3)))
        assert job.generation_ids == ["new"]
        assert eng.tracker.tracked["new"][1] is job.generations[0]
        assert eng.tracker.tracked["tracked"][0] is running
        errors = [g.error for g in job.generations[1:]]
        assert errors == ["the server created fewer generations than asked"] * 2


def test_a_failed_upload_sends_nothing(hub: Hub, tmp_path: Path) -> None:
    with engine(tmp_path, hub, NO_STREAM) as eng:
        job = recorded_job(eng.journal.ledger)
        settled(eng, eng.sender.run_job(job, payload(input_image=[TOKEN])))
        assert job.status == "error"
        assert job.error is not None and job.error.endswith("Nothing was queued.")
    assert hub.sent("POST", "/api/ai/queue") == []


def test_adoption_takes_the_earliest_matching_rows_no_other_job_has(
    tmp_path: Path,
) -> None:
    sent_at = time.time()
    hub = listed(
        row("later", sent_at + 2),
        row("first", sent_at + 1),
        row("third", sent_at + 3),  # one more than the job asked for
        row("other-prompt", sent_at + 1, prompt="A cat"),
        row("other-model", sent_at + 1, model_name="kling-video-other"),
        row("too-old", sent_at - 200),
        row("tracked", sent_at),
        row("recorded", sent_at),
    )
    with engine(tmp_path, hub, NO_STREAM) as eng:
        ledger = eng.journal.ledger
        other = recorded_job(ledger, 1, "other")
        ledger.append(GenerationRecord(job_id="other", generation_id="recorded", status="queued"))
        eng.tracker.tracked["tracked"] = (other, other.generations[0])
        job = recorded_job(ledger, 2)
        assert settled(eng, eng.sender.adopt(job, payload(2), sent_at))
        assert job.generation_ids == ["first", "later"]
        assert eng.tracker.tracked["tracked"][0] is other


def test_adoption_does_not_compare_a_local_image_with_its_uploaded_url(tmp_path: Path) -> None:
    sent_at = time.time()
    hub = listed(row("g1", sent_at, input_image=["https://repo.test/presigned/face.png"]))
    with engine(tmp_path, hub, NO_STREAM) as eng:
        job = recorded_job(eng.journal.ledger)
        assert settled(eng, eng.sender.adopt(job, payload(input_image=[TOKEN]), sent_at))
        assert job.generation_ids == ["g1"]


def test_adoption_waits_for_an_identical_enqueue_still_unanswered(tmp_path: Path) -> None:
    """Until its answer comes, another job's identical enqueue made generations that look like
    ours in the listing: adoption waits for that answer instead of taking them."""
    answered = asyncio.Event()
    listed_too_early: list[bool] = []

    async def answer(r: httpx.Request) -> httpx.Response:
        if r.method == "POST":  # the sibling's enqueue, answered when the test says so
            await answered.wait()
            return httpx.Response(200, json={"generations": [row("b1", time.time())]})
        listed_too_early.append(not answered.is_set())
        return httpx.Response(200, json={"generations": [row("b1", time.time())]})

    with engine(tmp_path, answer, NO_STREAM) as eng:
        sibling = recorded_job(eng.journal.ledger, 1, "sibling")
        job = recorded_job(eng.journal.ledger, 1, "uncertain")

        async def both() -> bool:
            sending = asyncio.ensure_future(eng.sender.run_job(sibling, payload()))
            while sibling.id not in eng.sender.sending:
                await asyncio.sleep(0)
            adopting = asyncio.ensure_future(eng.sender.adopt(job, payload(), time.time() - 1))
            await asyncio.sleep(0.2)  # time enough to list the queue, were it not waiting
            answered.set()
            await sending
            return await adopting

        assert not settled(eng, both())
        assert sibling.generation_ids == ["b1"] and job.generation_ids == []
    assert listed_too_early and not any(listed_too_early)


def test_adoption_that_finds_nothing_gives_up_after_its_delays(tmp_path: Path) -> None:
    hub = listed()
    with engine(tmp_path, hub, NO_STREAM) as eng:
        job = recorded_job(eng.journal.ledger)
        assert not settled(eng, eng.sender.adopt(job, payload(), time.time()))
        assert job.generation_ids == []
    # each pass lists the active, the succeeded and the failed generations
    assert len(hub.sent("GET", "/api/ai/queue")) == 3 * len(NO_STREAM.enqueue_reconcile_delays)


def test_a_sync_answer_without_a_video_fails_and_is_not_resent(hub: Hub, tmp_path: Path) -> None:
    def empty(r: httpx.Request) -> httpx.Response:
        if r.url.path == "/api/ai/videos/generate":
            hub.requests.append(r)
            return httpx.Response(200, json={"videos": []})
        return hub(r)

    with engine(tmp_path, empty, NO_STREAM) as eng:
        job = recorded_job(eng.journal.ledger)
        settled(eng, eng.sender.run_sync(job, REQUEST.payload()))
        assert job.status == "failed"
        assert job.error is not None and "answered without a video" in job.error
        assert "may still have been generated and billed" in job.error
    assert len(hub.sent("POST", "/api/ai/videos/generate")) == 1


# -- through a client ---------------------------------------------------------------------------


def test_a_read_timeout_on_enqueue_is_never_resent(hub: Hub, mock_client: Client) -> None:
    def timeout(r: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("no answer", request=r)

    hub.enqueue = [timeout]
    job = mock_client.submit(request()).wait(10)
    assert job.status == "error"
    assert job.error is not None and "billed" in job.error and "client.history()" in job.error
    assert len(hub.sent("POST", "/api/ai/queue")) == 1


@pytest.mark.parametrize("status", [500, 503, 408])
def test_an_ambiguous_enqueue_status_is_not_resent(
    hub: Hub, mock_client: Client, status: int
) -> None:
    hub.enqueue = [lambda r: httpx.Response(status, json={"error": {"title": "oops"}})]
    job = mock_client.submit(request()).wait(10)
    assert job.status == "error"
    assert len(hub.sent("POST", "/api/ai/queue")) == 1


def test_a_502_that_queued_anyway_is_adopted_not_resent(sim: Simulator, client: Client) -> None:
    sim.set_faults(enqueue_errors=[{"status": 502, "queued": True}])
    job = client.submit(request(), num_generations=2).wait(30)
    assert job.status == "succeeded"
    assert len(job.results) == 2
    assert_saved(job)
    assert sim.stats()["enqueue_calls"] == 1
    assert sim.stats()["generations_created"] == 2


def test_a_502_that_queued_nothing_ends_in_error_with_what_to_check(
    sim: Simulator, client: Client
) -> None:
    sim.set_faults(enqueue_errors=[502])
    job = client.submit(request()).wait(30)
    assert job.status == "error"
    assert job.error is not None
    assert "may still have been queued and billed" in job.error
    assert "client.history()" in job.error and "%kling jobs" in job.error
    assert sim.stats()["enqueue_calls"] == 1
    assert sim.stats()["generations_created"] == 0


def test_a_refused_enqueue_is_not_resent(sim: Simulator, client: Client) -> None:
    sim.set_faults(credits_usd=0.0)
    job = client.submit(request()).wait(30)
    assert job.status == "error"
    assert job.error is not None and "credits" in job.error.lower()
    assert sim.stats()["enqueue_calls"] == 1


def test_after_a_5xx_on_enqueue_a_job_never_adopts_a_siblings_generation(
    sim: Simulator, tmp_path: Path
) -> None:
    with Client(KEY, sim.base_url, tmp_path, policy=FAST) as client:
        for round_ in range(3):
            sim.set_faults(enqueue_errors=[502])  # the first of three identical enqueues
            same = {**BODY, "prompt": f"the same fox, round {round_}"}
            jobs = client.submit_many([same, same, same], force=True)
            for job in jobs:
                job.wait(timeout=30)
            ids = [gid for job in jobs for gid in job.generation_ids]
            assert len(ids) == len(set(ids)) == 2, [j.summary() for j in jobs]
            assert sorted(job.status for job in jobs) == ["error", "succeeded", "succeeded"]
    assert sim.stats()["enqueue_calls"] == 9


def test_cancel_before_the_enqueue_sends_nothing(sim: Simulator, tmp_path: Path) -> None:
    sim.set_faults(events_unavailable=True)
    slow = replace(FAST, events_connect_wait=0.5)
    with Client(KEY, sim.base_url, tmp_path, policy=slow) as c:
        job = c.submit(request())
        job.cancel()
        assert job.wait(10).status == "cancelled"
    assert sim.stats()["enqueue_calls"] in (0, 1)
    assert sim.stats()["generations_created"] == sim.stats()["cancels"]


def test_submit_many_keeps_at_most_max_in_flight_running(
    sim: Simulator, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    running: set[str] = set()
    peak = 0
    lock = threading.Lock()

    def watch(job: Job) -> None:
        nonlocal peak
        with lock:
            if job.status in ("queued", "processing", "downloading"):
                running.add(job.id)
            else:
                running.discard(job.id)
            peak = max(peak, len(running))

    # Nothing is sent before every job is watched: the first two could end unwatched otherwise.
    watched = threading.Event()
    send = Sender._enqueue

    async def once_watched(self: Sender, job: Job, payload: dict[str, Any]) -> Any:
        await asyncio.to_thread(watched.wait, 30)
        return await send(self, job, payload)

    monkeypatch.setattr(Sender, "_enqueue", once_watched)
    reqs = [request(f"A fox number {i} runs") for i in range(5)]
    jobs = client.submit_many(reqs, max_in_flight=2)
    for job in jobs:
        job.observe(watch)
    watched.set()
    assert [j.wait(30).status for j in jobs] == ["succeeded"] * 5
    assert peak == 2
    assert sim.stats()["enqueue_calls"] == 5


def test_jobs_waiting_for_a_slot_cancel_without_sending(sim: Simulator, client: Client) -> None:
    sim.set_faults(stuck=True)
    reqs = [request(f"A fox number {i} runs") for i in range(3)]
    first, second, third = client.submit_many(reqs, max_in_flight=1)
    until(lambda: bool(first.generation_ids))
    third.cancel()
    assert third.wait(30).status == "cancelled"
    client.cancel_all()
    assert [j.wait(10).status for j in (first, second, third)] == ["cancelled"] * 3
    assert sim.stats()["enqueue_calls"] == 1
    assert "before it was sent" in (second.generations[0].error or "")


def record_unsent(folder: Path, base_url: str, req: VideoRequest, n: int) -> str:
    """The ledger of a kernel that died after recording a submission, before any answer."""
    Ledger(folder).append(submission(req, "died-sending", n, base_url))
    return "died-sending"


def test_resume_adopts_what_a_dead_kernel_queued_but_never_heard_back(
    sim: Simulator, tmp_path: Path
) -> None:
    req = request("A fox the dead kernel sent")
    job_id = record_unsent(tmp_path, sim.base_url, req, 2)
    sent = httpx.post(
        f"{sim.base_url}/api/ai/queue",
        json={**req.payload(), "num_generations": 2},
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert sent.status_code == 200
    with Client(KEY, sim.base_url, tmp_path, policy=FAST) as c:
        (job,) = c.resume()
        assert job.id == job_id
        assert job.wait(30).status == "succeeded"
        assert sorted(job.generation_ids) == sorted(
            g["generation_id"] for g in sent.json()["generations"]
        )
        assert_saved(job)
    assert sim.stats()["enqueue_calls"] == 1


def test_resume_reports_a_dead_kernels_submission_that_never_arrived(
    sim: Simulator, tmp_path: Path
) -> None:
    record_unsent(tmp_path, sim.base_url, request(), 1)
    with Client(KEY, sim.base_url, tmp_path, policy=FAST) as c:
        (job,) = c.resume()
        assert job.wait(30).status == "error"
        assert job.error is not None and "no answer was heard" in job.error
    with Client(KEY, sim.base_url, tmp_path, policy=FAST) as c:
        assert c.resume() == []
    assert sim.stats()["enqueue_calls"] == 0


def test_generate_accepts_video_url(hub: Hub, mock_client: Client) -> None:
    job = mock_client.generate(request())
    assert job.status == "succeeded"
    assert job.results[0].path.read_bytes() == VIDEO
    assert job.results[0].path.name == result_name(f"sync-{job.id}") + ".mp4"


def test_a_sync_call_that_may_have_run_is_not_resent(hub: Hub, tmp_path: Path) -> None:
    def route(r: httpx.Request) -> httpx.Response:
        if r.url.path == "/api/ai/videos/generate":
            hub.requests.append(r)
            return httpx.Response(502, json={"error": {"type": "upstream", "title": "Bad"}})
        return hub(r)

    with Client(KEY, BASE, tmp_path, transport=httpx.MockTransport(route), policy=FAST) as c:
        job = c.generate(request())
    assert job.status == "failed"
    assert job.error is not None and "billed" in job.error and "client.history()" in job.error
    assert len(hub.sent("POST", "/api/ai/videos/generate")) == 1


def test_an_unreadable_b64_result_fails_clearly(hub: Hub, tmp_path: Path) -> None:
    def route(r: httpx.Request) -> httpx.Response:
        if r.url.path == "/api/ai/videos/generate":
            return httpx.Response(200, json={"videos": [{"b64_json": "%%% not base64"}]})
        return hub(r)

    with Client(KEY, BASE, tmp_path, transport=httpx.MockTransport(route), policy=FAST) as c:
        job = c.generate(request())
    assert job.status == "failed"
    assert "unreadable b64_json" in (job.error or "")
    assert not list(tmp_path.glob("*.mp4"))


def test_a_sync_result_that_could_not_be_saved_is_recorded_and_resume_saves_it(
    sim: Simulator, tmp_path: Path
) -> None:
    sim.set_faults(download_truncate=10)
    with Client(KEY, sim.base_url, tmp_path, policy=FAST) as c:
        job = c.generate(request())
        assert job.status == "failed"
        assert "resume" in (job.error or job.generations[0].error or "")
    (record,) = Ledger(tmp_path).jobs().values()
    (gen,) = record.generations.values()
    assert gen.status == "save_failed" and gen.result_url
    assert "Bearer" not in (tmp_path / "ledger.jsonl").read_text()
    sim.set_faults(download_truncate=0)
    with Client(KEY, sim.base_url, tmp_path, policy=FAST) as c:
        (resumed,) = c.resume()
        assert resumed.wait(30).status == "succeeded"
        assert resumed.results[0].path.is_file()
    assert sim.stats()["sync_calls"] == 1
