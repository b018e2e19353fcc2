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
import hashlib
import logging
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

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
from kling_nb.netbackend import async_transport
from kling_nb.retry import Policy, Safety, retry_delay, should_retry

__all__ = ["USER_AGENT", "Api", "ExpiredURLError", "Saved", "safe_stem", "save_b64"]

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
        # One connection per request slot. The event stream has a client (and pool) of its own:
        # httpcore scans every pooled connection on each request, so a long-lived stream in
        # the same pool would only add to that cost.
        slots = policy.max_concurrent_requests
        timeout = httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout)
        headers = {"User-Agent": USER_AGENT}
        limits = httpx.Limits(max_connections=slots, max_keepalive_connections=slots)
        one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        stream_transport = transport
        if transport is None:  # one TLS context for both (loading the CA bundle is slow)
            tls = httpx.create_ssl_context()
            transport, stream_transport = async_transport(limits, tls), async_transport(one, tls)
        self.client = httpx.AsyncClient(
            transport=transport, timeout=timeout, headers=headers, limits=limits
        )
        self.stream_client = httpx.AsyncClient(
            transport=stream_transport, timeout=timeout, headers=headers, limits=one
        )
        self._slots = asyncio.Semaphore(slots)

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
        """Close the connection pools."""
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
        extra: dict[str, Any] = {}
        if timeout is not None:
            extra["timeout"] = httpx.Timeout(timeout, connect=self.policy.connect_timeout)
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self._slots:
                    response = await self.client.request(
                        method,
                        url,
                        json=json,
                        params=params,
                        headers=self.auth_headers(url),
                        **extra,
                    )
            except httpx.TransportError as exc:
                if attempt <= self.policy.max_retries and should_retry(safety, error=exc):
                    await asyncio.sleep(retry_delay(attempt, self.policy))
                    continue
                raise _connection_error(context, exc) from None
            if response.status_code >= 400:
                if attempt <= self.policy.max_retries and should_retry(
                    safety, status=response.status_code
                ):
                    delay = retry_delay(
                        attempt, self.policy, retry_after=response.headers.get("retry-after")
                    )
                    await asyncio.sleep(delay)
                    continue
                raise error_for_status(response.status_code, response.content, context=context)
            if not response.content.strip():
                return {}
            try:
                return response.json()
            except ValueError:
                raise ServerError(
                    f"{context}: HTTP {response.status_code} with an unreadable body. "
                    "Try again in a few minutes.",
                    status_code=response.status_code,
                    body=redact(response.text[:500]),
                ) from None

    async def download(self, url: str, folder: Path, stem: str) -> Saved:
        """Stream ``url`` into ``folder/<stem><ext>``; redo a truncated transfer (bounded)."""
        # Not httpx.URL(url): it checks every character of a long presigned URL, and the
        # request parses it again anyway.
        scheme = url.partition(":")[0].lower() if ":" in url else ""
        if scheme not in ("http", "https"):
            raise DownloadError(
                f"Refusing to download a result from a non-HTTP(S) URL ({url[:80]!r}); "
                "only http and https are fetched."
            )
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
        problem = ""
        for attempt in range(1, self.policy.download_attempts + 1):
            try:
                async with self._slots:
                    return await self._download_once(url, folder, stem)
            except ExpiredURLError:
                raise
            except _Truncated as exc:
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

    async def _download_once(self, url: str, folder: Path, stem: str) -> Saved:
        headers = self.auth_headers(url)
        async with self.client.stream(
            "GET", url, headers=headers, follow_redirects=True
        ) as response:
            status = response.status_code
            if status in (401, 403, 404, 410):
                raise ExpiredURLError(f"The result URL answered HTTP {status} (expired?).")
            if status >= 400:
                error = DownloadError(f"The result URL answered HTTP {status}.")
                error.retryable = status >= 500 or status in (408, 429)
                raise error
            encoded = response.headers.get("content-encoding", "identity") not in ("", "identity")
            length = response.headers.get("content-length")
            expected = int(length) if length and length.isdigit() and not encoded else None
            final = folder / (stem + _extension(response.headers.get("content-type", ""), url))
            fd, tmp = _temp_file(folder, stem)
            digest = hashlib.sha256()
            size = 0
            try:
                with os.fdopen(fd, "wb") as f:
                    size = await _pipe(response, f, digest, self.policy.download_chunk_bytes)
                if expected is not None and size != expected:
                    raise _Truncated(f"truncated: got {size} of {expected} bytes")
                os.replace(tmp, final)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return Saved(path=final, sha256=digest.hexdigest(), size=size)


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


async def _pipe(response: httpx.Response, f: BinaryIO, digest: hashlib._Hash, batch: int) -> int:
    """Copy the body to ``f`` and ``digest``: the loop reads batch n+1 while a worker thread
    writes and hashes batch n (both release the GIL), so memory stays at two batches."""
    loop = asyncio.get_running_loop()
    pending: asyncio.Future[None] | None = None
    size = 0
    buffer = bytearray()

    def sink(data: bytearray) -> None:
        f.write(data)
        digest.update(data)

    try:
        async for chunk in response.aiter_bytes():
            buffer += chunk
            size += len(chunk)
            if len(buffer) >= batch:
                if pending is not None:
                    await pending
                pending, buffer = loop.run_in_executor(None, sink, buffer), bytearray()
    finally:
        if pending is not None:
            await asyncio.shield(pending)
    if buffer:
        sink(buffer)
    return size


class _Truncated(Exception):
    pass


def _connection_error(context: str, exc: httpx.TransportError) -> APIConnectionError:
    not_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    cls = APITimeoutError if isinstance(exc, httpx.TimeoutException) else APIConnectionError
    error = cls(
        f"{context}: could not reach the Oxen API ({type(exc).__name__}: {exc}). "
        "Check the network and KLING_NB_BASE_URL, then try again."
    )
    error.maybe_sent = not not_sent
    return error
