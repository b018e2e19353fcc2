"""The async HTTP core: requests with the retry rules, status mapping, and result downloads.

Runs on the client's runtime loop. The API key is sent only to the configured base origin
(``Authorization`` is added per request, never as a default header), so result URLs on other hosts
never see it. Downloads stream to a temporary file in the outputs folder, hash while streaming,
check the length, and are renamed to a safe name built from the generation id.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import hashlib
import json as jsonlib
import logging
import os
import re
import secrets
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from kling_nb._version import __version__
from kling_nb.errors import (
    APIConnectionError,
    APITimeoutError,
    DownloadError,
    ServerError,
    error_for_status,
    redact,
)
from kling_nb.plainhttp import Pool
from kling_nb.retry import Policy, Safety, retry_delay, should_retry
from kling_nb.runtime import DaemonExecutor, run_in_thread

__all__ = [
    "USER_AGENT",
    "Api",
    "ExpiredURLError",
    "Saved",
    "Truncated",
    "safe_stem",
    "save_b64",
]

log = logging.getLogger("kling_nb")

# Never the word "oxen": the hub answers 426 to agents it takes for its own CLI.
USER_AGENT = f"kling-nb/{__version__} httpx/{httpx.__version__}"

_EXTENSIONS = {
    "video/mp4": ".mp4",
    "video/webm": ".webm",
    "video/quicktime": ".mov",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "image/gif": ".gif",
}


def safe_stem(generation_id: str) -> str:
    """A file name stem from an id: only ``[A-Za-z0-9_-]``, at most 100 characters."""
    stem = re.sub(r"[^A-Za-z0-9_-]", "_", generation_id)[:100].strip("_")
    return stem or "generation"


def _extension(content_type: str, url: str) -> str:
    ext = _EXTENSIONS.get(content_type.split(";")[0].strip().lower())
    if ext:
        return ext
    suffix = Path(httpx.URL(url).path).suffix.lower()
    return suffix if suffix in _EXTENSIONS.values() else ".mp4"


class ExpiredURLError(DownloadError):
    """The result URL answered 401/403/404/410: it expired; ask the server for a fresh one."""


@dataclass(frozen=True)
class Saved:
    """A file saved in the outputs folder."""

    path: Path
    sha256: str
    size: int


class Api:
    """HTTP calls to one Oxen base URL, with retries per ``Policy``."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        policy: Policy,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.policy = policy
        # Requests and downloads go through ``plainhttp`` on worker threads (one per request
        # slot) when the URL allows; httpx takes the rest, and everything when a transport is
        # injected (tests). The event stream has a client of its own, with one connection.
        slots = policy.max_concurrent_requests
        timeout = httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout)
        headers = {"User-Agent": USER_AGENT}
        limits = httpx.Limits(max_connections=slots, max_keepalive_connections=slots)
        one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        self._plain: Pool | None = None
        # Downloads run on worker threads with a sync client (see _download_sync), which needs
        # a transport that speaks sync too: the default, or e.g. an injected MockTransport.
        sync_transport = transport if isinstance(transport, httpx.BaseTransport) else None
        stream_transport, sync_stream_transport = transport, sync_transport
        if transport is None:  # one TLS context for all (loading the CA bundle is slow)
            tls = httpx.create_ssl_context()
            self._plain = Pool(tls, max_idle=slots)
            transport = httpx.AsyncHTTPTransport(verify=tls, limits=limits)
            stream_transport = httpx.AsyncHTTPTransport(verify=tls, limits=one)
            sync_transport = httpx.HTTPTransport(verify=tls, limits=limits)
            sync_stream_transport = httpx.HTTPTransport(verify=tls, limits=one)
        self.client = httpx.AsyncClient(
            transport=transport, timeout=timeout, headers=headers, limits=limits
        )
        self.stream_client = httpx.AsyncClient(
            transport=stream_transport, timeout=timeout, headers=headers, limits=one
        )
        self._slots = asyncio.Semaphore(slots)
        self._sync: httpx.Client | None = None
        #: The event stream's client for a reading thread (see ``events``); ``None`` with an
        #: injected transport that only speaks async (``stream_client`` is used then).
        self.stream_sync: httpx.Client | None = None
        if sync_transport is not None:
            self._sync = httpx.Client(
                transport=sync_transport, timeout=timeout, headers=headers, limits=limits
            )
            self.stream_sync = httpx.Client(
                transport=sync_stream_transport, timeout=timeout, headers=headers, limits=one
            )
        self._threads = DaemonExecutor(slots, "kling-nb-http")
        self._closing = threading.Event()

    def __repr__(self) -> str:
        return f"Api(base_url={self.base_url!r})"

    def url(self, path: str) -> str:
        """The absolute URL of an API path."""
        return self.base_url + path

    def auth_headers(self, url: str) -> dict[str, str]:
        """``Authorization`` for URLs under the base URL only; nothing for any other host.

        A plain prefix test (cheaper than parsing, and stricter): ``https://hub.oxen.ai.evil``
        or ``https://hub.oxen.ai@evil`` do not match, since the next character must start a path.
        """
        base = self.base_url
        under = url.startswith(base) and url[len(base) : len(base) + 1] in ("", "/", "?")
        return {"Authorization": f"Bearer {self._api_key}"} if under and self._api_key else {}

    async def aclose(self) -> None:
        """Stop the download threads and close the connection pools."""
        self._closing.set()  # a thread stops at its next chunk and removes its temporary file
        self._threads.shutdown(wait=False, cancel_futures=True)
        if self._plain is not None:
            self._plain.close()
        for sync in (self._sync, self.stream_sync):
            if sync is not None:
                sync.close()
        await self.stream_client.aclose()
        await self.client.aclose()

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

        An unsafe call that may have reached the server raises ``ServerError`` (5xx, 408, an
        unreadable answer) or ``APIConnectionError`` with ``maybe_sent`` true.
        """
        url = self.url(path)
        context = f"{method} {path}"
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params)
        body = None if json is None else _json_bytes(json)
        read_timeout = self.policy.read_timeout if timeout is None else timeout
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self._slots:
                    status, retry_after, content = await self._send(method, url, body, read_timeout)
            except httpx.TransportError as exc:
                if attempt <= self.policy.max_retries and should_retry(safety, error=exc):
                    await asyncio.sleep(retry_delay(attempt, self.policy))
                    continue
                raise _connection_error(context, exc) from None
            if status >= 400:
                if attempt <= self.policy.max_retries and should_retry(safety, status=status):
                    await asyncio.sleep(retry_delay(attempt, self.policy, retry_after=retry_after))
                    continue
                raise error_for_status(status, content, context=context)
            if not content.strip():
                return {}
            try:
                return jsonlib.loads(content)
            except ValueError:
                raise ServerError(
                    f"{context}: HTTP {status} with an unreadable body. "
                    "Try again in a few minutes.",
                    status_code=status,
                    body=redact(content[:500].decode("utf-8", "replace")),
                ) from None

    async def _send(
        self, method: str, url: str, body: bytes | None, read_timeout: float
    ) -> tuple[int, str | None, bytes]:
        """One attempt: the status, ``Retry-After`` and body (``plainhttp`` or httpx)."""
        headers = {"User-Agent": USER_AGENT, **self.auth_headers(url)}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self._plain is not None:
            answer = await run_in_thread(
                self._threads,
                self._plain.request,
                method,
                url,
                headers,
                body,
                self.policy.connect_timeout,
                read_timeout,
            )
            if answer is not None:
                return answer.status, answer.headers.get("retry-after"), answer.content
        response = await self.client.request(
            method,
            url,
            content=body,
            headers=headers,
            timeout=httpx.Timeout(read_timeout, connect=self.policy.connect_timeout),
        )
        return response.status_code, response.headers.get("retry-after"), response.content

    async def download(self, url: str, folder: Path, stem: str, *, first_attempt: int = 1) -> Saved:
        """Stream ``url`` into ``folder/<stem><ext>``; redo a truncated transfer (bounded:
        attempts ``first_attempt`` to ``policy.download_attempts``, for a caller that already
        made the first ones)."""
        # Not httpx.URL(url): it checks every character of a long presigned URL, and the
        # request parses it again anyway.
        scheme = url.partition(":")[0].lower() if ":" in url else ""
        if scheme not in ("http", "https"):
            raise DownloadError(
                f"Refusing to download a result from a non-HTTP(S) URL ({url[:80]!r}); "
                "only http and https are fetched."
            )
        problem = ""
        for attempt in range(first_attempt, max(first_attempt, self.policy.download_attempts) + 1):
            try:
                async with self._slots:
                    return await self._download_once(url, folder, stem)
            except ExpiredURLError:
                raise
            except Truncated as exc:
                problem = str(exc)
            except httpx.TransportError as exc:
                problem = f"connection failed ({type(exc).__name__})"
            except DownloadError as exc:
                if exc.retryable:
                    problem = exc.message
                else:
                    raise
            log.info("kling_nb: download of %s failed (%s); retrying", stem, problem)
            await asyncio.sleep(retry_delay(attempt, self.policy))
        raise DownloadError(
            f"Could not download the result of generation {stem} after "
            f"{self.policy.download_attempts} attempts ({problem}). The result URL expires in "
            "about an hour: fetch it yourself from the generation (client.history()), or run "
            "client.resume() to try again."
        )

    def start_download(
        self, url: str, folder: Path, stem: str
    ) -> concurrent.futures.Future[Saved] | None:
        """One attempt of ``download`` started on a worker thread, with no loop involved until
        it ends (the cheap path for the common case); ``None`` where only ``download`` can
        (an injected async-only transport, or a URL it refuses with the reason)."""
        scheme = url.partition(":")[0].lower() if ":" in url else ""
        if self._sync is None or scheme not in ("http", "https") or self._closing.is_set():
            return None
        return self._threads.submit(self._download_sync, url, folder, stem, self._closing)

    async def _download_once(self, url: str, folder: Path, stem: str) -> Saved:
        if self._sync is None:  # an injected transport that only speaks async
            return await self._download_async(url, folder, stem)
        stop = threading.Event()
        loop = asyncio.get_running_loop()
        work = loop.run_in_executor(self._threads, self._download_sync, url, folder, stem, stop)
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            stop.set()  # the thread stops at its next chunk and removes its temporary file
            raise

    def _download_sync(self, url: str, folder: Path, stem: str, stop: threading.Event) -> Saved:
        """One transfer on a worker thread: ``plainhttp`` when the URL allows it, else
        httpx's sync client; either reads a large body at least twice as fast as the async
        stack, and two more threads write and hash it meanwhile."""
        assert self._sync is not None
        headers = self.auth_headers(url)
        batch = self.policy.download_chunk_bytes
        if self._plain is not None:  # the default transport (an injected one is always used)
            plain = self._plain.open_get(
                url,
                {"User-Agent": USER_AGENT, **headers},
                self.policy.connect_timeout,
                self.policy.read_timeout,
            )
            if plain is not None:
                try:
                    expected, final = _target(plain.status, plain.headers, url, folder, stem)
                    body = plain.body(batch, expected or 0)
                    return self._save(body, expected, final, folder, stem, stop)
                finally:
                    plain.close()
        with self._sync.stream("GET", url, headers=headers, follow_redirects=True) as response:
            status, fields = response.status_code, response.headers
            expected, final = _target(status, fields, url, folder, stem)
            return self._save(response.iter_bytes(), expected, final, folder, stem, stop)

    def _save(
        self,
        chunks: Iterable[bytes | bytearray],
        expected: int | None,
        final: Path,
        folder: Path,
        stem: str,
        stop: threading.Event,
    ) -> Saved:
        fd, tmp = _temp_file(folder, stem)
        try:
            with _Sink(fd, self.policy.download_chunk_bytes) as sink:
                for chunk in chunks:
                    if stop.is_set() or self._closing.is_set():
                        raise DownloadError("The download was stopped (client closed).")
                    sink.add(chunk)
            return _keep(sink, expected, tmp, final)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def _download_async(self, url: str, folder: Path, stem: str) -> Saved:
        headers = self.auth_headers(url)
        async with self.client.stream(
            "GET", url, headers=headers, follow_redirects=True
        ) as response:
            status, fields = response.status_code, response.headers
            expected, final = _target(status, fields, url, folder, stem)
            fd, tmp = _temp_file(folder, stem)
            try:
                with _Sink(fd, self.policy.download_chunk_bytes) as sink:
                    async for chunk in response.aiter_bytes():
                        sink.add(chunk)
                        if sink.busy():  # wait for the threads off the loop, not on it
                            await asyncio.to_thread(sink.wait, _Sink._AHEAD - 1)
                return _keep(sink, expected, tmp, final)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise


def _target(
    status: int, headers: Mapping[str, str], url: str, folder: Path, stem: str
) -> tuple[int | None, Path]:
    """Check a result's status; the length to expect (if stated) and the final path.
    ``headers`` is httpx's (any case) or lower-case names."""
    if status in (401, 403, 404, 410):
        raise ExpiredURLError(f"The result URL answered HTTP {status} (expired?).")
    if status >= 400:
        error = DownloadError(f"The result URL answered HTTP {status}.")
        error.retryable = status >= 500 or status in (408, 429)
        raise error
    encoded = headers.get("content-encoding", "identity") not in ("", "identity")
    length = headers.get("content-length")
    expected = int(length) if length and length.isdigit() and not encoded else None
    final = folder / (stem + _extension(headers.get("content-type", ""), url))
    return expected, final


