"""Request models: every rule of the seed documents, checked before anything is sent.

``VideoRequest.model_validate(body)`` accepts the JSON bodies the server accepts and raises
``pydantic.ValidationError`` for what it would refuse, in the server's words::

    >>> VideoRequest(prompt="A puppy runs through a park").total_duration
    5
    >>> VideoRequest(prompt="a", multi_prompt=[Shot(prompt="b")])
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for VideoRequest
      Value error, Cannot provide both 'prompt' and 'multi_prompt'. ...

Every local rule has a name (see ``RULES``); each error's ``type`` is the name of the rule it
broke, and ``VideoRequest.unchecked(body, ignore=[...])`` builds a request that breaks named rules
on purpose.
"""

from __future__ import annotations

import difflib
import json
import warnings
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from kling_nb.canonical import canonical_body, request_hash_of
from kling_nb.catalog import (
    ASPECT_RATIOS,
    DEFAULT_MODEL,
    ModelSpec,
    UnknownModelError,
    get_model,
)
from kling_nb.local_images import reference
from kling_nb.request_checks import CFG_SCALE_RANGE, CHOICES, RESPONSE_FORMATS, check_request
from kling_nb.request_parts import Element, RequestModel, Shot
from kling_nb.rules import (
    MAX_PROMPT_CHARS,
    RULES,
    SHOT_DURATION_MESSAGE,
    Checks,
    LocalRuleWarning,
    check_unknown,
    rule_context,
    validate_num_generations,
)
from kling_nb.wording import error_summary, field_errors

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "ASPECT_RATIOS",
    "MAX_PROMPT_CHARS",
    "RESPONSE_FORMATS",
    "RULES",
    "Element",
    "LocalRuleWarning",
    "Shot",
    "VideoRequest",
    "error_summary",
    "estimate_cost",
    "field_errors",
    "format_cost",
    "validate_num_generations",
]


_NOT_A_FIELD = {
    "num_generations": (
        "num_generations is not part of the request: pass num_generations=N to Client.submit "
        "(or -n N to %%kling)."
    ),
}


