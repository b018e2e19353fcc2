"""Saving results: one retry loop per result, a fresh URL when the old one cannot serve it.

A result is paid for, so a failed save is never final: ``Downloads`` tries ``Policy.
download_attempts`` times (``retry.download_retry`` decides between the same URL after a backoff,
a fresh URL from the server, or stopping), then reports the failure to its owner, which keeps the
generation for another round (``tracking``) and finally records it ``save_failed`` for
``resume()``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from kling_nb.api import Api
from kling_nb.errors import DownloadError, KlingError, redact
from kling_nb.files import Saved, result_name
from kling_nb.jobs import Generation, Job
from kling_nb.retry import Policy, download_retry, retry_delay
from kling_nb.runtime import Runtime

__all__ = ["Downloads", "fresh_result_url"]

log = logging.getLogger("kling_nb")
#: ``on_end(job, gen, saved, url, error)``: exactly one of ``saved`` and ``error`` is set.
OnEnd = Callable[[Job, Generation, "Saved | None", str, "str | None"], None]


async def fresh_result_url(api: Api, gid: str) -> str:
    """Ask the server for a generation's current result URL."""
    row = await api.request("GET", f"/api/ai/queue/{quote(gid, safe='')}", safety="safe")
    url = row.get("result_url") if isinstance(row, dict) else None
    if not isinstance(url, str) or not url:
        raise DownloadError("the result URL expired and the server gave no fresh one")
    return url


class Downloads:
    """The downloads of one client, each an owned task on the runtime loop."""

    def __init__(
        self, api: Api, policy: Policy, runtime: Runtime, folder: Path, on_end: OnEnd
    ) -> None:
        self.api, self.policy, self.runtime = api, policy, runtime
        self.folder = folder
        self.on_end = on_end
        #: Generation ids (or sync job ids) being saved now.
        self.active: set[str] = set()

    def start(self, job: Job, gen: Generation, url: str) -> None:
        """Save ``gen``'s result in the background; ``on_end`` hears how it ended."""
        key = gen.id or job.id
        self.active.add(key)

        def crashed(exc: BaseException) -> None:
            self._end(job, gen, None, url, f"saving the result failed: {_short(exc)}")

        self.runtime.spawn(self._run(job, gen, url), on_error=crashed)

    async def _run(self, job: Job, gen: Generation, url: str) -> None:
        try:
            saved, url = await self.save(gen.id, url, result_name(gen.id or f"sync-{job.id}"))
        except (KlingError, OSError, httpx.TransportError) as exc:
            self._end(job, gen, None, url, _short(exc))
            return
        self._end(job, gen, saved, url, None)

    def _end(
        self, job: Job, gen: Generation, saved: Saved | None, url: str, error: str | None
    ) -> None:
        self.active.discard(gen.id or job.id)
        # Closing, a download cut short reports nothing (it stays pending); a saved file counts.
        if saved is not None or not self.api.closing:
            self.on_end(job, gen, saved, url, error)

    async def save(self, gid: str | None, url: str, stem: str) -> tuple[Saved, str]:
        """The retry loop: the saved file and the URL it came from; raises the last error.
        Without ``gid`` (a synchronous result) there is no fresh URL to ask for."""
        attempts = max(1, self.policy.download_attempts)
        attempt = 0
        while True:
            attempt += 1
            if self.api.closing:
                raise DownloadError("the client closed before the result was saved")
            try:
                return await self.api.download(url, self.folder, stem), url
            except (DownloadError, httpx.TransportError) as exc:
                what = download_retry(exc)
                if attempt == attempts or what == "stop" or (what == "fresh_url" and not gid):
                    raise
                log.info("kling_nb: download of %s failed (%s); retrying", stem, _short(exc))
                if what == "fresh_url" and gid:
                    url = await fresh_result_url(self.api, gid)
                else:
                    await asyncio.sleep(retry_delay(attempt, self.policy))


def _short(exc: BaseException | Any) -> str:
    text = exc.message if isinstance(exc, KlingError) else f"{type(exc).__name__}: {exc}"
    return redact(text)[:300]