def _keep(sink: _Sink, expected: int | None, tmp: str, final: Path) -> Saved:
    """Check the length of a written body, then rename its temporary file into place."""
    if expected is not None and sink.size != expected:
        raise Truncated(f"truncated: got {sink.size} of {expected} bytes")
    os.replace(tmp, final)
    return Saved(path=final, sha256=sink.digest.hexdigest(), size=sink.size)


class _Sink:
    """Writes a body to ``fd`` and hashes it. Chunks are gathered into batches of ``batch``
    bytes; each batch is written by one thread and hashed by another (``os.write`` and sha256
    both release the GIL), so reading, writing and hashing overlap. At most ``_AHEAD`` batches
    are held, which smooths over slow writes while keeping memory small. A body under one batch
    is written on the caller's thread without starting any. Closing waits for the threads and
    closes ``fd``.
    """

    _AHEAD = 3

    def __init__(self, fd: int, batch: int) -> None:
        self.fd, self.batch = fd, batch
        self.digest = hashlib.sha256()
        self.size = 0
        self._parts: list[bytes | bytearray] = []
        self._held = 0
        self._threads: tuple[ThreadPoolExecutor, ThreadPoolExecutor] | None = None
        self._pending: deque[tuple[Future[None], Future[None]]] = deque()

    def __enter__(self) -> _Sink:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        try:
            if kind is None:
                self.wait(0)
                if self._parts:
                    data = b"".join(self._parts)
                    self._write(data)
                    self.digest.update(data)
                    self._parts = []
        finally:
            for pool in self._threads or ():
                pool.shutdown(wait=True, cancel_futures=True)
            os.close(self.fd)

    def add(self, chunk: bytes | bytearray) -> None:
        """Take one chunk; hand a full batch on (blocks while the threads are too far behind)."""
        self._parts.append(chunk)
        self._held += len(chunk)
        self.size += len(chunk)
        if self._held < self.batch:
            return
        data = self._parts[0] if len(self._parts) == 1 else b"".join(self._parts)
        self._parts, self._held = [], 0
        self.wait(self._AHEAD - 1)
        if self._threads is None:
            name = "kling-nb-save"
            self._threads = ThreadPoolExecutor(1, name), ThreadPoolExecutor(1, name)
        writer, hasher = self._threads
        self._pending.append(
            (writer.submit(self._write, data), hasher.submit(self.digest.update, data))
        )

    def busy(self) -> bool:
        """Whether the threads are as far behind as allowed (the next batch would block)."""
        while self._pending and all(f.done() for f in self._pending[0]):
            for f in self._pending.popleft():
                f.result()
        return len(self._pending) >= self._AHEAD

    def wait(self, behind: int) -> None:
        """Wait until at most ``behind`` batches are in hand (raising a thread's error)."""
        while len(self._pending) > behind:
            for f in self._pending.popleft():
                f.result()

    def _write(self, data: bytes | bytearray) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]


