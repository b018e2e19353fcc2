"""A faithful local Oxen.ai API for kling_nb: the same endpoints, bodies, statuses and event
stream, real playable MP4 results, and fault injection.

>>> from kling_nb.simulator import run
>>> with run(generation_seconds=0.2) as sim:  # doctest: +SKIP
...     print(sim.base_url)
http://127.0.0.1:54321

Needs the ``simulator`` extra. The heavy imports happen on first use, so importing this package
(e.g. for the command line) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kling_nb.simulator.server import Simulator, run

__all__ = ["Simulator", "run"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from kling_nb.simulator import server

        return getattr(server, name)
    raise AttributeError(f"module 'kling_nb.simulator' has no attribute {name!r}")
