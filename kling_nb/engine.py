"""The async side of a client: enqueue, track, reconcile, download, cancel, deadlines.

Everything here runs on the client's runtime loop. Generations are tracked by server id until
they are final; completion events, reconcile passes (after every (re)connect, on the safety poll,
and in polling mode) and cancel calls all funnel into ``apply``, so a duplicated or late answer
changes nothing twice. ``tracked`` keeps timed-out generations too: a late success is still saved.
A succeeded generation whose file could not be saved stays tracked too (a few rounds, each with a
fresh URL); the ledger calls it ``save_failed`` until it is saved, so ``resume()`` tries again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

import httpx

from kling_nb.api import Api, ExpiredURLError, Saved, Truncated, safe_stem, save_b64
from kling_nb.errors import (
    APIConnectionError,
    APIStatusError,
    DownloadError,
    KlingError,
    NotFoundError,
    ServerError,
    redact,
)
from kling_nb.events import EventListener
from kling_nb.jobs import Generation, Job, Result
from kling_nb.retry import Policy, retry_delay
from kling_nb.runtime import Runtime, wait_event
from kling_nb.store import GenerationRecord, Ledger, generation_line, job_line
from kling_nb.uploads import Uploader

__all__ = ["Engine", "uncertain_message"]

log = logging.getLogger("kling_nb")
_SERVER_FINAL = frozenset({"succeeded", "failed", "cancelled"})
_EARLY_EVENTS = 1000
_NOT_MATCHED = frozenset({"model", "num_generations", "response_format", "target_namespace"})
# Rounds of saving a succeeded generation's result (each with a fresh URL from a poll) before
# this client stops trying; the ledger keeps it as "save_failed", so resume() tries again.
_SAVE_ROUNDS = 3


def uncertain_message(job: Job, cause: str) -> str:
    """What to tell the user when an enqueue may or may not have queued (and billed) the job."""
    return (
        f"The enqueue call for job {job.id} failed ({cause}) and the job may still have been "
        "queued and billed, so it was not resent. Check with client.history() or `%kling jobs` "
        "before submitting again; submit(..., force=True) sends it anew."
    )


def _rows(listing: Any) -> list[dict[str, Any]]:
    if isinstance(listing, dict):
        listing = listing.get("generations") or listing.get("data") or []
    return [r for r in listing if isinstance(r, dict)] if isinstance(listing, list) else []


def _row_id(row: dict[str, Any]) -> str | None:
    gid = row.get("generation_id") or row.get("id")
    return gid if isinstance(gid, str) else None


class Engine:
    """Async orchestration of one client's jobs (lives on the runtime loop)."""

    def __init__(self, api: Api, ledger: Ledger, policy: Policy, runtime: Runtime) -> None:
        self.api = api
        self.ledger = ledger
        self.policy = policy
        self.runtime = runtime
        self.tracked: dict[str, tuple[Job, Generation]] = {}
        self.listener = EventListener(
            api, policy, on_event=self.on_event, on_connect=self.on_connect
        )
        self._started = False
        self._own: list[asyncio.Task[Any]] = []
        self._wake = asyncio.Event()
        self._downloading: set[str] = set()
        self._sending: set[str] = set()
        # Enqueue calls waiting for their answer (job id -> payload), and an event set (and
        # replaced) as each one ends: an adopting job waits for identical ones first.
        self._enqueuing: dict[str, dict[str, Any]] = {}
        self._enqueued = asyncio.Event()
        self._early: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._recorded_final: dict[str, str] = {}
        # Ledger lines and jobs to notify, written and told at the end of this turn of the loop.
        self._lines: list[dict[str, Any]] = []
        self._to_notify: dict[str, Job] = {}
        self._flush_scheduled = False
        self.uploads = Uploader(api, ledger)  # local reference images (kling_nb.uploads)
        #: Set when the client starts closing: from then on nothing new is recorded (a download
        #: cut short by the close stays pending in the ledger, for ``resume()``).
        self.closing = False
        self._save_failures: dict[str, int] = {}

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Start the listener and the poll loop once (loop thread)."""
        if self._started:
            return
        self._started = True
        self._own = [self.runtime.spawn(self.listener.run()), self.runtime.spawn(self._poll_loop())]

    async def aclose(self) -> None:
        """Stop the listener and the poll loop, then close the HTTP pool."""
        for task in self._own:
            task.cancel()
        if self._own:
            await asyncio.wait(self._own, timeout=5)
        self._flush()  # nothing recorded is left unwritten
        await self.api.aclose()

    # -- submission --------------------------------------------------------------------------
    async def run_job(
        self, job: Job, payload: dict[str, Any], slot: asyncio.Semaphore | None = None
    ) -> None:
        """Enqueue ``job`` once and start tracking its generations."""
        if slot is not None:
            await slot.acquire()
            release = _release_when_done(job, slot)
            if job.done:  # cancelled while it waited for a slot
                release(job)
                return
        self.start()
        await self.listener.wait_ready(self.policy.events_connect_wait)
        resolved = await self._with_uploads(job, payload)
        if resolved is None:
            return
        payload = resolved
        if job.cancel_requested:
            self._cancel_unsent(job)
        if job.done:  # cancelled while it waited
            return
        sent_at = time.time()
        self._sending.add(job.id)
        try:
            answer = await self._enqueue(job, payload)
        except (ServerError, APIConnectionError) as exc:
            if isinstance(exc, APIConnectionError) and not exc.maybe_sent:
                job.fail(f"{exc.message} Nothing was queued; submit the request again.")
                self._record_job(job)
                return
            if await self._adopt(job, payload, sent_at):
                return
            job.fail(uncertain_message(job, _short(exc)))
            self._record_job(job)
            return
        except KlingError as exc:
            job.fail(exc.message)
            self._record_job(job)
            return
        finally:
            self._sending.discard(job.id)
        rows = _rows(answer)
        if not rows:
            job.fail(uncertain_message(job, "the answer listed no generations"))
            self._record_job(job)
            return
        self.attach(job, rows)

    async def _with_uploads(self, job: Job, payload: dict[str, Any]) -> dict[str, Any] | None:
        """``payload`` with its local images uploaded (once per content) and fresh presigned
        URLs in their place, just before it is sent; None when that failed (the job then ends
        ``error``, and nothing was queued)."""
        try:
            return await self.uploads.resolve(job.id, payload)
        except KlingError as exc:
            job.fail(f"{exc.message} Nothing was queued.")
            self._record_job(job)
            return None

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

    def attach(self, job: Job, rows: Iterable[dict[str, Any]], *, adopted: bool = False) -> None:
        """Track the generations the server created for ``job`` and record their ids.

        Adopted rows (found in a listing, not in an enqueue answer) already tracked by another
        job are left to it.
        """
        now = time.time()
        rows = list(rows)
        if adopted:
            rows = [r for r in rows if self.tracked.get(_row_id(r) or "", (job,))[0] is job]
        lines = []
        for gen, row in zip(job.generations, rows, strict=False):
            gen.id = _row_id(row)
            gen.enqueued_at = _float(row.get("enqueued_at")) or now
            gen.status = "queued"
            if gen.id:
                self.tracked[gen.id] = (job, gen)
            lines.append(_line(job, gen))
        for gen in job.generations[len(rows) :]:
            gen.status, gen.error = "failed", "the server created fewer generations than asked"
            lines.append(_line(job, gen))
        self._settle(job, *lines)
        for row in rows:
            gid = _row_id(row)
            if gid in self.tracked and row.get("status") in _SERVER_FINAL | {"processing"}:
                self.apply(gid, row)
            early = self._early.pop(gid, None) if gid else None
            if early is not None:
                self.on_event(early)
        # From the enqueue answer, not the submission: a batch job may wait long for a slot.
        self.runtime.loop.call_later(self.policy.deadline_seconds, self._deadline, job)
        if job.cancel_requested:
            self.runtime.spawn(self.cancel_job(job))
        self._wake.set()

    def track_existing(self, job: Job) -> None:
        """Re-attach to a job's recorded generations (resume): track, schedule, reconcile."""
        self.start()
        for gen in job.generations:
            if gen.id and not gen.done:
                self.tracked[gen.id] = (job, gen)
        self._settle(job)
        self.runtime.spawn(self._reconcile_then_deadline(job))

    async def _reconcile_then_deadline(self, job: Job) -> None:
        """Learn what a resumed job's generations became, then time out those still running
        (a late success found by this pass is saved, not reported as timed out)."""
        try:
            await self.reconcile()
        finally:
            enqueued = [g.enqueued_at for g in job.generations if g.enqueued_at is not None]
            start = min(enqueued) if enqueued else job.created_at
            delay = max(0.0, start + self.policy.deadline_seconds - time.time())
            self.runtime.loop.call_later(delay, self._deadline, job)

    async def _adopt(self, job: Job, payload: dict[str, Any], sent_at: float) -> bool:
        """After an uncertain enqueue, find generations the server made for this request.

        Generations tracked by (or recorded for) any other job are never taken, checked when
        the listing is read; an identical enqueue still waiting for its answer is waited for
        first, as its generations would look like ours until it is answered.
        """
        key = _enqueue_key(payload)
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
                known = self._recorded_ids(job)
                for row in _rows(listing):
                    gid = _row_id(row)
                    if not gid or gid in self.tracked or gid in known:
                        continue
                    if _matches(row, payload, sent_at):
                        found[gid] = row
            rows = [r for r in found.values() if _row_id(r) not in self.tracked]
            if rows:
                rows.sort(key=lambda r: _float(r.get("enqueued_at")) or 0.0)
                self.attach(job, rows[: job.num_generations], adopted=True)
                log.info("kling_nb: job %s adopted after an uncertain enqueue", job.id)
                return True
        return False

    async def _wait_for_identical(self, job: Job, key: str) -> None:
        """Wait (bounded) until no other job's identical enqueue is waiting for its answer."""
        limit = time.monotonic() + self.policy.connect_timeout + self.policy.read_timeout
        while any(j != job.id and _enqueue_key(p) == key for j, p in self._enqueuing.items()):
            left = limit - time.monotonic()
            if left <= 0:
                return
            await wait_event(self._enqueued, left)

    def _recorded_ids(self, job: Job) -> set[str]:
        """Generation ids the ledger holds for jobs other than ``job`` (any process)."""
        return {
            g.generation_id
            for j in self.ledger.jobs().values()
            if j.job_id != job.id
            for g in j.generations.values()
            if g.generation_id
        }

    async def adopt_unsent(self, job: Job, payload: dict[str, Any]) -> None:
        """Resume a job whose process stopped while enqueueing: adopt what it made, or say so."""
        self.start()
        if not await self._adopt(job, payload, job.created_at):
            job.fail(uncertain_message(job, "the process stopped while it was being sent"))
            self._record_job(job)

    async def run_sync(self, job: Job, payload: dict[str, Any]) -> None:
        """The synchronous endpoint: one blocking call, never resent after it may have run."""
        resolved = await self._with_uploads(job, payload)
        if resolved is None:
            return
        payload = resolved
        gen = job.generations[0]
        gen.status, gen.started_at = "processing", time.time()
        self._record(job, gen)
        job.changed()
        stem = f"sync-{job.id}"
        try:
            answer = await self.api.request(
                "POST",
                "/api/ai/videos/generate",
                safety="unsafe",
                json=payload,
                timeout=self.policy.sync_read_timeout,
            )
            video = _first_video(answer)
            gen.completed_at, gen.status = time.time(), "downloading"
            job.changed()
            url = video.get("url") or video.get("video_url")
            if isinstance(video.get("b64_json"), str):
                url = None
                saved = save_b64(video["b64_json"], self.ledger.folder, stem)
            else:
                saved = await self.api.download(str(url or ""), self.ledger.folder, stem)
        except KlingError as exc:
            note = ""
            sent = isinstance(exc, APIConnectionError) and exc.maybe_sent
            if sent or isinstance(exc, ServerError):
                note = (
                    " It may still have been generated and billed, so it was not resent: "
                    "check client.history() or `%kling jobs`."
                )
            gen.status, gen.error = "failed", exc.message + note
            job.error = gen.error
        else:
            gen.result = Result(stem, saved.path, saved.sha256, saved.size, url)
            gen.status = "succeeded"
        self._settle(job, _line(job, gen))

    # -- events and reconciling --------------------------------------------------------------
    def on_event(self, data: dict[str, Any]) -> None:
        """A completion event: apply it if it is one of ours (loop thread)."""
        if self.closing:
            return
        gid = data["generation_id"]
        if gid not in self.tracked:
            # Maybe ours, arriving before the enqueue answer: keep it for ``attach`` (bounded).
            self._early[gid] = data
            while len(self._early) > _EARLY_EVENTS:
                self._early.popitem(last=False)
            return
        status = data.get("status")
        url = data.get("url")
        if status == "succeeded" and (self.policy.confirm_events or not isinstance(url, str)):
            self.runtime.spawn(self.refresh(gid))
            return
        self.apply(gid, {"status": status, "result_url": url, "error_message": data.get("error")})

    def on_connect(self) -> None:
        """The stream is (re)connected: reconcile whatever may have been missed."""
        if self.tracked:
            self.runtime.spawn(self.reconcile())

    async def reconcile(self) -> int:
        """One list call for the active generations, then a GET for each tracked one not in it."""
        if not self.tracked:
            return 0
        wanted = set(self.tracked)
        changes = 0
        seen: set[str] = set()
        try:
            listing = await self.api.request("GET", "/api/ai/queue", safety="safe")
        except KlingError as exc:
            log.info("kling_nb: listing the queue failed: %s", exc.message)
            listing = None
        for row in _rows(listing):
            gid = _row_id(row)
            if gid in wanted:
                seen.add(gid)
                changes += self.apply(gid, row)
        missing = [g for g in wanted - seen if g in self.tracked and g not in self._downloading]
        results = await asyncio.gather(*(self.refresh(g) for g in missing))
        return changes + sum(results)

    async def refresh(self, gid: str) -> int:
        """GET one generation and apply its state; 1 if something changed."""
        try:
            row = await self.api.request(
                "GET", f"/api/ai/queue/{quote(gid, safe='')}", safety="safe"
            )
        except NotFoundError:
            row = {"status": "failed", "error_message": "the server no longer knows this id"}
        except KlingError as exc:
            log.info("kling_nb: polling %s failed: %s", gid, exc.message)
            return 0
        return self.apply(gid, row) if isinstance(row, dict) else 0

    def apply(self, gid: str, row: dict[str, Any]) -> int:
        """Apply the server's view of a generation; 1 if it changed anything."""
        entry = self.tracked.get(gid)
        if entry is None or gid in self._downloading or self.closing:
            return 0
        job, gen = entry
        status = row.get("status")
        before = (gen.status, gen.started_at)
        gen.started_at = gen.started_at or _float(row.get("started_at"))
        gen.completed_at = gen.completed_at or _float(row.get("completed_at"))
        if status == "processing" and gen.status in ("pending", "queued"):
            gen.status = "processing"
            gen.started_at = gen.started_at or time.time()
        elif status == "succeeded":
            url = row.get("result_url") or row.get("url")
            gen.completed_at = gen.completed_at or time.time()
            if isinstance(url, str) and url:
                self._start_download(job, gen, url)
            else:
                self._finish(job, gen, "failed", "the server reported success without a result URL")
            return 1
        elif status == "failed":
            message = row.get("error_message") or row.get("error") or "failed (no message given)"
            self._finish(job, gen, "failed", str(message))
            return 1
        elif status == "cancelled":
            self._finish(job, gen, "cancelled", None)
            return 1
        if (gen.status, gen.started_at) != before:
            self._settle(job, _line(job, gen))
            return 1
        return 0

    async def _poll_loop(self) -> None:
        """The safety poll, or adaptive polling while the event stream is unavailable.

        While polling, a new submission restarts the fast interval; while the stream is up, only
        a change of the listener's mode interrupts the slow safety interval.
        """
        interval = self.policy.fallback_poll_min
        while True:
            polling = self.listener.polling
            wake = self._wake if polling else self.listener.mode_changed
            wake.clear()
            timeout = interval if polling else self.policy.safety_poll_interval
            if await wait_event(wake, timeout):
                interval = self.policy.fallback_poll_min
                continue
            try:
                changes = await self.reconcile()
            except Exception as exc:  # keep the safety net alive whatever one pass met
                log.error("kling_nb: a reconcile pass failed: %s", redact(repr(exc)))
                changes = 0
            if self.listener.polling:
                grow = interval if changes else interval * 1.5
                interval = min(self.policy.fallback_poll_max, grow)

    # -- downloads ---------------------------------------------------------------------------
    def _start_download(self, job: Job, gen: Generation, url: str) -> None:
        gid = gen.id or ""
        self._downloading.add(gid)
        gen.status = "downloading"  # not recorded: to the ledger (and resume) it is still running
        self._settle(job)

        first = self.api.start_download(url, self.ledger.folder, safe_stem(gid))
        if first is None:
            self._spawn_download(job, gen, url, None)
            return
        # The first attempt runs on a worker thread and comes back through one batched call
        # (no task, no asyncio future); a failed one continues in ``_download``.
        first.add_done_callback(
            lambda done: self.runtime.call_soon(
                functools.partial(self._first_download_done, job, gen, url, done)
            )
        )

    def _first_download_done(
        self, job: Job, gen: Generation, url: str, done: concurrent.futures.Future[Saved]
    ) -> None:
        if done.cancelled():  # the client is closing: it stays pending in the ledger
            return
        error = done.exception()
        if error is None:
            self._saved(job, gen, done.result(), url)  # also while closing: the file is there
            return
        if self.closing:  # cut short by the close: it stays pending, for resume()
            return
        if not isinstance(error, Exception):  # e.g. SystemExit on the worker thread
            error = DownloadError(f"the download was interrupted ({error!r})")
        self._spawn_download(job, gen, url, error)

    def _spawn_download(
        self, job: Job, gen: Generation, url: str, first_error: Exception | None
    ) -> None:
        gid = gen.id or ""

        def failed(exc: BaseException) -> None:
            self._downloading.discard(gid)
            if not self.closing:  # paid for: never a final failure (resume() tries again)
                self._save_failed(job, gen, f"saving the result failed: {_short(exc)}")

        self.runtime.spawn(self._download(job, gen, url, first_error), on_error=failed)

    async def _download(
        self, job: Job, gen: Generation, url: str, first_error: Exception | None = None
    ) -> None:
        """Save the result with the download retry rules; ``first_error`` is what a first
        attempt (``Api.start_download``) met: an expired URL goes straight to a fresh one, an
        error worth retrying waits its backoff, any other is the end."""
        gid = gen.id or ""
        folder = self.ledger.folder
        try:
            try:
                first = 1
                if first_error is not None:
                    final = not _retry_download(first_error) or self.policy.download_attempts < 2
                    if isinstance(first_error, ExpiredURLError) or final:
                        raise first_error  # expired: to the fresh URL below; else the end
                    await asyncio.sleep(retry_delay(1, self.policy))
                    first = 2
                if self.closing:  # no new attempt: it stays pending, for resume()
                    self._downloading.discard(gid)
                    return
                saved = await self.api.download(url, folder, safe_stem(gid), first_attempt=first)
            except ExpiredURLError:
                fresh = await self.api.request(
                    "GET", f"/api/ai/queue/{quote(gid, safe='')}", safety="safe"
                )
                fresh_url = fresh.get("result_url") if isinstance(fresh, dict) else None
                if not isinstance(fresh_url, str) or not fresh_url:
                    raise DownloadError("the result URL expired; no fresh one was given") from None
                url = fresh_url
                saved = await self.api.download(url, folder, safe_stem(gid))
        except (KlingError, OSError, httpx.TransportError, Truncated) as exc:
            self._downloading.discard(gid)
            if not self.closing:
                message = exc.message if isinstance(exc, KlingError) else _short(exc)
                self._save_failed(job, gen, message)
            return
        self._saved(job, gen, saved, url)  # also while closing: the file is there

    def _saved(self, job: Job, gen: Generation, saved: Saved, url: str) -> None:
        gid = gen.id or ""
        self._downloading.discard(gid)
        self._save_failures.pop(gid, None)
        gen.result = Result(gid, saved.path, saved.sha256, saved.size, url)
        self._finish(job, gen, "succeeded", None)

    def _save_failed(self, job: Job, gen: Generation, message: str) -> None:
        """The server succeeded but the file was not saved: the result is paid for, so it is
        never a final failure. It stays tracked (each reconcile pass, such as the safety poll,
        gets a fresh URL and tries again) for ``_SAVE_ROUNDS`` rounds; then this client stops,
        and the ledger's "save_failed" makes ``Client().resume()`` try again later."""
        gid = gen.id or ""
        rounds = self._save_failures.get(gid, 0) + 1
        self._save_failures[gid] = rounds
        if rounds < _SAVE_ROUNDS:
            gen.status = "downloading"  # still being saved: the next reconcile pass retries
            gen.error = redact(
                f"the generation succeeded but saving it failed ({message}); retrying with a "
                f"fresh URL at the next poll (round {rounds} of {_SAVE_ROUNDS})"
            )
            self._settle(job, _line(job, gen, "save_failed"))
            return
        self._save_failures.pop(gid, None)
        self.tracked.pop(gid, None)
        gen.status = "failed"
        gen.error = redact(
            f"the generation succeeded but saving it failed {rounds} times (last: {message}). "
            "The result is paid for and stays on the server: Client().resume() from a new "
            "client on this outputs folder (e.g. after a restart) tries again."
        )
        gen.completed_at = gen.completed_at or time.time()
        self._settle(job, _line(job, gen, "save_failed"))

    # -- cancelling and deadlines ------------------------------------------------------------
    async def cancel_job(self, job: Job) -> None:
        """Cancel every generation of ``job`` that may still run."""
        job.cancel_requested = True
        if not job.generation_ids and job.id not in self._sending:
            self._cancel_unsent(job)
            return
        ids = [g.id for g in job.generations if g.id and g.status not in _SERVER_FINAL]
        await asyncio.gather(*(self.cancel_generation(gid) for gid in ids))

    def _cancel_unsent(self, job: Job) -> None:
        if job.done:
            return
        for gen in job.generations:
            gen.status, gen.error = "cancelled", "cancelled before it was sent"
        self._settle(job, *(_line(job, gen) for gen in job.generations))

    async def cancel_generation(self, gid: str) -> None:
        """DELETE one generation, then learn what it became (it may have finished first)."""
        path = f"/api/ai/queue/{quote(gid, safe='')}"
        await self.api.request("DELETE", path, safety="safe")
        if gid not in self.tracked:
            return
        try:
            row = await self.api.request("GET", path, safety="safe")
        except APIStatusError:
            row = {}
        if not isinstance(row, dict) or row.get("status") not in ("succeeded", "failed"):
            row = {"status": "cancelled"}
        self.apply(gid, row)

    def _deadline(self, job: Job) -> None:
        late = [g for g in job.generations if not g.done and g.status != "downloading"]
        if not late:
            return
        minutes = self.policy.deadline_seconds / 60
        for gen in late:
            gen.status = "timed_out"
            gen.error = f"not finished after {minutes:g} min"
        job.error = (
            f"Job {job.id} is past its {minutes:g}-minute deadline; the server may be stuck. "
            f"Cancel it with job.cancel() or `%kling cancel {job.id}`. A late result is still "
            "saved while this client runs."
        )
        self._settle(job, *(_line(job, gen) for gen in late))

    # -- bookkeeping -------------------------------------------------------------------------
    def _finish(self, job: Job, gen: Generation, status: Any, error: str | None) -> None:
        gen.status = status
        gen.error = redact(error) if error else None
        gen.completed_at = gen.completed_at or time.time()
        if gen.id:
            self.tracked.pop(gen.id, None)
        self._settle(job, _line(job, gen))

    def _settle(self, job: Job, *lines: dict[str, Any]) -> None:
        """Write ``lines`` (and the job's line once it is final), then tell the job's observers
        (see ``_flush``): the ledger is up to date when ``wait()`` returns."""
        records = list(lines)
        status = job.status
        if job.done and self._recorded_final.get(job.id) != status and not self.closing:
            self._recorded_final[job.id] = status
            records.append(job_line(job.id, status, job.error))
        self._write(*records)
        self._to_notify[job.id] = job

    def _record(self, job: Job, gen: Generation) -> None:
        """Write the generation's state to the ledger."""
        self._write(_line(job, gen))

    def _record_job(self, job: Job) -> None:
        status = job.status
        if self._recorded_final.get(job.id) == status:
            return
        self._recorded_final[job.id] = status
        self._write(job_line(job.id, status, job.error))

    def _write(self, *records: dict[str, Any]) -> None:
        self._lines.extend(records)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.runtime.loop.call_soon(self._flush)

    def _flush(self) -> None:
        """Write every ledger line of this turn of the loop in one append (in order), then call
        the observers of the jobs that changed: a burst of completions costs one write."""
        self._flush_scheduled = False
        lines, self._lines = self._lines, []
        jobs, self._to_notify = self._to_notify, {}
        if lines:
            try:
                self.ledger.append(*lines)
            except OSError as exc:
                log.error("kling_nb: could not write the ledger: %s", exc)
        for job in jobs.values():
            job.changed()