def _json_bytes(value: Any) -> bytes:
    """A JSON body as httpx encodes it (UTF-8, compact, no NaN)."""
    text = jsonlib.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8")


def _temp_file(folder: Path, stem: str) -> tuple[int, str]:
    """A hidden ``.part`` file beside the final one (same file system, so the rename is atomic),
    readable like any other file (``mkstemp`` alone makes it private to its owner)."""
    # What mkstemp does (a random name, O_EXCL, retry on a clash) without its per-call set-up.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = str(folder / f".{stem}.{secrets.token_hex(6)}.part")
        try:
            fd = os.open(tmp, flags, 0o600)
        except FileExistsError:
            continue
        except FileNotFoundError:  # no folder (yet, or any more): make it, then try again
            folder.mkdir(parents=True, exist_ok=True)
            continue
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o644)
        return fd, tmp
    raise FileExistsError(f"Could not create a temporary file in {folder}.")


def save_b64(data: str, folder: Path, stem: str) -> Saved:
    """Decode a ``b64_json`` result and save it as ``folder/<stem>.mp4`` (temp file, rename)."""
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise DownloadError("The server sent an unreadable b64_json video.") from None
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{stem}.mp4"
    fd, tmp = _temp_file(folder, stem)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Saved(path=final, sha256=hashlib.sha256(raw).hexdigest(), size=len(raw))


class Truncated(Exception):
    """A result body shorter than its ``Content-Length``: the download is redone."""


def _connection_error(context: str, exc: httpx.TransportError) -> APIConnectionError:
    not_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    cls = APITimeoutError if isinstance(exc, httpx.TimeoutException) else APIConnectionError
    error = cls(
        f"{context}: could not reach the Oxen API ({type(exc).__name__}: {exc}). "
        "Check the network and KLING_NB_BASE_URL, then try again."
    )
    error.maybe_sent = not not_sent
    return error
