"""Local reference images, uploaded once per content to the user's Oxen.ai repository.

At submit (on the client's loop, just before the enqueue) ``Uploader.resolve`` turns every local
image token of a request body into a presigned URL the model can fetch. The endpoints, as public
client code shows them (not the official docs; kept here only)::

    GET  /api/users/me                                   -> {"user": {"username": ...}}
    GET  /api/repos/{ns}/{repo}                           (404: POST /api/repos/ creates it)
    POST /api/repos/{ns}/{repo}/workbench/context         multipart file + directory
                                                         -> {"asset_path": ...}
    GET  /api/repos/{ns}/{repo}/file/presigned_url/main/{asset_path}
                                                         -> {"url": ...} (about an hour)

``<outputs>/uploads.json`` remembers each content hash's asset path (per host and repository), so
an image is uploaded once; a presigned URL is asked for at every submission (they expire), and a
404 on it uploads again. An upload with an uncertain answer is never resent blindly: the expected
asset is looked up first. The ledger gets an ``upload`` line per image and job (file name,
content hash, asset path), never a URL.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from kling_nb.api import USER_AGENT, Api
from kling_nb.env import UPLOAD_REPO_ENV
from kling_nb.errors import (
    APIConnectionError,
    KlingError,
    NotFoundError,
    PermissionDeniedError,
    ServerError,
    error_for_status,
)
from kling_nb.local_images import LocalImage, local_tokens, lookup, map_references, parse_token
from kling_nb.records import UploadRecord
from kling_nb.retry import retry_delay, should_retry
from kling_nb.store import Ledger

__all__ = ["CACHE_NAME", "DEFAULT_REPO", "UPLOAD_DIRECTORY", "UploadCache", "Uploader"]

DEFAULT_REPO = "playground"  # where Oxen's own web workbench keeps its uploads
UPLOAD_DIRECTORY = "kling_nb"
CACHE_NAME = "uploads.json"
_CACHE_FORMAT = 1


class UploadCache:
    """``<folder>/uploads.json``: content sha256 -> asset path, per host and repository."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / CACHE_NAME
        self._lock = threading.Lock()

    def _read(self) -> dict[str, dict[str, dict[str, Any]]]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except (OSError, ValueError):
            return {}  # none yet, or unreadable: uploading again is harmless
        ok = isinstance(data, dict) and data.get("v") == _CACHE_FORMAT
        scopes = data.get("uploads") if ok else None
        return scopes if isinstance(scopes, dict) else {}

    def get(self, scope: str, sha256: str) -> str | None:
        """The asset path recorded for this content in ``scope`` (host and repository)."""
        with self._lock:
            entry = self._read().get(scope, {}).get(sha256)
        asset = entry.get("asset_path") if isinstance(entry, dict) else None
        return asset if isinstance(asset, str) else None

    def put(self, scope: str, sha256: str, name: str, asset_path: str | None) -> None:
        """Record (or, with ``asset_path=None``, forget) an upload; the file is replaced whole."""
        with self._lock:
            scopes = self._read()
            entries = scopes.setdefault(scope, {})
            if asset_path is None:
                entries.pop(sha256, None)
            else:
                entries[sha256] = {"name": name, "asset_path": asset_path, "time": time.time()}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".uploads-", dir=self.path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"v": _CACHE_FORMAT, "uploads": scopes}, f, indent=1, sort_keys=True)
            os.replace(tmp, self.path)


