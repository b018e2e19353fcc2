"""Tracking generations until they are final: events, reconcile, polling, deadlines, cancel.

Everything here runs on the client's runtime loop. Generations are tracked by server id until
they are final; completion events, reconcile passes (after every (re)connect, on the safety poll,
and in polling mode) and cancel calls all funnel into ``apply``, so a duplicated or late answer
changes nothing twice. Timed-out generations stay tracked: a late success is still saved. A
succeeded generation whose file could not be saved stays tracked for ``_SAVE_ROUNDS`` rounds
(each reconcile pass gives a fresh URL); the ledger calls it ``save_failed`` meanwhile, and after
the last round, so ``resume()`` tries again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from kling_nb.api import Api
from kling_nb.downloads import Downloads
from kling_nb.errors import APIStatusError, KlingError, NotFoundError, redact
from kling_nb.events import EventListener
from kling_nb.files import Saved
from kling_nb.jobs import Generation, Job, Result
from kling_nb.journal import Journal
from kling_nb.retry import Policy
from kling_nb.runtime import Runtime, wait_event
from kling_nb.state import SERVER_FINAL

__all__ = ["Tracker", "row_id", "rows"]

log = logging.getLogger("kling_nb")
_EARLY_EVENTS = 1000
_SAVE_ROUNDS = 3


def rows(listing: Any) -> list[dict[str, Any]]:
    """The generation rows of a queue answer or listing."""
    if isinstance(listing, dict):
        listing = listing.get("generations") or listing.get("data") or []
    return [r for r in listing if isinstance(r, dict)] if isinstance(listing, list) else []


def row_id(row: dict[str, Any]) -> str | None:
    """A row's generation id."""
    gid = row.get("generation_id") or row.get("id")
    return gid if isinstance(gid, str) else None


