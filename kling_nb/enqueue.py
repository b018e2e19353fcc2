"""Sending a job: one enqueue call, never resent blindly, and adoption after an uncertain one.

A 5xx or a lost answer may have queued (and billed) the job, so it is never sent again: the
server's queue is searched for generations matching the request instead (``adopt``), which is
also what ``resume()`` and a re-run do for a job whose process stopped while sending it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from kling_nb.errors import APIConnectionError, KlingError, ServerError, redact
from kling_nb.files import result_name, save_b64
from kling_nb.jobs import Job, Result
from kling_nb.local_images import local_tokens
from kling_nb.runtime import wait_event
from kling_nb.tracking import Tracker, row_id, rows
from kling_nb.uploads import Uploader

__all__ = ["Sender", "uncertain_message"]

log = logging.getLogger("kling_nb")
_NOT_MATCHED = frozenset({"model", "num_generations", "response_format", "target_namespace"})


def uncertain_message(job: Job, cause: str) -> str:
    """What to tell the user when an enqueue may or may not have queued (and billed) the job."""
    return (
        f"The enqueue call for job {job.id} failed ({cause}) and the job may still have been "
        "queued and billed, so it was not resent. Check with client.history() or `%kling jobs` "
        "before submitting again; submit(..., force=True) sends it anew."
    )


class Sender:
    """Enqueues jobs for one client (runtime loop) and hands their generations to the tracker."""

    def __init__(self, tracker: Tracker, uploads: Uploader) -> None:
        self.tracker, self.uploads = tracker, uploads
        self.api, self.policy, self.journal = tracker.api, tracker.policy, tracker.journal
        #: Job ids whose enqueue call is under way.
        self.sending: set[str] = set()
        # Enqueue calls waiting for their answer (job id -> payload), and an event set (and
        # replaced) as each one ends: an adopting job waits for identical ones first.
        self._enqueuing: dict[str, dict[str, Any]] = {}
        self._enqueued = asyncio.Event()

    async def run_job(
        self, job: Job, payload: dict[str, Any], slot: asyncio.Semaphore | None = None
    ) -> None:
        """Enqueue ``job`` once and start tracking its generations."""
        if slot is not None:
            await slot.acquire()
            if _release_when_done(job, slot):  # cancelled while it waited for a slot
                return
        await self.tracker.listener.wait_ready(self.policy.events_connect_wait)
        resolved = await self._with_uploads(job, payload)
        if resolved is None:
            return
        if job.cancel_requested:
            self.tracker.cancel_unsent(job)
        if job.done:
            return
        sent_at = time.time()
        self.sending.add(job.id)
        try:
            answer = await self._enqueue(job, resolved)
        except (ServerError, APIConnectionError) as exc:
            if isinstance(exc, APIConnectionError) and not exc.maybe_sent:
                self._fail(job, f"{exc.message} Nothing was queued; submit the request again.")
            elif not await self.adopt(job, resolved, sent_at):
                self._fail(job, uncertain_message(job, _short(exc)), uncertain=True)
            return
        except KlingError as exc:
            self._fail(job, exc.message)
            return
        finally:
            self.sending.discard(job.id)
        listed = rows(answer)
        found = self._new_rows(job, listed)
        if not found:
            cause = "the answer listed " + (
                "only generations of other jobs" if listed else "no generations"
            )
            self._fail(job, uncertain_message(job, cause), uncertain=True)
            return
        self.tracker.attach(job, found)

    def _new_rows(self, job: Job, listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows of an enqueue answer that can be ``job``'s: each id once, and none that
        another job tracks or the ledger records (a server that lies must not hand one job's
        generation, or its result, to another)."""
        seen: set[str] = set()
        found = []
        for row in listed:
            gid = row_id(row)
            if gid is not None:
                if gid in seen or not self._free(job, gid):
                    continue
                seen.add(gid)
            found.append(row)
        return found

    def _free(self, job: Job, gid: str) -> bool:
        """Whether generation ``gid`` can be ``job``'s: no other job tracks it or has it in the
        ledger (any process)."""
        tracked = self.tracker.tracked.get(gid)
        if tracked is not None and tracked[0] is not job:
            return False
        return self.journal.ledger.owner(gid) in (None, job.id)

    async def _with_uploads(self, job: Job, payload: dict[str, Any]) -> dict[str, Any] | None:
        """``payload`` with its local images uploaded (once per content) and fresh presigned
        URLs in their place, just before it is sent; None when that failed (the job then ends
        ``error``, and nothing was queued)."""
        try:
            return await self.uploads.resolve(job.id, payload)
        except KlingError as exc:
            self._fail(job, f"{exc.message} Nothing was queued.")
            return None

    def _fail(self, job: Job, message: str, uncertain: bool = False) -> None:
        self.journal.write(job, job.fail(message, uncertain))

    async def _enqueue(self, job: Job, payload: dict[str, Any]) -> Any:
        """``POST /api/ai/queue``, noting it as in flight until it answers or fails."""
        self._enqueuing[job.id] = payload
        try:
            return await self.api.request("POST", "/api/ai/queue", safety="unsafe", json=payload)
        finally:
            # No await between here and the caller's ``attach``: a waiting adopter wakes up only
            # once this job's generations are tracked.
            del self._enqueuing[job.id]
            self._enqueued.set()
            self._enqueued = asyncio.Event()

    async def adopt(self, job: Job, payload: dict[str, Any], sent_at: float) -> bool:
        """After an uncertain enqueue, find the generations the server made for this request.

        Generations tracked by (or recorded for) any other job are never taken, checked when
        the listing is read; an identical enqueue still waiting for its answer is waited for
        first, as its generations would look like ours until it is answered.
        """
        key = _enqueue_key(payload)
        tracked = self.tracker.tracked
        for delay in self.policy.enqueue_reconcile_delays:
            await asyncio.sleep(delay)
            await self._wait_for_identical(job, key)
            found: dict[str, dict[str, Any]] = {}
            for params in (None, {"status": "succeeded"}, {"status": "failed"}):
                try:
                    listing = await self.api.request(
                        "GET", "/api/ai/queue", safety="safe", params=params
                    )
                except KlingError:
                    continue
                for row in rows(listing):
                    gid = row_id(row)
                    fresh = gid and gid not in tracked and self._free(job, gid)
                    if fresh and _matches(row, payload, sent_at):
                        found[str(gid)] = row
            candidates = [r for r in found.values() if row_id(r) not in tracked]
            if candidates:
                candidates.sort(key=lambda r: _float(r.get("enqueued_at")) or 0.0)
                self.tracker.attach(job, candidates[: job.num_generations], adopted=True)
                log.info("kling_nb: job %s adopted after an uncertain enqueue", job.id)
                return True
        return False

    async def _wait_for_identical(self, job: Job, key: str) -> None:
        """Wait (bounded) until no other job's identical enqueue is waiting for its answer."""
        limit = time.monotonic() + self.policy.request_total_timeout
        while any(j != job.id and _enqueue_key(p) == key for j, p in self._enqueuing.items()):
            left = limit - time.monotonic()
            if left <= 0:
                return
            await wait_event(self._enqueued, left)

    async def adopt_unsent(self, job: Job, payload: dict[str, Any]) -> None:
        """Resume a job whose process stopped while enqueueing: adopt what it made, or say so."""
        if not await self.adopt(job, payload, job.created_at):
            cause = "no answer was heard, and the server's queue shows no such generation yet"
            self._fail(job, uncertain_message(job, cause), uncertain=True)

    async def run_sync(self, job: Job, payload: dict[str, Any]) -> None:
        """The synchronous endpoint: one blocking call, never resent after it may have run.
        What the server answered is recorded before the result is saved, so a failed save is
        ``save_failed`` and ``resume()`` tries again."""
        resolved = await self._with_uploads(job, payload)
        if resolved is None:
            return
        gen = job.generations[0]
        gen.started_at = time.time()
        self.journal.write(job, job.set(gen, "processing"))
        try:
            answer = await self.api.request(
                "POST",
                "/api/ai/videos/generate",
                safety="unsafe",
                json=resolved,
                timeout=self.policy.sync_read_timeout,
            )
            video = _first_video(answer)
        except KlingError as exc:
            note = ""
            sent = isinstance(exc, APIConnectionError) and exc.maybe_sent
            if sent or isinstance(exc, ServerError):
                note = (
                    " It may still have been generated and billed, so it was not resent: "
                    "check client.history() or `%kling jobs`."
                )
            job.error = redact(exc.message + note)
            self.journal.write(job, job.set(gen, "failed", error=exc.message + note))
            return
        gen.completed_at = time.time()
        stem = result_name(f"sync-{job.id}")
        if isinstance(video.get("b64_json"), str):
            try:
                saved, url = save_b64(video["b64_json"], self.journal.ledger.folder, stem), None
            except (KlingError, OSError) as exc:
                self._sync_save_failed(job, _short(exc))
                return
            result = Result(job.id, saved.path, saved.sha256, saved.size, url)
            self.journal.write(job, job.set(gen, "succeeded", result=result))
            return
        gen.result_url = str(video.get("url") or video.get("video_url") or "")
        self.journal.write(job, job.set(gen, "downloading", recorded_as="save_failed"))
        self.tracker.downloads.start(job, gen, gen.result_url)

    def _sync_save_failed(self, job: Job, error: str) -> None:
        gen = job.generations[0]
        note = (
            f"The generation succeeded and was billed, but saving it failed ({error}). "
            "Client().resume() tries again while its URL lasts (about an hour)."
        )
        job.error = note
        self.journal.write(job, job.set(gen, "failed", error=note, recorded_as="save_failed"))


