"""HTTP to the Oxen API with httpx: calls with the retry rules, and result downloads.

API calls run on the client's runtime loop with an ``AsyncClient``. A result's body is read on a
worker thread with a sync ``Client`` (an injected transport serves both): for a large body httpx's
sync stack reads about twice as fast as its async one (measured: ``benchmarks/download.py``), and
the loop stays free meanwhile. The API key is sent only to the configured base origin
(``Authorization`` is added per request, never as a default header), so result URLs on other
hosts never see it (httpx also drops it on a redirect to another origin). Every call has a total
time limit (``Policy``), whatever the server does. A download streams into a locked temporary
file, hashing as it goes, checks the length, and is linked into place (``files``); its
connections read in wide pieces.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import anyio
import httpcore
import httpx

from kling_nb._version import __version__
from kling_nb.env import BASE_URL_ENV
from kling_nb.errors import (
    APIConnectionError,
    APITimeoutError,
    DownloadError,
    ServerError,
    error_for_status,
    redact,
)
from kling_nb.files import PartFile, Saved, extension
from kling_nb.retry import Policy, Safety, retry_delay, should_retry

__all__ = ["USER_AGENT", "Api"]

# Never the word "oxen": the hub answers 426 to agents it takes for its own CLI.
USER_AGENT = f"kling-nb/{__version__} httpx/{httpx.__version__}"


class Api:
    """HTTP calls to one Oxen base URL, with retries per ``Policy``; owns its httpx client.

    ``transport`` replaces httpx's network transport (``httpx.MockTransport`` in tests) and runs
    exactly the same code otherwise.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        policy: Policy,
        transport: httpx.MockTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.policy = policy
        timeout = httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout)
        headers = {"User-Agent": USER_AGENT}
        limits = httpx.Limits(max_connections=policy.max_connections)
        self.client = httpx.AsyncClient(
            transport=transport, timeout=timeout, headers=headers, limits=limits
        )
        #: Result bodies, read on worker threads (see the module docstring). Wide reads come
        #: as a mount, not as the transport, so that httpx's proxy settings still apply.
        wide = None if transport else {"all://": _WideTransport(limits)}
        self.files = httpx.Client(
            transport=transport, mounts=wide, timeout=timeout, headers=headers, limits=limits
        )
        # Calls waiting for a connection wait here, not in httpcore's pool, whose every
        # assignment scans all of its waiting requests (benchmarks/many_jobs.py, 500 enqueues
        # at once: 20.9 ms of CPU per generation without this, 8.4 with it). One connection
        # stays for the event stream.
        self._calls = asyncio.Semaphore(max(1, policy.max_connections - 1))
        #: Set when the client begins to close (``Engine.aclose``), read by the tracker and the
        #: downloads too: from then on reads stop and no failure is recorded.
        self.closing = False
        self._reading = 0  # downloads whose thread is still reading
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._slots: anyio.CapacityLimiter | None = None  # made on the loop, at first use

    def __repr__(self) -> str:
        return f"Api(base_url={self.base_url!r})"

    def url(self, path: str) -> str:
        """The absolute URL of an API path."""
        return self.base_url + path

    def auth_headers(self, url: str) -> dict[str, str]:
        """``Authorization`` for URLs under the base URL only; nothing for any other host.

        A plain prefix test, stricter than parsing: ``https://hub.oxen.ai.evil`` or
        ``https://hub.oxen.ai@evil`` do not match, since the next character must start a path.
        """
        base = self.base_url
        under = url.startswith(base) and url[len(base) : len(base) + 1] in ("", "/", "?")
        return {"Authorization": f"Bearer {self._api_key}"} if under and self._api_key else {}

    async def aclose(self) -> None:
        """Close the connection pools. A download in progress stops at once (closing its
        connection ends a blocked read) and removes its temporary file; waits for that, briefly."""
        self.closing = True
        await self.client.aclose()
        self.files.close()
        await anyio.to_thread.run_sync(self._idle.wait, 5.0)

    async def request(
        self,
        method: str,
        path: str,
        *,
        safety: Safety,
        json: Any = None,
        params: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Send a request with the retry rules; the parsed JSON body, or a ``KlingError``.

        ``timeout`` is the read timeout (default ``policy.read_timeout``); each attempt also ends
        within ``policy.request_total_timeout`` or ``timeout``, the larger. An unsafe call that
        may have reached the server raises ``ServerError`` (5xx, 408, an unreadable answer) or
        ``APIConnectionError`` with ``maybe_sent`` true.
        """
        url = self.url(path)
        context = f"{method} {path}"
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params)
        read = self.policy.read_timeout if timeout is None else timeout
        limit = max(self.policy.request_total_timeout, read)
        headers = self.auth_headers(url)
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self._calls:  # the time limit counts from the slot, not the queue
                    with anyio.fail_after(limit):
                        response = await self.client.request(
                            method,
                            url,
                            json=json,
                            headers=headers,
                            timeout=httpx.Timeout(read, connect=self.policy.connect_timeout),
                        )
            except TimeoutError:
                raise _connection_error(context, f"no whole answer within {limit:g} s") from None
            except httpx.TransportError as exc:
                if attempt <= self.policy.max_retries and should_retry(safety, error=exc):
                    await asyncio.sleep(retry_delay(attempt, self.policy))
                    continue
                raise _connection_error(context, f"{type(exc).__name__}: {exc}", exc) from None
            status = response.status_code
            if status >= 400:
                if attempt <= self.policy.max_retries and should_retry(safety, status=status):
                    after = response.headers.get("retry-after")
                    await asyncio.sleep(retry_delay(attempt, self.policy, retry_after=after))
                    continue
                raise error_for_status(status, response.content, context=context)
            if not response.content.strip():
                return {}
            try:
                return jsonlib.loads(response.content)
            except ValueError:
                raise ServerError(
                    f"{context}: HTTP {status} with an unreadable body. "
                    "Try again in a few minutes.",
                    status_code=status,
                    body=redact(response.content.decode("utf-8", "replace"))[:500],
                ) from None

    async def download(self, url: str, folder: Path, stem: str) -> Saved:
        """One attempt at saving the result at ``url`` as ``folder/<stem><ext>``, redirects
        followed in the same request. Raises ``DownloadError`` (its ``retry`` says what may
        help) or ``httpx.TransportError``; never leaves a partial file behind."""
        scheme = url.partition(":")[0].lower() if ":" in url else ""
        if scheme not in ("http", "https"):
            raise DownloadError(
                f"Refusing to download a result from a non-HTTP(S) URL ({url[:80]!r}); "
                "only http and https are fetched."
            )
        # Cancelled (the client closing), the caller returns at once and the thread stops at its
        # next chunk; anyio's worker threads, started from the runtime's daemon thread, never
        # hold up the interpreter's exit.
        if self._slots is None:
            self._slots = anyio.CapacityLimiter(self.policy.download_threads)
        return await anyio.to_thread.run_sync(
            self._stream_to_file, url, folder, stem, abandon_on_cancel=True, limiter=self._slots
        )

    def _stream_to_file(self, url: str, folder: Path, stem: str) -> Saved:
        with self._lock:
            self._reading += 1
            self._idle.clear()
        try:
            return self._read_to_file(url, folder, stem)
        finally:
            with self._lock:
                self._reading -= 1
                if not self._reading:
                    self._idle.set()

    def _read_to_file(self, url: str, folder: Path, stem: str) -> Saved:
        if self.closing:
            raise DownloadError("the client closed before the result was saved")
        limit = self.policy.download_total_timeout
        deadline = time.monotonic() + limit
        with self.files.stream(
            "GET", url, headers=self.auth_headers(url), follow_redirects=True
        ) as response:
            status = response.status_code
            if status in (401, 403, 404, 410):
                raise DownloadError(
                    f"The result URL answered HTTP {status} (expired?).", retry="fresh_url"
                )
            if status >= 400:
                again = status >= 500 or status in (408, 429)
                raise DownloadError(
                    f"The result URL answered HTTP {status}.",
                    retry="same_url" if again else "stop",
                )
            fields = response.headers
            encoded = fields.get("content-encoding", "identity") not in ("", "identity")
            length = fields.get("content-length")
            expected = int(length) if length and length.isdigit() and not encoded else None
            kind = fields.get("content-type", "")
            ext = extension(kind, response.url.path)
            started = False  # a byte other than blank space seen
            with PartFile(folder, stem, self.policy.max_download_bytes) as part:
                for chunk in response.iter_bytes():
                    if not started and (head := chunk.lstrip()[:1]):
                        started = True
                        if head in (b"<", b"{"):  # no video starts so: HTML, XML or JSON
                            raise _page_error(kind)
                    if self.closing:
                        raise DownloadError("the client closed before the result was saved")
                    if time.monotonic() > deadline:  # a body trickling for ever, say
                        raise DownloadError(
                            f"The result did not arrive within {limit:g} s "
                            "(retry.Policy.download_total_timeout) and was stopped.",
                            retry="fresh_url",
                        )
                    part.write(chunk)
                if expected is not None and part.size != expected:
                    raise DownloadError(
                        f"truncated: got {part.size} of {expected} bytes", retry="same_url"
                    )
                return part.keep(ext)


def _page_error(content_type: str) -> DownloadError:
    """A result body that is a page (an error or sign-in page, say), not the video; its type
    alone decides nothing (a video served as ``text/plain`` is still a video)."""
    kind = content_type.split(";")[0].strip()[:60] or "no type"
    return DownloadError(
        f"The result URL answered a page ({kind}) instead of a video: an error or sign-in "
        "page, say. It was not saved.",
        retry="fresh_url",
    )


# httpcore reads 64 KiB per receive (encode/httpcore#135). For a result body, hashed and written
# as it arrives, each receive's trip through httpcore and h11 costs more than the bytes' own
# work: reading up to 1 MiB at once saves about 0.1 s of CPU per 200 MB (benchmarks/download.py).
WIDE_READ = 1 << 20


class _WideTransport(httpx.HTTPTransport):
    """httpx's transport, its connections reading up to ``WIDE_READ`` bytes at a time."""

    def __init__(self, limits: httpx.Limits) -> None:
        super().__init__(limits=limits)
        # httpx takes no network backend: its pool is made again, the same but for that.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_WideReads(),
        )


class _WideReads(httpcore.SyncBackend):
    def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        return WideStream(super().connect_tcp(*args, **kwargs))


class WideStream(httpcore.NetworkStream):
    """A connection's stream that receives at least ``WIDE_READ`` bytes when it can."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max(max_bytes, WIDE_READ), timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, timeout)

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        return WideStream(self._stream.start_tls(*args, **kwargs))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


def _connection_error(
    context: str, what: str, exc: httpx.TransportError | None = None
) -> APIConnectionError:
    not_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    timed_out = exc is None or isinstance(exc, httpx.TimeoutException)
    cls = APITimeoutError if timed_out else APIConnectionError
    error = cls(
        f"{context}: could not reach the Oxen API ({what}). "
        f"Check the network and {BASE_URL_ENV}, then try again."
    )
    error.maybe_sent = not not_sent
    return error
