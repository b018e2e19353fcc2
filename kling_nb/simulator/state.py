"""The simulator's in-memory world: generations, counters and event subscribers.

Everything here is touched only from the server's event loop; other threads go through
:class:`kling_nb.simulator.Simulator`, which hops onto that loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from kling_nb.simulator.faults import Faults

__all__ = ["ACTIVE", "FINAL", "Config", "Generation", "SimState", "Stats", "Status", "Subscriber"]

Status = Literal["queued", "processing", "succeeded", "failed", "cancelled"]
ACTIVE: frozenset[str] = frozenset({"queued", "processing"})
FINAL: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


def _now() -> float:
    return round(time.time(), 3)


@dataclass
class Config:
    """Server settings fixed at start (faults, by contrast, change at run time)."""

    generation_seconds: float = 0.2
    keepalive_seconds: float = 15.0
    api_key: str | None = field(default=None, repr=False)
    video_height: int = 180
    max_body_bytes: int = 1_000_000
    # Render one video per shape (aspect ratio, shots, audio) and give it to every generation
    # of that shape: for load tests, where encoding each result would take most of the CPU.
    reuse_videos: bool = False
    reused: dict[str, asyncio.Future[bytes]] = field(default_factory=dict, repr=False)
    base_url: str = ""  # set once the socket is bound
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))


@dataclass
class Generation:
    """One generation: the request as sent, its state and, once done, its video."""

    model: str
    params: dict[str, Any]  # the request body minus ``num_generations``
    index: int  # position within its enqueue call: the takes of one request differ
    endpoint: Literal["queue", "sync"] = "queue"
    generation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    status: Status = "queued"
    error_message: str | None = None
    enqueued_at: float = field(default_factory=_now)
    started_at: float | None = None
    completed_at: float | None = None
    video: bytes | None = None
    pad_to: int | None = None  # result_size_bytes when it finished
    cost_usd: float = 0.0
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def prompt(self) -> str | None:
        """The prompt, or the shots' prompts joined for a multi-shot request."""
        prompt = self.params.get("prompt")
        if isinstance(prompt, str):
            return prompt
        shots = self.params.get("multi_prompt")
        if isinstance(shots, list):
            texts = [
                s["prompt"]
                for s in shots
                if isinstance(s, dict) and isinstance(s.get("prompt"), str)
            ]
            return " / ".join(texts) if texts else None
        return None

    @property
    def cancelled(self) -> bool:
        """True once cancelled (a cancel can land while the generation's task sleeps)."""
        return self.status == "cancelled"

    def mark_processing(self) -> None:
        """queued -> processing."""
        self.status = "processing"
        self.started_at = _now()

    def finish(self, status: Status, *, error: str | None = None) -> None:
        """Move to a final status, stamping ``completed_at``."""
        self.status = status
        self.error_message = error
        if status != "succeeded":
            self.cost_usd = 0.0  # only successes are billed
        if self.started_at is None and status != "cancelled":
            self.started_at = _now()
        self.completed_at = _now()


@dataclass(eq=False)
class Subscriber:
    """One open ``/api/events`` connection: a queue of SSE frames to write."""

    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)


class Stats:
    """Request counters (``GET /_simulator/stats``)."""

    COUNTERS = (
        "enqueue_calls",
        "generations_created",
        "polls",
        "list_calls",
        "cancels",
        "event_connections",
        "events_sent",
        "keepalives_sent",
        "downloads",
        "downloads_truncated",
        "events_lost",
        "sync_calls",
        "model_calls",
        "history_calls",
        "uploads",
        "presigns",
        "reference_fetches",
    )

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.by_path: Counter[str] = Counter()
        self.by_user_agent: Counter[str] = Counter()

    def bump(self, name: str, n: int = 1) -> None:
        """Add ``n`` to a counter."""
        self.counts[name] += n

    def as_json(self, active_event_connections: int) -> dict[str, Any]:
        """All counters, zeros included."""
        out: dict[str, Any] = {name: self.counts[name] for name in self.COUNTERS}
        out["active_event_connections"] = active_event_connections
        out["requests_by_path"] = dict(self.by_path)
        out["requests_by_user_agent"] = dict(self.by_user_agent)
        return out


class SimState:
    """Generations by id (in creation order), faults, counters and event subscribers."""

    def __init__(self, config: Config, faults: Faults) -> None:
        self.config = config
        self.initial_faults = faults
        self.faults = _copy_faults(faults)
        self.generations: dict[str, Generation] = {}
        self.stats = Stats()
        self.subscribers: set[Subscriber] = set()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.spent_usd = 0.0
        # Repositories: "namespace/name" -> {asset path: (bytes, MIME type)}.
        self.repos: dict[str, dict[str, tuple[bytes, str]]] = {}

    def add(self, generation: Generation) -> None:
        """Record a new generation."""
        self.generations[generation.generation_id] = generation
        self.stats.bump("generations_created")

    def reset(self) -> None:
        """As good as a restart: generations, counters and event streams go; start-up faults."""
        self.close_streams()
        self.subscribers = set()  # the closing streams drop out of a set no one counts
        for task in list(self.tasks):
            task.cancel()
        self.tasks.clear()
        self.generations.clear()
        self.stats = Stats()
        self.faults = _copy_faults(self.initial_faults)
        self.spent_usd = 0.0
        self.repos.clear()

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Start a background task that is kept until it ends (and cancelled on reset)."""
        task: asyncio.Task[Any] = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def close_streams(self) -> None:
        """End every open event stream (server shutdown)."""
        for sub in self.subscribers:
            sub.queue.put_nowait(None)


def _copy_faults(faults: Faults) -> Faults:
    return dataclasses.replace(
        faults,
        enqueue_errors=list(faults.enqueue_errors),
        poll_errors=list(faults.poll_errors),
        upload_errors=list(faults.upload_errors),
    )