class Uploader:
    """Uploads a client's local images and asks for presigned URLs, on the client's loop."""

    def __init__(self, api: Api, ledger: Ledger, repo: str | None = None) -> None:
        self.api = api
        self.ledger = ledger
        spec = (repo or os.environ.get(UPLOAD_REPO_ENV) or DEFAULT_REPO).strip("/")
        namespace, _, name = spec.rpartition("/")
        if not name or "/" in namespace:
            raise KlingError(f"{UPLOAD_REPO_ENV} must be REPO or NAMESPACE/REPO, not {spec!r}.")
        self._namespace: str | None = namespace or None
        self._repo = name
        self.cache = UploadCache(ledger.folder)
        self._ready = False  # the repository is known to exist
        self._locks: dict[str, asyncio.Lock] = {}

    async def resolve(self, job_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        """``payload`` with each local image token replaced by a fresh presigned URL."""
        tokens = local_tokens(payload)
        if not tokens:
            return payload
        urls: dict[str, str] = {}
        lines = []
        for token in tokens:
            parsed = parse_token(token)
            assert parsed is not None
            sha256, name = parsed
            asset, url = await self._presigned(sha256, name)
            urls[token] = url
            where = await self._where()
            lines.append(
                UploadRecord(
                    job_id=job_id, name=name, sha256=sha256, asset_path=asset, repository=where
                )
            )
        self.ledger.append(*lines)
        return map_references(payload, lambda v: urls.get(v, v) if isinstance(v, str) else v)

    # -- one image ---------------------------------------------------------------------------
    async def _presigned(self, sha256: str, name: str) -> tuple[str, str]:
        """``(asset_path, url)``: uploaded once per content (cached), presigned every time."""
        lock = self._locks.setdefault(sha256, asyncio.Lock())
        async with lock:  # two jobs with one new image upload it once
            scope = f"{self.api.base_url} {await self._where()}"
            asset = self.cache.get(scope, sha256)
            if asset is not None:
                url = await self._presign(asset)
                if url is not None:
                    return asset, url
                self.cache.put(scope, sha256, name, None)  # gone from the repository
            image = lookup(sha256)
            if image is None:
                raise KlingError(
                    f"{name}: this local image was not uploaded from {self.cache.path.parent} "
                    "and is not loaded in this session: give its file path again."
                )
            asset = await self._upload(image)
            self.cache.put(scope, sha256, name, asset)
            url = await self._presign(asset)
            if url is None:
                raise KlingError(
                    f"{name}: uploaded as {asset}, but the repository has no such file. "
                    "Try again; if it persists, check the repository on Oxen.ai."
                )
            return asset, url

    async def _upload(self, image: LocalImage) -> str:
        """``POST .../workbench/context``. After an uncertain answer (5xx, a lost answer) the
        file is looked up by its name, which carries its content hash; it is sent once more
        only when it is certainly not there."""
        data = image.read()
        filename = f"{image.sha256[:16]}-{image.name}"
        expected = f"{UPLOAD_DIRECTORY}/{filename}"
        path = f"{await self._repo_path()}/workbench/context"
        url = self.api.url(path)
        attempt, looked = 0, False
        while True:
            attempt += 1
            try:
                response = await self.api.client.post(
                    url,
                    files={"file": (filename, data, image.mime)},
                    data={"directory": UPLOAD_DIRECTORY},
                    headers={"User-Agent": USER_AGENT, **self.api.auth_headers(url)},
                )
            except httpx.TransportError as exc:
                if attempt <= self.api.policy.max_retries and should_retry("unsafe", error=exc):
                    await asyncio.sleep(retry_delay(attempt, self.api.policy))
                    continue  # it never left: sending it again cannot upload twice
                cause = type(exc).__name__
            else:
                status = response.status_code
                if status == 429 and attempt <= self.api.policy.max_retries:
                    wait = retry_delay(
                        attempt, self.api.policy, retry_after=response.headers.get("retry-after")
                    )
                    await asyncio.sleep(wait)
                    continue
                if 400 <= status < 500 and status != 408:
                    raise error_for_status(status, response.content, context=f"POST {path}")
                asset = _asset_path(response) if status < 400 else None
                if asset is not None:
                    return asset
                cause = f"HTTP {status}" if status >= 400 else "an answer without asset_path"
            if await self._presign(expected) is not None:
                return expected  # it landed after all
            if looked:
                raise KlingError(
                    f"{image.name}: the upload to {await self._where()} failed twice ({cause}); "
                    "nothing was queued. Submit again in a few minutes."
                )
            looked = True  # certainly not there: one more upload cannot make a second copy

    async def _presign(self, asset_path: str) -> str | None:
        """A presigned URL for ``asset_path``, or None if the repository has no such file."""
        path = f"{await self._repo_path()}/file/presigned_url/main/{quote(asset_path)}"
        try:
            answer = await self.api.request("GET", path, safety="safe")
        except NotFoundError:
            return None
        url = answer.get("url") if isinstance(answer, dict) else None
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ServerError(f"GET {path}: the answer has no URL.", status_code=200, body=None)
        return url

    # -- the repository ----------------------------------------------------------------------
    async def _where(self) -> str:
        """``namespace/repo``; the namespace is the key's user unless configured."""
        if self._namespace is None:
            answer = await self.api.request("GET", "/api/users/me", safety="safe")
            user = answer.get("user") if isinstance(answer, dict) else None
            name = user.get("username") if isinstance(user, dict) else None
            if not isinstance(name, str) or not name:
                raise ServerError(
                    "GET /api/users/me: the answer names no user.", status_code=200, body=None
                )
            self._namespace = name
        return f"{self._namespace}/{self._repo}"

    async def _repo_path(self) -> str:
        """``/api/repos/{ns}/{repo}``, created (private) the first time if it is missing."""
        where = await self._where()
        path = f"/api/repos/{quote(where)}"
        if self._ready:
            return path
        try:
            await self.api.request("GET", path, safety="safe")
        except (NotFoundError, PermissionDeniedError):
            body = {
                "name": self._repo,
                "namespace": self._namespace,
                "description": "Reference images uploaded by kling_nb",
                "visibility": "private",
            }
            try:
                await self.api.request("POST", "/api/repos/", safety="unsafe", json=body)
            except (ServerError, APIConnectionError):
                await self.api.request("GET", path, safety="safe")  # made after all?
            except KlingError as exc:
                raise KlingError(
                    f"Cannot create the repository {where} for reference images: {exc.message} "
                    "Set KLING_NB_UPLOAD_REPO to NAMESPACE/REPO of yours."
                ) from None
        self._ready = True
        return path


def _asset_path(response: httpx.Response) -> str | None:
    try:
        answer = response.json()
    except ValueError:
        return None
    asset = answer.get("asset_path") if isinstance(answer, dict) else None
    return asset if isinstance(asset, str) and asset else None
