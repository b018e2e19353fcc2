"""The simulator's Starlette app: routes, the 426 and counting layer, JSON errors for all."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from kling_nb.simulator.api import Api
from kling_nb.simulator.control import Control
from kling_nb.simulator.events import EventStream
from kling_nb.simulator.repos import Repos
from kling_nb.simulator.responses import ApiError, error_body, not_found
from kling_nb.simulator.results import ResultDownload
from kling_nb.simulator.state import SimState

__all__ = ["build_app"]


class _Front:
    """Outermost layer: counts requests by path and User-Agent; 426 for an "oxen" agent."""

    def __init__(self, app: ASGIApp, state: SimState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        agent = request.headers.get("user-agent", "")
        self.state.stats.by_path[request.url.path] += 1
        self.state.stats.by_user_agent[agent] += 1
        if "oxen" in agent.lower() and request.url.path.startswith("/api/"):
            response = JSONResponse(
                error_body(
                    "upgrade_required",
                    "Please upgrade your oxen client",
                    "This User-Agent is treated as the oxen CLI; use one without the word 'oxen'.",
                ),
                status_code=426,
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return not_found().response()
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        return JSONResponse(
            error_body("method_not_allowed", "Method not allowed", f"Allowed methods: {allowed}"),
            status_code=405,
            headers=exc.headers,
        )
    return JSONResponse(
        error_body("http_error", str(exc.detail)), status_code=exc.status_code, headers=exc.headers
    )


Handler = Callable[[Request], Awaitable[Response]]


def _by_method(**handlers: Handler) -> Handler:
    """One endpoint for several methods, so that a 405 lists every allowed method."""

    async def endpoint(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await handlers[method](request)

    return endpoint


def build_app(state: SimState) -> ASGIApp:
    """The complete ASGI app for one simulator."""
    api = Api(state)
    control = Control(state)
    repos = Repos(state, api.authorize)
    repo = "/api/repos/{namespace}/{repo}"
    routes = [
        Route(
            "/api/ai/queue",
            _by_method(POST=api.enqueue, GET=api.list_queue),
            methods=["GET", "POST"],
        ),
        Route(
            "/api/ai/queue/{generation_id}",
            _by_method(GET=api.poll, DELETE=api.cancel),
            methods=["GET", "DELETE"],
        ),
        Route("/api/ai/videos/generate", api.generate, methods=["POST"]),
        Route("/api/events", EventStream(state, api.authorize), methods=["GET"]),
        Route("/api/ai/models", api.models, methods=["GET"]),
        Route("/api/ai/models/{model_id}", api.model, methods=["GET"]),
        Route("/api/ai/generations", api.history, methods=["GET"]),
        Route("/api/users/me", repos.me, methods=["GET"]),
        Route("/api/repos/", repos.create_repo, methods=["POST"]),
        Route(repo, repos.get_repo, methods=["GET"]),
        Route(f"{repo}/workbench/context", repos.upload, methods=["POST"]),
        Route(
            f"{repo}/file/presigned_url/main/{{asset_path:path}}", repos.presign, methods=["GET"]
        ),
        Route("/_simulator/files/{path:path}", repos.file, methods=["GET"]),
        Route(
            "/_simulator/results/{generation_id}.mp4",
            ResultDownload(state),
            methods=["GET"],
        ),
        Route("/_simulator/samples/{name}.png", control.sample, methods=["GET"]),
        Route("/_simulator/faults", control.faults, methods=["GET", "POST"]),
        Route("/_simulator/stats", control.stats, methods=["GET"]),
        Route("/_simulator/reset", control.reset, methods=["POST"]),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
    )
    return _Front(app, state)
