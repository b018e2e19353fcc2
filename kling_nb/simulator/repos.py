"""The repository endpoints a client needs to hand the model a local image.

``GET /api/users/me``, ``GET /api/repos/{ns}/{repo}``, ``POST /api/repos/``, the workbench's
multipart upload and presigned file URLs, shaped as public client code shows the hub's. Each key
is its own user (``user-`` and 8 hex digits of the key's hash): another user's repository answers
404, as the hub does to a key that cannot see it. Presigned URLs point back at the simulator
(``/_simulator/files/...?expires=...&oxen_signature=...``), need no auth, and give 403 once
``upload_url_ttl_seconds`` have passed or when forged.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from urllib.parse import quote

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from kling_nb.simulator.responses import (
    ApiError,
    error_body,
    injected_error,
    invalid_params,
    not_found,
    read_json,
)
from kling_nb.simulator.state import SimState

__all__ = ["MAX_UPLOAD_BYTES", "Repos", "user_for"]

MAX_UPLOAD_BYTES = 40 * 1024 * 1024
_FILES = "/_simulator/files/"


def user_for(token: str) -> str:
    """The user name the simulator gives an API key."""
    return "user-" + hashlib.sha256(token.encode()).hexdigest()[:8]


def _signature(secret: bytes, path: str, expires: str) -> str:
    return hmac.new(secret, f"{path}:{expires}".encode(), hashlib.sha256).hexdigest()


class Repos:
    """Handlers for users, repositories, uploads and presigned file URLs."""

    def __init__(self, state: SimState, authorize: Callable[[Request], None]) -> None:
        self.state = state
        self._authorize = authorize

    def _user(self, request: Request) -> str:
        self._authorize(request)  # 401 without a (the) key
        token = request.headers["authorization"].partition(" ")[2].strip()
        return user_for(token)

    def _repo(self, request: Request) -> tuple[str, dict[str, tuple[bytes, str]]]:
        """The caller's repository named in the path; 404 if missing or someone else's."""
        user = self._user(request)
        namespace = str(request.path_params["namespace"])
        name = f"{namespace}/{request.path_params['repo']}"
        files = self.state.repos.get(name)
        if namespace != user or files is None:
            raise not_found()
        return name, files

    async def me(self, request: Request) -> Response:
        """``GET /api/users/me``."""
        user = self._user(request)
        return JSONResponse({"user": {"username": user, "name": user, "email": None}})

    async def get_repo(self, request: Request) -> Response:
        """``GET /api/repos/{namespace}/{repo}``."""
        name, files = self._repo(request)
        return JSONResponse({"status": "success", "repository": _repository(name, len(files))})

    async def create_repo(self, request: Request) -> Response:
        """``POST /api/repos/``: ``{"name", "namespace", "description", "visibility"}``."""
        user = self._user(request)
        body = await read_json(request, self.state.config.max_body_bytes)
        repo, namespace = body.get("name"), body.get("namespace")
        if not isinstance(repo, str) or not repo or "/" in repo or not isinstance(namespace, str):
            raise invalid_params("name and namespace are required; name has no '/'")
        if namespace != user:
            detail = f"You cannot create repositories in {namespace}."
            raise ApiError(403, error_body("forbidden", "Forbidden", detail))
        name = f"{namespace}/{repo}"
        if name in self.state.repos:
            raise ApiError(409, error_body("conflict", "Repository already exists"))
        self.state.repos[name] = {}
        return JSONResponse({"status": "success", "repository": _repository(name, 0)})

    async def upload(self, request: Request) -> Response:
        """``POST /api/repos/{ns}/{repo}/workbench/context``: multipart ``file`` + ``directory``."""
        self.state.stats.bump("uploads")
        _, files = self._repo(request)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES:
            raise ApiError(413, error_body("payload_too_large", "File too large"))
        async with request.form() as form:
            upload, directory = form.get("file"), form.get("directory") or "oxen/context"
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise invalid_params("multipart needs a 'file' part with a file name")
            if not isinstance(directory, str):
                raise invalid_params("'directory' must be a text field")
            filename = upload.filename.rsplit("/", 1)[-1]
            data = await upload.read()
            mime = upload.content_type or "application/octet-stream"
        injected = self.state.faults.take_error("upload_errors")
        asset = f"{directory.strip('/')}/{filename}"
        if injected is None or injected.queued:
            files[asset] = (data, mime)
        if injected is not None:
            raise injected_error(injected)
        return JSONResponse(
            {"status": "success", "asset_path": asset, "filename": filename, "size": len(data)}
        )

    async def presign(self, request: Request) -> Response:
        """``GET /api/repos/{ns}/{repo}/file/presigned_url/main/{asset_path}``."""
        self.state.stats.bump("presigns")
        name, files = self._repo(request)
        asset = str(request.path_params["asset_path"])
        if asset not in files:
            raise not_found()
        path = f"{name}/{asset}"
        expires = f"{time.time() + self.state.faults.upload_url_ttl_seconds:.3f}"
        signature = _signature(self.state.config.secret, path, expires)
        url = (
            f"{self.state.config.base_url}{_FILES}{quote(path)}"
            f"?expires={expires}&oxen_signature={signature}"
        )
        return JSONResponse({"url": url})

    def _presigned_file(self, path: str, expires: str, signature: str) -> tuple[bytes, str]:
        """The file a presigned URL names; ``ApiError`` 403 if forged or expired, 404 if gone."""
        expected = _signature(self.state.config.secret, path, expires)
        try:
            deadline = float(expires)
        except ValueError:
            deadline = 0.0
        if not hmac.compare_digest(expected, signature):
            raise ApiError(403, error_body("forbidden", "The signature does not match"))
        if time.time() > deadline:
            raise ApiError(403, error_body("forbidden", "The link has expired"))
        namespace, repo, asset = [*path.split("/", 2), "", ""][:3]
        found = self.state.repos.get(f"{namespace}/{repo}", {}).get(asset)
        if found is None:
            raise not_found()
        return found

    async def file(self, request: Request) -> Response:
        """``GET /_simulator/files/{ns}/{repo}/{asset}?expires=...&oxen_signature=...``."""
        path = str(request.path_params["path"])
        query = request.query_params
        data, mime = self._presigned_file(
            path, query.get("expires", ""), query.get("oxen_signature", "")
        )
        return Response(data, media_type=mime)


def _repository(name: str, files: int) -> dict[str, object]:
    namespace, repo = name.split("/", 1)
    return {"name": repo, "namespace": namespace, "visibility": "private", "files": files}
