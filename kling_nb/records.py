"""The ledger's records, as pydantic models: what each line holds, checked when read.

Every line carries ``v`` (the format, 1), ``type``, ``time`` (Unix seconds) and ``job_id``::

    submission  request (canonical JSON object), request_hash, model, num_generations,
                estimated_cost, endpoint ("queue" or "sync"), forced, simulated, base_url,
                kling_nb_version
    generation  index, generation_id, status, enqueued_at, started_at, completed_at, error,
                result ({"path" relative to the folder, "sha256", "size"} or null)
    job         status, error, uncertain
    upload      name, sha256, asset_path, repository (a local reference image the job used)
    copy        index, path, sha256, size, audio (a copy of a result VS Code plays with sound)

``to_record()`` gives the line's JSON object, ``from_record()`` reads one back and raises
``pydantic.ValidationError`` for a record of another version or with a field of the wrong type.
``JobRecord`` is what the lines of one job fold into.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from typing_extensions import NotRequired, Self, TypedDict

from kling_nb._version import __version__
from kling_nb.state import ACTIVE

__all__ = [
    "FORMAT",
    "CopyRecord",
    "GenerationRecord",
    "JobLine",
    "JobRecord",
    "Line",
    "SavedFile",
    "SubmissionRecord",
    "UploadRecord",
    "parse_record",
]

FORMAT = 1
_MAX_GENERATIONS = 4  # the API's limit (requests.validate_num_generations)


class SavedFile(TypedDict):
    """A saved result: its path relative to the outputs folder, sha256 and size."""

    path: str
    sha256: str
    size: int
    source: NotRequired[str]


class _Line(BaseModel):
    # Strict: a bool is not a number, a number is not a string. Unknown fields are kept, so a
    # newer version's additions survive a rewrite by this one.
    model_config = ConfigDict(strict=True, extra="allow", frozen=True)

    v: Literal[1] = 1
    time: float = Field(default_factory=time.time)
    job_id: str

    def to_record(self) -> dict[str, Any]:
        """The line's JSON object."""
        return self.model_dump()

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Self:
        """Read a line's JSON object (``ValidationError`` if it is not this record)."""
        return cls.model_validate(record)


class SubmissionRecord(_Line):
    """The first line of a job, written before anything is sent."""

    type: Literal["submission"] = "submission"
    request: dict[str, Any] = Field(default_factory=dict)
    request_hash: str = ""
    model: str = ""
    num_generations: Annotated[int, Field(ge=1, le=_MAX_GENERATIONS)] = 1
    estimated_cost: float | None = None
    endpoint: str = "queue"
    forced: bool = False
    simulated: bool = False
    base_url: str = ""
    kling_nb_version: str = __version__


class GenerationRecord(_Line):
    """The state of one generation (the latest line of each generation wins)."""

    type: Literal["generation"] = "generation"
    index: Annotated[int, Field(ge=0, lt=_MAX_GENERATIONS)] = 0
    generation_id: str | None = None
    status: str = "pending"
    enqueued_at: float | None = None
    started_at: float | None = None
    completed_at: float | None = None
    error: str | None = None
    result: SavedFile | None = None
    #: A synchronous call's result URL, kept until it is saved (it has no generation id).
    result_url: str | None = None


class JobLine(_Line):
    """A job's overall status, written when it becomes final."""

    type: Literal["job"] = "job"
    status: str
    error: str | None = None
    #: Its enqueue may have reached the server: a re-run or ``resume()`` looks for it there.
    uncertain: bool = False


class UploadRecord(_Line):
    """A local image a job used: its name, content hash and asset path (never a URL)."""

    type: Literal["upload"] = "upload"
    name: str
    sha256: str
    asset_path: str
    repository: str


class CopyRecord(_Line):
    """A copy made of one result with other audio (``audio`` "mp3": one VS Code plays with
    sound); informational, replay and resume ignore it."""

    type: Literal["copy"] = "copy"
    index: int
    path: str
    sha256: str
    size: int
    audio: str = "mp3"


Line = SubmissionRecord | GenerationRecord | JobLine | UploadRecord | CopyRecord
_ANY_LINE: TypeAdapter[Line] = TypeAdapter(Annotated[Line, Field(discriminator="type")])


def parse_record(record: object) -> Line | None:
    """A line's record; None for a type this version does not know (e.g. written by a newer
    one); ``ValueError`` (``ValidationError``) for another format version or a known type it
    cannot read."""
    if not isinstance(record, dict) or type(record.get("v")) is not int or record["v"] != FORMAT:
        raise ValueError(f"not a format-{FORMAT} ledger record")
    if record.get("type") not in ("submission", "generation", "job", "upload", "copy"):
        return None
    return _ANY_LINE.validate_python(record)


@dataclass
class JobRecord:
    """Everything the ledger knows about one submission."""

    job_id: str
    request: dict[str, Any]
    request_hash: str
    model: str
    num_generations: int
    estimated_cost: float | None
    endpoint: str
    simulated: bool
    base_url: str
    created_at: float
    status: str = "submitting"
    error: str | None = None
    uncertain: bool = False
    generations: dict[int, GenerationRecord] = field(default_factory=dict)

    @classmethod
    def from_submission(cls, line: SubmissionRecord) -> JobRecord:
        """A job as its submission line describes it, every generation still pending."""
        return cls(
            job_id=line.job_id,
            request=line.request,
            request_hash=line.request_hash,
            model=line.model,
            num_generations=line.num_generations,
            estimated_cost=line.estimated_cost,
            endpoint=line.endpoint,
            simulated=line.simulated,
            base_url=line.base_url,
            created_at=line.time,
            generations={
                i: GenerationRecord(job_id=line.job_id, index=i, time=line.time)
                for i in range(line.num_generations)
            },
        )

    @property
    def pending(self) -> list[GenerationRecord]:
        """Generations that may still end in a saved result: with a server id and still running
        when last recorded, or a synchronous result not saved yet."""
        return [
            g
            for g in self.generations.values()
            if (g.generation_id and g.status in ACTIVE)
            or (g.result_url and g.status == "save_failed")
        ]

    @property
    def unsent(self) -> bool:
        """Recorded, but no answer to its enqueue was: the process stopped while sending it
        (``resume()`` and a re-run look for it on the server, never send it again)."""
        return self.endpoint == "queue" and self.status == "submitting" and not self._answered

    @property
    def maybe_queued(self) -> bool:
        """Unsent, or its enqueue failed in a way that may have queued (and billed) it and it
        was not found on the server: a re-run of the same request looks for it again instead
        of paying twice (``--force`` sends it anew); ``resume()`` has already looked."""
        return self.unsent or (self.endpoint == "queue" and self.uncertain and not self._answered)

    @property
    def _answered(self) -> bool:
        """Whether a take has a server id from this job's enqueue (or adoption). A take
        replayed from an earlier run (recorded succeeded and saved with the submission) has
        its old id, and says nothing about this job's enqueue."""
        return any(
            g.generation_id and not (g.status == "succeeded" and g.result)
            for g in self.generations.values()
        )