def _release_when_done(job: Job, slot: asyncio.Semaphore) -> bool:
    """Give ``slot`` back once, when ``job`` becomes final; whether it already is."""
    released = False

    def release(j: Job) -> None:
        nonlocal released
        if j.done and not released:
            released = True
            slot.release()

    job.observe(release)
    release(job)
    return job.done


def _enqueue_key(payload: dict[str, Any]) -> str:
    """What ``_matches`` compares of a payload: enqueues with the same key are identical."""
    same = {k: v for k, v in payload.items() if k == "model" or k not in _NOT_MATCHED}
    return json.dumps(same, sort_keys=True, default=str)


def _matches(row: dict[str, Any], payload: dict[str, Any], sent_at: float) -> bool:
    """Whether a queue row could be this payload's generation. A local image stands in the
    payload as its token, on the server as a presigned URL (a new one each time): such a field
    is not compared."""
    model = row.get("model_name") or row.get("model")
    if model != payload.get("model"):
        return False
    enqueued = _float(row.get("enqueued_at"))
    if enqueued is not None and enqueued < sent_at - 120:
        return False
    compared = {k: v for k, v in payload.items() if k not in _NOT_MATCHED and k in row}
    return all(row[k] == v for k, v in compared.items() if not local_tokens({k: v}))


def _first_video(answer: Any) -> dict[str, Any]:
    videos = answer.get("videos") if isinstance(answer, dict) else None
    if isinstance(videos, list) and videos and isinstance(videos[0], dict):
        return videos[0]
    if isinstance(answer, dict) and isinstance(answer.get("video_url"), str):
        return {"url": answer["video_url"]}
    raise ServerError(
        "The synchronous endpoint answered without a video. Check client.history().",
        status_code=200,
        body=None,
    )


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _short(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, KlingError) else f"{type(exc).__name__}: {exc}"
    return redact(text)[:300]
