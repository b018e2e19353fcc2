"""``/_simulator/*``: fault settings, counters, reset and sample images (no auth)."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from kling_nb.simulator.faults import FaultError
from kling_nb.simulator.responses import invalid_params, not_found, read_json
from kling_nb.simulator.samples import SAMPLE_NAMES, sample_png
from kling_nb.simulator.state import SimState

__all__ = ["Control"]


class Control:
    """The simulator's own control endpoints."""

    def __init__(self, state: SimState) -> None:
        self.state = state

    async def sample(self, request: Request) -> Response:
        """``GET /_simulator/samples/{name}.png``."""
        name = str(request.path_params["name"])
        if name not in SAMPLE_NAMES:
            raise not_found()
        png = await asyncio.to_thread(sample_png, name)
        return Response(png, media_type="image/png")

    async def faults(self, request: Request) -> Response:
        """``GET`` or ``POST /_simulator/faults`` (a JSON object of fault settings)."""
        if request.method == "POST":
            body = await read_json(request, self.state.config.max_body_bytes)
            try:
                self.state.faults.update(body)
            except FaultError as exc:
                raise invalid_params(str(exc)) from None
        return JSONResponse(self.state.faults.as_json())

    async def stats(self, request: Request) -> Response:
        """``GET /_simulator/stats``."""
        return JSONResponse(self.state.stats.as_json(len(self.state.subscribers)))

    async def reset(self, request: Request) -> Response:
        """``POST /_simulator/reset``: as good as a restart (see :meth:`SimState.reset`)."""
        self.state.reset()
        return JSONResponse({"status": "success"})