def _line(job: Job, gen: Generation, status: str | None = None) -> dict[str, Any]:
    """The ledger record of a generation's state (``status`` overrides its status)."""
    result = None
    if gen.result is not None:
        result = {
            "path": gen.result.path.name,
            "sha256": gen.result.sha256,
            "size": gen.result.size,
        }
    record = GenerationRecord(
        index=gen.index,
        generation_id=gen.id,
        status=status or gen.status,
        enqueued_at=gen.enqueued_at,
        started_at=gen.started_at,
        completed_at=gen.completed_at,
        error=gen.error,
        result=result,
    )
    return generation_line(job.id, record)


def _release_when_done(job: Job, slot: asyncio.Semaphore) -> Callable[[Job], None]:
    """Give ``slot`` back once, when ``job`` becomes final; returns the releasing callback."""
    released = False

    def release(j: Job) -> None:
        nonlocal released
        if j.done and not released:
            released = True
            slot.release()

    job.observe(release)
    return release


def _enqueue_key(payload: dict[str, Any]) -> str:
    """What ``_matches`` compares of a payload: enqueues with the same key are identical."""
    same = {k: v for k, v in payload.items() if k == "model" or k not in _NOT_MATCHED}
    return json.dumps(same, sort_keys=True, default=str)


def _matches(row: dict[str, Any], payload: dict[str, Any], sent_at: float) -> bool:
    model = row.get("model_name") or row.get("model")
    if model != payload.get("model"):
        return False
    enqueued = _float(row.get("enqueued_at"))
    if enqueued is not None and enqueued < sent_at - 120:
        return False
    return all(row[k] == v for k, v in payload.items() if k not in _NOT_MATCHED and k in row)


def _retry_download(error: Exception) -> bool:
    """Whether a failed first download attempt is worth more (``Api.download``'s rules)."""
    if isinstance(error, ExpiredURLError | httpx.TransportError | Truncated):
        return True
    return isinstance(error, DownloadError) and error.retryable


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
