"""Fault injection for the simulator: every failure the real Oxen.ai service can show.

Faults are set from ``run(**faults)``, ``Simulator.set_faults(**faults)``,
``POST /_simulator/faults`` (a JSON object) or the command line. Counters such as
``fail_next`` are consumed as they fire.

========================== =============================================================
``enqueue_errors``         next enqueue calls answer these statuses, in order; an entry is
                           ``502`` or ``{"status": 502, "queued": true, "retry_after": 2}``
                           (``queued``: the job was created anyway; 429 sends Retry-After)
``poll_errors``            the same, for the next ``GET /api/ai/queue/{id}`` calls
``upload_errors``          the same, for the next file uploads (``queued``: stored anyway)
``upload_url_ttl_seconds`` presigned file URLs expire this long after they are handed out
``events_drop_after``      close every event stream after N events
``events_unavailable``     ``GET /api/events`` answers 404
``events_lose``            the next N completion events are never sent
``events_duplicate``       every completion event is sent twice
``events_foreign``         other event types and unknown generation ids are mixed in
``fail_next``              the next N generations fail with ``fail_message``
``stuck``                  new generations stay ``processing`` for ever
``result_url_ttl_seconds`` result URLs expire this long after they are handed out
``download_truncate``      the next N downloads stop half way (full Content-Length sent)
``download_bytes_per_second`` throttle result downloads
``result_size_bytes``      pad each result MP4 to this size (a trailing ``free`` box)
``credits_usd``            account balance; an enqueue that costs more answers 402
========================== =============================================================
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

__all__ = ["DEFAULT_FAIL_MESSAGE", "ErrorSpec", "FaultError", "Faults"]

DEFAULT_FAIL_MESSAGE = "Getting model response error: 500 - Simulated model failure (fail_next)"


class FaultError(ValueError):
    """A fault setting that cannot be used; the message names the setting and what it takes."""


@dataclass(frozen=True)
class ErrorSpec:
    """One injected HTTP error: its status, whether the job was queued anyway, and Retry-After."""

    status: int
    queued: bool = False
    retry_after: float | None = None

    @classmethod
    def parse(cls, value: object, name: str) -> ErrorSpec:
        """Read ``502`` or ``{"status": 502, "queued": true, "retry_after": 1}``."""
        if isinstance(value, int) and not isinstance(value, bool):
            spec = cls(status=value)
        elif isinstance(value, Mapping):
            unknown = set(value) - {"status", "queued", "retry_after"}
            if unknown:
                raise FaultError(
                    f"{name}: unknown keys {sorted(unknown)}; use status, queued, retry_after"
                )
            status = value.get("status")
            if not isinstance(status, int) or isinstance(status, bool):
                raise FaultError(f"{name}: each entry needs an integer 'status'")
            retry_after = value.get("retry_after")
            if retry_after is not None and not _is_number(retry_after):
                raise FaultError(f"{name}: 'retry_after' must be a number of seconds")
            spec = cls(
                status=status,
                queued=bool(value.get("queued", False)),
                retry_after=None if retry_after is None else float(retry_after),
            )
        else:
            raise FaultError(
                f"{name}: entries are statuses like 502 or objects like {{'status': 502}}"
            )
        if not 400 <= spec.status <= 599:
            raise FaultError(f"{name}: status {spec.status} is not an HTTP error status (400..599)")
        return spec

    def as_json(self) -> dict[str, Any]:
        """The JSON form, as accepted by :meth:`parse`."""
        return {"status": self.status, "queued": self.queued, "retry_after": self.retry_after}


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


_ERROR_LISTS = ("enqueue_errors", "poll_errors", "upload_errors")
_COUNTS = ("events_lose", "fail_next", "download_truncate")
_FLAGS = ("events_unavailable", "events_duplicate", "events_foreign", "stuck")
_OPTIONAL_POSITIVE = ("events_drop_after", "download_bytes_per_second", "result_size_bytes")


@dataclass
class Faults:
    """The current fault settings. All off by default."""

    enqueue_errors: list[ErrorSpec] = field(default_factory=list)
    poll_errors: list[ErrorSpec] = field(default_factory=list)
    upload_errors: list[ErrorSpec] = field(default_factory=list)
    events_drop_after: int | None = None
    events_unavailable: bool = False
    events_lose: int = 0
    events_duplicate: bool = False
    events_foreign: bool = False
    fail_next: int = 0
    fail_message: str = DEFAULT_FAIL_MESSAGE
    stuck: bool = False
    result_url_ttl_seconds: float = 3600.0
    upload_url_ttl_seconds: float = 3600.0
    download_truncate: int = 0
    download_bytes_per_second: int | None = None
    result_size_bytes: int | None = None
    credits_usd: float | None = None

    @classmethod
    def names(cls) -> list[str]:
        """Every fault name accepted by :meth:`update`."""
        return [f.name for f in dataclasses.fields(cls)]

    def update(self, values: Mapping[str, object]) -> None:
        """Check every value, then apply them all (nothing changes when one is wrong)."""
        parsed = {name: self._parse(name, value) for name, value in values.items()}
        for name, value in parsed.items():
            setattr(self, name, value)

    def _parse(self, name: str, value: object) -> object:
        if name in _ERROR_LISTS:
            if not isinstance(value, list | tuple):
                raise FaultError(f"{name} must be a list, e.g. [502, {{'status': 429}}]")
            return [ErrorSpec.parse(entry, name) for entry in value]
        if name in _COUNTS:
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise FaultError(f"{name} must be a whole number >= 0")
            return value
        if name in _FLAGS:
            if not isinstance(value, bool):
                raise FaultError(f"{name} must be true or false")
            return value
        if name in _OPTIONAL_POSITIVE:
            if value is None:
                return None
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise FaultError(f"{name} must be a whole number >= 1, or null to turn it off")
            return value
        if name == "fail_message":
            if not isinstance(value, str) or not value:
                raise FaultError("fail_message must be a non-empty string")
            return value
        if name in ("result_url_ttl_seconds", "upload_url_ttl_seconds"):
            if not _is_number(value) or float(value) <= 0:
                raise FaultError(f"{name} must be a number of seconds > 0")
            return float(value)
        if name == "credits_usd":
            if value is None:
                return None
            if not _is_number(value) or float(value) < 0:
                raise FaultError("credits_usd must be a number >= 0, or null for unlimited")
            return float(value)
        raise FaultError(f"unknown fault {name!r}; known faults: {', '.join(self.names())}")

    def take_error(self, name: str) -> ErrorSpec | None:
        """Pop the next injected error of ``enqueue_errors``, ``poll_errors`` or
        ``upload_errors``."""
        queue: list[ErrorSpec] = getattr(self, name)
        return queue.pop(0) if queue else None

    def take(self, name: str) -> bool:
        """Consume one unit of a counter fault (``fail_next``...); True when it fired."""
        count: int = getattr(self, name)
        if count > 0:
            setattr(self, name, count - 1)
            return True
        return False

    def as_json(self) -> dict[str, Any]:
        """The current settings as JSON (what ``GET /_simulator/faults`` answers)."""
        out: dict[str, Any] = dataclasses.asdict(self)
        for name in _ERROR_LISTS:
            out[name] = [e.as_json() for e in getattr(self, name)]
        return out