class Tracker:
    """The generations of one client that are not final yet, and what moves them on."""

    def __init__(self, api: Api, policy: Policy, runtime: Runtime, journal: Journal) -> None:
        self.api, self.policy, self.runtime, self.journal = api, policy, runtime, journal
        self.tracked: dict[str, tuple[Job, Generation]] = {}
        self.listener = EventListener(
            api, policy, on_event=self.on_event, on_connect=self.on_connect
        )
        # Set on a new generation to follow, or a change of the listener's mode: the poll
        # loop picks its next interval again.
        self.wake = self.listener.mode_changed
        self.downloads = Downloads(api, policy, runtime, journal.ledger.folder, self._saved)
        self._early: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._save_rounds: dict[str, int] = {}

    # -- starting to track -------------------------------------------------------------------
    def attach(self, job: Job, found: Iterable[dict[str, Any]], *, adopted: bool = False) -> None:
        """Track the generations the server created for ``job`` and record their ids.

        Adopted rows (found in a listing, not in an enqueue answer) already tracked by another
        job are left to it.
        """
        now = time.time()
        found = list(found)
        if adopted:
            found = [r for r in found if self.tracked.get(row_id(r) or "", (job,))[0] is job]
        lines = []
        sent = [g for g in job.generations if g.status == "pending"]  # not the replayed takes
        for gen, row in zip(sent, found, strict=False):
            gen.id = row_id(row)
            gen.enqueued_at = _float(row.get("enqueued_at")) or now
            if gen.id:
                self.tracked[gen.id] = (job, gen)
            lines += job.set(gen, "queued")
        for gen in sent[len(found) :]:
            lines += job.set(gen, "failed", error="the server created fewer generations than asked")
        self.journal.write(job, lines)
        for row in found:
            gid = row_id(row)
            if gid in self.tracked and row.get("status") in SERVER_FINAL | {"processing"}:
                self.apply(gid, row)
            early = self._early.pop(gid, None) if gid else None
            if early is not None:
                self.on_event(early)
        # From the enqueue answer, not the submission: a batch job may wait long for a slot.
        self.runtime.loop.call_later(self.policy.deadline_seconds, self.deadline, job)
        if job.cancel_requested:
            self.runtime.spawn(self.cancel_job(job))
        self.wake.set()

    def track_existing(self, job: Job) -> None:
        """Re-attach to a job's recorded generations (resume): track, reconcile, then the
        deadline counted from when they were enqueued (a deadline never means "send again")."""
        for gen in job.generations:
            if gen.id and not gen.done:
                self.tracked[gen.id] = (job, gen)
            elif gen.result_url and gen.result is None and not gen.done:
                self.downloads.start(job, gen, gen.result_url)  # a sync result never saved
        self.journal.write(job)
        self.runtime.spawn(self._reconcile_then_deadline(job))

    async def _reconcile_then_deadline(self, job: Job) -> None:
        try:
            await self.reconcile()
        finally:
            enqueued = [g.enqueued_at for g in job.generations if g.enqueued_at is not None]
            start = min(enqueued) if enqueued else job.created_at
            delay = max(0.0, start + self.policy.deadline_seconds - time.time())
            self.runtime.loop.call_later(delay, self.deadline, job)

    # -- events and reconciling --------------------------------------------------------------
    def on_event(self, data: dict[str, Any]) -> None:
        """A completion event: apply it if it is one of ours."""
        if self.api.closing:
            return
        gid = data["generation_id"]
        if gid not in self.tracked:
            # Maybe ours, arriving before the enqueue answer: keep it for ``attach`` (bounded).
            self._early[gid] = data
            while len(self._early) > _EARLY_EVENTS:
                self._early.popitem(last=False)
            return
        status, url = data.get("status"), data.get("url")
        if status == "succeeded" and (self.policy.confirm_events or not isinstance(url, str)):
            self.runtime.spawn(self.refresh(gid))
            return
        self.apply(gid, {"status": status, "result_url": url, "error_message": data.get("error")})

    def on_connect(self) -> None:
        """The stream is (re)connected: reconcile whatever may have been missed."""
        if self.tracked:
            self.runtime.spawn(self.reconcile())

    async def reconcile(self, full: bool = True) -> int:
        """One list call for the active generations, then (``full``) a GET for each tracked one
        not in it; a status poll makes the list call alone."""
        if not self.tracked:
            return 0
        wanted, seen, changes = set(self.tracked), set(), 0
        try:
            listing = await self.api.request("GET", "/api/ai/queue", safety="safe")
        except KlingError as exc:
            log.info("kling_nb: listing the queue failed: %s", exc.message)
            listing = None
        for row in rows(listing):
            gid = row_id(row)
            if gid in wanted:
                seen.add(gid)
                changes += self.apply(gid, row)
        active = self.downloads.active
        missing = [g for g in wanted - seen if g in self.tracked and g not in active and full]
        return changes + sum(await asyncio.gather(*(self.refresh(g) for g in missing)))

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
        if entry is None or gid in self.downloads.active or self.api.closing:
            return 0
        job, gen = entry
        status = row.get("status")
        before = (gen.status, gen.started_at)
        gen.started_at = gen.started_at or _float(row.get("started_at"))
        gen.completed_at = gen.completed_at or _float(row.get("completed_at"))
        if status == "succeeded":
            url = row.get("result_url") or row.get("url")
            gen.completed_at = gen.completed_at or time.time()
            if isinstance(url, str) and url:
                # Not recorded: to the ledger (and resume) it is still running until saved.
                gen.status = "downloading"
                self.journal.write(job)
                self.downloads.start(job, gen, url)
            else:  # paid for: asked again at the next poll, then kept for resume()
                self._saved(job, gen, None, "", "the server reported success without a result URL")
            return 1
        if status in ("failed", "cancelled"):
            message = row.get("error_message") or row.get("error") or "failed (no message given)"
            self._finish(job, gen, status, str(message) if status == "failed" else None)
            return 1
        lines = []
        if status == "processing" and gen.status in ("pending", "queued"):
            gen.started_at = gen.started_at or time.time()
            lines = job.set(gen, "processing")
        if (gen.status, gen.started_at) != before:
            self.journal.write(job, lines or [gen.to_record(job.id)])
            return 1
        return 0

    def _finish(self, job: Job, gen: Generation, status: Any, error: str | None) -> None:
        if gen.id:
            self.tracked.pop(gen.id, None)
        self.journal.write(job, job.set(gen, status, error=error))

    # -- results -----------------------------------------------------------------------------
    def _saved(
        self, job: Job, gen: Generation, saved: Saved | None, url: str, error: str | None
    ) -> None:
        """A download ended: the result is saved, or it goes round again (see the docstring)."""
        gid = gen.id or ""
        if saved is not None:
            self._save_rounds.pop(gid, None)
            gen.result_url = None
            result = Result(gid or job.id, saved.path, saved.sha256, saved.size, url)
            self.tracked.pop(gid, None)
            self.journal.write(job, job.set(gen, "succeeded", result=result))
            return
        rounds = self._save_rounds.get(gid, 0) + 1
        self._save_rounds[gid] = rounds
        if gid in self.tracked and rounds < _SAVE_ROUNDS:
            note = (
                f"the generation succeeded but saving it failed ({error}); retrying with a "
                f"fresh URL at the next poll (round {rounds} of {_SAVE_ROUNDS})"
            )
            gen.status, gen.error = "downloading", redact(note)
            self.journal.write(job, [gen.to_record(job.id, "save_failed")])
            return
        self._save_rounds.pop(gid, None)
        self.tracked.pop(gid, None)
        note = (
            f"the generation succeeded but saving it failed {rounds} times (last: {error}). "
            "The result is paid for: Client().resume() from a new client on this outputs folder "
            "(e.g. after a restart) tries again."
        )
        self.journal.write(job, job.set(gen, "failed", error=note, recorded_as="save_failed"))

    # -- polling, deadlines and cancelling ---------------------------------------------------
    async def poll_loop(self) -> None:
        """Adaptive polling while the event stream is unavailable. With the stream up, the slow
        safety poll (a full reconcile), and while a generation is still queued a status poll in
        between (the list call alone: the stream says nothing until the end, and the views show
        the server's "processing" when it starts).

        A new generation, or a change of the listener's mode, makes it pick its interval again:
        while polling, the fast interval starts over; with the stream up, the interval counts
        from the last pass, so a stream of new submissions never postpones it.
        """
        interval = self.policy.fallback_poll_min
        last = last_full = time.monotonic()
        while True:
            polling = self.listener.polling
            self.wake.clear()
            full = True
            if polling:
                left = interval
            else:
                queued = any(g.status in ("pending", "queued") for _, g in self.tracked.values())
                due_full = last_full + self.policy.safety_poll_interval
                due = min(due_full, last + self.policy.status_poll_interval) if queued else due_full
                full = due == due_full
                left = max(0.0, due - time.monotonic())
            if await wait_event(self.wake, left):
                interval = self.policy.fallback_poll_min
                continue
            last = time.monotonic()
            last_full = last if full else last_full
            try:
                changes = await self.reconcile(full)
            except Exception as exc:  # keep the safety net alive whatever one pass met
                log.warning("kling_nb: a reconcile pass failed: %s", redact(repr(exc)))
                changes = 0
            if self.listener.polling:
                grow = interval if changes else interval * 1.5
                interval = min(self.policy.fallback_poll_max, grow)

    def deadline(self, job: Job) -> None:
        """Stop waiting for ``job``'s generations still running: ``timed_out`` (they stay
        tracked, so a late success is still saved; a re-run adopts them, never resends)."""
        late = [g for g in job.generations if not g.done and g.status != "downloading"]
        if not late:
            return
        minutes = self.policy.deadline_seconds / 60
        job.error = (
            f"Job {job.id} is past its {minutes:g}-minute deadline; the server may be stuck. "
            f"Cancel it with job.cancel() or `%kling cancel {job.id}`. A late result is still "
            "saved while this client runs."
        )
        lines = []
        for gen in late:
            lines += job.set(gen, "timed_out", error=f"not finished after {minutes:g} min")
        self.journal.write(job, lines)

    async def cancel_job(self, job: Job, sending: bool = False) -> None:
        """Cancel every generation of ``job`` that may still run."""
        job.cancel_requested = True
        if not job.generation_ids and not sending:
            self.cancel_unsent(job)
            return
        ids = [g.id for g in job.generations if g.id and g.status not in SERVER_FINAL]
        await asyncio.gather(*(self.cancel_generation(gid) for gid in ids))

    def cancel_unsent(self, job: Job) -> None:
        """Cancel a job before anything was sent for it."""
        if job.done:
            return
        lines = []
        for gen in job.generations:
            lines += job.set(gen, "cancelled", error="cancelled before it was sent")
        self.journal.write(job, lines)

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


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