class VideoRequest(RequestModel):
    """The JSON body of one Kling generation (``model`` plus its parameters), checked locally.

    ``model`` takes an id or an alias (``"o3-pro"``) and holds the full id. Unset fields are not
    sent; ``canonical()`` fills in the server's defaults.
    """

    model: str = Field(DEFAULT_MODEL, description="Model id or alias, e.g. 'o3-pro'.")
    prompt: str | None = Field(
        None,
        description=f"Single prompt; use this or multi_prompt. Max {MAX_PROMPT_CHARS} characters.",
        json_schema_extra={"maxLength": MAX_PROMPT_CHARS},
    )
    multi_prompt: list[Shot] | None = Field(
        None, description="Shots, each with its prompt and duration (total 3-15 s)."
    )
    duration: int | None = Field(
        None, description="Seconds, with prompt (default 5).", json_schema_extra={"minimum": 1}
    )
    input_image: list[str] | str | None = Field(
        None, description="Reference image URLs, @Image1, @Image2... in prompts."
    )
    start_image_url: str | None = Field(None, description="First frame of the video (URL).")
    tail_image_url: str | None = Field(
        None, description="Last frame of the video (URL); requires start_image_url."
    )
    elements: list[Element] | None = Field(
        None, description="Character or object references, @Element1... in prompts."
    )
    negative_prompt: str | None = Field(None, description="What to avoid in the video.")
    aspect_ratio: str | None = Field(
        None, description="Video aspect ratio.", json_schema_extra={"enum": list(ASPECT_RATIOS)}
    )
    generate_audio: bool | None = Field(None, description="Generate native audio (zh/en).")
    response_format: str | None = Field(
        None,
        description="Sync endpoint only: a hosted URL or base64 bytes.",
        json_schema_extra={"enum": list(RESPONSE_FORMATS)},
    )
    target_namespace: str | None = Field(
        None, description="User or organisation billed, where results are saved."
    )
    # Parameters of the other Kling models in the catalog.
    cfg_scale: float | None = Field(
        None,
        description="How closely to follow the prompt (0-10).",
        json_schema_extra={"minimum": CFG_SCALE_RANGE[0], "maximum": CFG_SCALE_RANGE[1]},
    )
    input_video: str | None = Field(None, description="Input video URL (3-15 s, at most 200 MB).")
    keep_audio: bool | None = Field(None, description="Keep the input video's audio.")
    character_orientation: str | None = Field(
        None,
        description="Follow the character's orientation in the image or the video.",
        json_schema_extra={"enum": list(CHOICES["character_orientation"])},
    )
    keep_original_sound: bool | None = Field(None, description="Keep the video's sound.")
    video_mode: str | None = Field(
        None,
        description="Edit the input video, or use it as a reference.",
        json_schema_extra={"enum": list(CHOICES["video_mode"])},
    )
    resolution: str | None = Field(
        None,
        description="Output resolution.",
        json_schema_extra={"enum": list(CHOICES["resolution"])},
    )

    _ignored_rules: frozenset[str] = PrivateAttr(default=frozenset())

    @field_validator("model", mode="after")
    @classmethod
    def _known_model(cls, value: str) -> str:
        try:
            return get_model(value).id
        except UnknownModelError as exc:
            raise PydanticCustomError("unknown_model", "{message}", {"message": str(exc)}) from None

    @field_validator("duration", mode="before")
    @classmethod
    def _integer_duration(cls, value: object) -> object:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise PydanticCustomError("shot_duration", SHOT_DURATION_MESSAGE)
        return value

    @field_validator("start_image_url", "tail_image_url", mode="before")
    @classmethod
    def _local(cls, value: object) -> object:
        return reference(value, paths=False)

    @field_validator("input_image", mode="before")
    @classmethod
    def _urls(cls, value: object) -> object:
        value = reference(value, paths=False)  # a Path, bytes or PIL image becomes its token
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return value
        raise PydanticCustomError("list_type", "Input should be a valid list of URL strings")

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> Self:
        checks = Checks(info)
        spec = self.spec
        check_unknown(checks, self, _NOT_A_FIELD, allowed=spec.params)
        check_request(self, checks, spec)
        checks.raise_if_any("VideoRequest")
        return self

    def given(self) -> list[str]:
        """Names of the fields given with a value (``None`` counts as not given)."""
        return [name for name in type(self).model_fields if getattr(self, name) is not None]

    @property
    def spec(self) -> ModelSpec:
        """The catalog entry of this request's model."""
        return get_model(self.model)

    @property
    def images(self) -> list[str]:
        """``input_image`` as a list (empty when not given)."""
        if self.input_image is None:
            return []
        return [self.input_image] if isinstance(self.input_image, str) else list(self.input_image)

    @property
    def shots(self) -> list[Shot]:
        """The shots: ``multi_prompt``, or the single ``prompt`` as one shot of its duration."""
        if self.multi_prompt:
            return list(self.multi_prompt)
        duration = self.single_duration(self.spec)
        duration = 5 if duration is None else duration
        return [Shot.model_construct(prompt=self.prompt or "", duration=duration)]

    def single_duration(self, spec: ModelSpec) -> int | None:
        """``duration`` as given, else the model's default (None for video-length models)."""
        return spec.default_duration if self.duration is None else self.duration

    @property
    def total_duration(self) -> int:
        """Seconds of video asked for (for models whose output follows an input video: nominal)."""
        if self.multi_prompt:
            return sum(shot.duration for shot in self.multi_prompt)
        duration = self.single_duration(self.spec)
        return 5 if duration is None else duration

    @property
    def ignored_rules(self) -> frozenset[str]:
        """The local rules this request breaks on purpose (see ``unchecked``); empty normally."""
        return self._ignored_rules

    def payload(self) -> dict[str, Any]:
        """The JSON body as given: ``model`` first; unset fields and ``None`` left out (a server
        field typed ``bool`` refuses ``null``, and leaving a field out asks for its default)."""
        body = self.model_dump(mode="json", exclude_unset=True, exclude_none=True)
        body.pop("model", None)
        return {"model": self.model, **body}

    def canonical(self) -> dict[str, Any]:
        """The request with the server's defaults filled in, ``None`` and empty lists dropped, keys
        sorted, prompts without blank space around them; ``response_format`` (how the answer is
        delivered, not what is made) is left out."""
        result: dict[str, Any] = json.loads(self.canonical_json())
        return result

    def canonical_json(self) -> str:
        """``canonical()`` as compact JSON with sorted keys: the text ``request_hash`` hashes."""
        return json.dumps(
            canonical_body(self), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )

    @property
    def request_hash(self) -> str:
        """sha256 (hex) of ``canonical_json()``: equal for requests that mean the same thing."""
        return request_hash_of(self.canonical_json())

    def identity(self) -> tuple[dict[str, Any], str]:
        """``(canonical(), request_hash)`` from one computation (a submission needs both)."""
        text = self.canonical_json()
        canonical: dict[str, Any] = json.loads(text)
        return canonical, request_hash_of(text)

    # ----- exports -----

    def to_magic(self, num_generations: int = 1) -> str:
        """This request as a ``%%kling`` cell."""
        from kling_nb.exports import to_magic

        return to_magic(self, num_generations)

    def to_python(
        self, endpoint: Literal["queue", "sync"] = "queue", num_generations: int = 1
    ) -> str:
        """A Python script (``requests``) that sends this request; the key comes from the env."""
        from kling_nb.exports import to_python

        return to_python(self, endpoint, num_generations)

    def to_curl(
        self, endpoint: Literal["queue", "sync"] = "queue", num_generations: int = 1
    ) -> str:
        """A cURL command that sends this request; the key comes from ``$OXEN_API_KEY``."""
        from kling_nb.exports import to_curl

        return to_curl(self, endpoint, num_generations)

    # ----- the escape hatch -----

    @classmethod
    def unchecked(cls, payload: Mapping[str, Any], *, ignore: Iterable[str]) -> VideoRequest:
        """A request that breaks the named local rules on purpose, for a server whose rules moved.

        Every rule not named still applies. A ``LocalRuleWarning`` names each rule actually broken::

            VideoRequest.unchecked({"prompt": "x", "duration": 20}, ignore=["shot_duration",
                                   "total_duration_max"])
        """
        names = frozenset(ignore)
        unknown = sorted(names - set(RULES))
        if unknown:
            close = difflib.get_close_matches(unknown[0], list(RULES), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"Unknown rule {unknown[0]!r}.{hint} Rules: {', '.join(sorted(RULES))}."
            )
        request = cls._ignoring(payload, names)
        if request.ignored_rules:
            listed = "; ".join(f"{rule} ({RULES[rule]})" for rule in sorted(request.ignored_rules))
            warnings.warn(
                LocalRuleWarning(
                    f"This request breaks local rules on purpose: {listed}. "
                    "The server may refuse it; it is sent as given."
                ),
                stacklevel=2,
            )
        return request

    @classmethod
    def recorded(cls, payload: Mapping[str, Any]) -> VideoRequest:
        """A request read back from a record (the ledger), without a warning: the server took it
        under the rules of its day, so no local rule is applied again. Types and the model name
        still are (``ValidationError``); ``ignored_rules`` says which rules it breaks today."""
        return cls._ignoring(payload, frozenset(RULES))

    @classmethod
    def _ignoring(cls, payload: Mapping[str, Any], names: frozenset[str]) -> VideoRequest:
        broken: set[str] = set()
        request = cls.model_validate(dict(payload), context=rule_context(names, broken))
        request._ignored_rules = frozenset(broken)
        return request


def estimate_cost(request: VideoRequest, num_generations: int = 1) -> float | None:
    """US dollars the request should cost, from the catalog's price; None where unknown.

    >>> estimate_cost(VideoRequest(prompt="x", duration=5), num_generations=2)
    2.24
    """
    count = validate_num_generations(num_generations)
    spec = request.spec
    price = spec.price_per_second_with_audio if request.generate_audio else spec.price_per_second
    if price is None or spec.default_duration is None:
        return None
    return round(price * request.total_duration * count, 6)


def format_cost(usd: float | None) -> str:
    """``"$1.12"``, or ``"price unknown"`` (never ``$0`` for an unknown price)."""
    if usd is None:
        return "price unknown"
    return f"${usd:,.2f}"
