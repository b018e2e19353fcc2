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
import hashlib
import json
import math
import re
import warnings
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from kling_nb.catalog import (
    ASPECT_RATIOS,
    DEFAULT_MODEL,
    ModelSpec,
    UnknownModelError,
    get_model,
    list_models,
)
from kling_nb.local_images import reference
from kling_nb.rules import (
    MAX_ELEMENT_REFERENCES,
    MAX_PROMPT_CHARS,
    RULES,
    SHOT_DURATION_MESSAGE,
    Checks,
    LocalRuleWarning,
    check_prompt,
    check_unknown,
    check_url,
    literal_message,
    rule_context,
    validate_num_generations,
)
from kling_nb.sendable import unsendable_text
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

RESPONSE_FORMATS: tuple[str, ...] = ("url", "b64_json")
_CHOICES: dict[str, tuple[str, ...]] = {
    "response_format": RESPONSE_FORMATS,
    "video_mode": ("edit", "reference"),
    "resolution": ("720p", "1080p", "4k"),
    "character_orientation": ("image", "video"),
}
_CFG_SCALE_RANGE = (0.0, 10.0)
_MENTION = re.compile(r"@(Image|Element)(\d+)")


class _RequestModel(BaseModel):
    """Strict, immutable; unknown keys are kept only so the ``unknown_field`` rule can name them."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _sendable_text(cls, data: object) -> object:
        """A lone surrogate (text decoded with ``errors="surrogateescape"``, say) cannot be sent
        as UTF-8: refused in any text, and not a rule that ``unchecked`` can ignore."""
        errors = unsendable_text(data)
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return data


class Shot(_RequestModel):
    """One shot of a multi-shot video: a prompt and its duration in seconds (1..15, default 5)."""

    prompt: str
    duration: int = 5

    @field_validator("duration", mode="before")
    @classmethod
    def _duration_is_one_to_fifteen(cls, value: object, info: ValidationInfo) -> object:
        if isinstance(value, bool) or not isinstance(value, int):
            raise PydanticCustomError("shot_duration", SHOT_DURATION_MESSAGE)
        if not 1 <= value <= 15:
            checks = Checks(info)
            checks.fail("shot_duration", (), SHOT_DURATION_MESSAGE, value)
            if checks.errors:
                raise PydanticCustomError("shot_duration", SHOT_DURATION_MESSAGE)
        return value

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> Self:
        checks = Checks(info)
        check_unknown(checks, self, {})
        check_prompt(checks, ("prompt",), self.prompt)
        checks.raise_if_any("Shot")
        return self


class Element(_RequestModel):
    """A character or object reference: a front view and at most 3 more angles."""

    frontal_image_url: str
    reference_image_urls: list[str] = Field(default_factory=list)

    @field_validator("frontal_image_url", "reference_image_urls", mode="before")
    @classmethod
    def _local(cls, value: object) -> object:
        return reference(value, paths=False)

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> Self:
        checks = Checks(info)
        check_unknown(checks, self, {})
        check_url(checks, ("frontal_image_url",), self.frontal_image_url)
        for i, url in enumerate(self.reference_image_urls):
            check_url(checks, ("reference_image_urls", i), url)
        count = len(self.reference_image_urls)
        if count > MAX_ELEMENT_REFERENCES:
            message = (
                f"List should have at most {MAX_ELEMENT_REFERENCES} items after validation, "
                f"not {count}"
            )
            checks.fail("element_references", ("reference_image_urls",), message, count)
        checks.raise_if_any("Element")
        return self


_NOT_A_FIELD = {
    "num_generations": (
        "num_generations is not part of the request: pass num_generations=N to Client.submit "
        "(or -n N to %%kling)."
    ),
}


class VideoRequest(_RequestModel):
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
        json_schema_extra={"minimum": _CFG_SCALE_RANGE[0], "maximum": _CFG_SCALE_RANGE[1]},
    )
    input_video: str | None = Field(None, description="Input video URL (3-15 s, at most 200 MB).")
    keep_audio: bool | None = Field(None, description="Keep the input video's audio.")
    character_orientation: str | None = Field(
        None,
        description="Follow the character's orientation in the image or the video.",
        json_schema_extra={"enum": list(_CHOICES["character_orientation"])},
    )
    keep_original_sound: bool | None = Field(None, description="Keep the video's sound.")
    video_mode: str | None = Field(
        None,
        description="Edit the input video, or use it as a reference.",
        json_schema_extra={"enum": list(_CHOICES["video_mode"])},
    )
    resolution: str | None = Field(
        None,
        description="Output resolution.",
        json_schema_extra={"enum": list(_CHOICES["resolution"])},
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
        self._check_model_params(checks, spec)
        self._check_prompts(checks, spec)
        self._check_durations(checks, spec)
        self._check_images(checks, spec)
        self._check_values(checks, spec)
        checks.raise_if_any("VideoRequest")
        return self

    def _given(self) -> list[str]:
        """Names of the fields given with a value (``None`` counts as not given)."""
        return [name for name in type(self).model_fields if getattr(self, name) is not None]

    def _check_model_params(self, checks: Checks, spec: ModelSpec) -> None:
        for name in sorted(spec.required_params - set(self._given())):
            checks.fail("required_params", (name,), "Field required")
        for name in self._given():
            if name != "model" and name not in spec.params:
                accepted = ", ".join(sorted(spec.params))
                message = f"{spec.label} does not accept {name!r}. It accepts: {accepted}."
                checks.value_error("model_params", (name,), message, getattr(self, name))

    def _check_prompts(self, checks: Checks, spec: ModelSpec) -> None:
        if self.prompt is not None and self.multi_prompt:  # an empty multi_prompt is none
            message = "Cannot provide both 'prompt' and 'multi_prompt'."
            checks.value_error("prompt_conflict", (), message)
        elif self.prompt is None and not self.multi_prompt:
            if spec.supports_multi_prompt:
                message = "Either 'prompt' or 'multi_prompt' must be provided."
                checks.value_error("prompt_required", (), message)
            else:
                checks.fail("prompt_required", ("prompt",), "Field required")
        images = len(self.images)
        elements = len(self.elements or [])
        if self.prompt is not None:
            check_prompt(checks, ("prompt",), self.prompt)  # shots check their own prompts
        for loc, text in self._prompts():
            for match in _MENTION.finditer(text):
                kind, number = match.group(1), int(match.group(2))
                have = images if kind == "Image" else elements
                if not 1 <= number <= have:
                    where = "input_image" if kind == "Image" else "elements"
                    message = (
                        f"{match.group(0)!r} refers to {kind.lower()} {number}, but the request "
                        f"has {have} in {where!r}: add it or fix the reference (counted from 1)."
                    )
                    checks.value_error("mentions", loc, message, text)

    def _prompts(self) -> list[tuple[tuple[str | int, ...], str]]:
        found: list[tuple[tuple[str | int, ...], str]] = []
        if self.prompt is not None:
            found.append((("prompt",), self.prompt))
        for i, shot in enumerate(self.multi_prompt or []):
            found.append((("multi_prompt", i, "prompt"), shot.prompt))
        return found

    def _check_durations(self, checks: Checks, spec: ModelSpec) -> None:
        default = spec.default_duration
        if not spec.allowed_durations or default is None:
            return
        if self.multi_prompt and not spec.supports_multi_prompt:
            return  # model_params already says the model takes no multi_prompt
        message = literal_message(spec.allowed_durations)
        if self.multi_prompt and self.duration is not None and self.prompt is None:
            text = "'duration' applies only with 'prompt'; give each shot its own duration."
            checks.value_error("duration_with_multi_prompt", ("duration",), text, self.duration)
        if self.multi_prompt:
            located: list[tuple[tuple[str | int, ...], int]] = [
                (("multi_prompt", i, "duration"), shot.duration)
                for i, shot in enumerate(self.multi_prompt)
            ]
            total_loc: tuple[str | int, ...] = ("multi_prompt",)
        elif self.prompt is not None:
            located = [(("duration",), default if self.duration is None else self.duration)]
            total_loc = ("duration",)
        else:
            return
        before = len(checks.errors)
        for loc, seconds in located:
            if seconds not in spec.allowed_durations:
                allowed = list(spec.allowed_durations)
                checks.fail("shot_duration", loc, message, seconds, allowed=allowed)
        if len(checks.errors) > before:
            return  # as on the server: per-shot errors stop before the totals are checked
        total = sum(seconds for _, seconds in located)
        if spec.min_total_duration is not None and total < spec.min_total_duration:
            text = (
                f"duration value '{total}' is invalid. Try using duration="
                f"'{spec.default_duration}' instead, as duration support may vary by model "
                "and mode."
            )
            checks.value_error("total_duration_min", total_loc, text, total)
        if spec.max_total_duration is not None and total > spec.max_total_duration:
            text = (
                f"Total shot duration ({total}s) exceeds maximum allowed "
                f"({spec.max_total_duration}s)."
            )
            checks.value_error("total_duration_max", total_loc, text, total)

    def _check_images(self, checks: Checks, spec: ModelSpec) -> None:
        if isinstance(self.input_image, list):
            for i, url in enumerate(self.input_image):
                check_url(checks, ("input_image", i), url)
        for name in ("input_image", "start_image_url", "tail_image_url", "input_video"):
            value = getattr(self, name)
            if isinstance(value, str):
                check_url(checks, (name,), value)
        if self.input_image is not None and "input_image" in spec.params:
            if spec.single_input_image and not isinstance(self.input_image, str):
                text = f"{spec.label} takes 'input_image' as one URL string, not a list."
                checks.value_error("input_image_shape", ("input_image",), text, self.input_image)
            if not spec.single_input_image and isinstance(self.input_image, str):
                text = (
                    f"{spec.label} takes 'input_image' as a list of URLs: [{self.input_image!r}]."
                )
                checks.value_error("input_image_shape", ("input_image",), text, self.input_image)
        # (Image-to-video models start from input_image, which they require anyway.)
        tail_only = self.tail_image_url is not None and self.start_image_url is None
        if tail_only and "start_image_url" in spec.params:
            text = "'tail_image_url' requires 'start_image_url': give the first frame too."
            checks.value_error("tail_needs_start", ("tail_image_url",), text)
        self._check_reference_count(checks, spec)

    def _check_reference_count(self, checks: Checks, spec: ModelSpec) -> None:
        images, elements = len(self.images), len(self.elements or [])
        limit = spec.max_references
        if self.input_video is not None and spec.max_references_with_video is not None:
            limit = spec.max_references_with_video
        if limit is not None and images + elements > limit:
            roomier = [
                s.alias
                for s in list_models()
                if s.kind == spec.kind and (s.max_references or 0) >= images + elements
            ]
            hint = f", or use {roomier[0]!r}" if roomier else ""
            text = (
                f"Too many references for {spec.alias}: {images} input image(s) + {elements} "
                f"element(s) = {images + elements}, and at most {limit} are allowed combined. "
                f"Remove some{hint}."
            )
            loc: tuple[str | int, ...] = ("input_image",) if images else ("elements",)
            checks.value_error("max_references", loc, text, images + elements)
        if spec.max_elements is not None and elements > spec.max_elements:
            text = f"{spec.alias} takes at most {spec.max_elements} element(s), not {elements}."
            checks.value_error("max_references", ("elements",), text, elements)

    def _check_values(self, checks: Checks, spec: ModelSpec) -> None:
        if self.aspect_ratio is not None and self.aspect_ratio not in spec.aspect_ratios:
            message = literal_message(spec.aspect_ratios)
            checks.fail("allowed_values", ("aspect_ratio",), message, self.aspect_ratio)
        for name, choices in _CHOICES.items():
            value = getattr(self, name)
            if value is not None and value not in choices:
                checks.fail("allowed_values", (name,), literal_message(choices), value)
        if self.cfg_scale is not None:
            low, high = _CFG_SCALE_RANGE
            if not math.isfinite(self.cfg_scale):
                message = "Input should be a finite number"
                checks.fail("allowed_values", ("cfg_scale",), message, self.cfg_scale)
            elif self.cfg_scale < low:
                message = f"Input should be greater than or equal to {low:g}"
                checks.fail("allowed_values", ("cfg_scale",), message, self.cfg_scale)
            elif self.cfg_scale > high:
                message = f"Input should be less than or equal to {high:g}"
                checks.fail("allowed_values", ("cfg_scale",), message, self.cfg_scale)

    # ----- what the request means -----

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
        duration = self._single_duration(self.spec)
        duration = 5 if duration is None else duration
        return [Shot.model_construct(prompt=self.prompt or "", duration=duration)]

    def _single_duration(self, spec: ModelSpec) -> int | None:
        """``duration`` as given, else the model's default (None for video-length models)."""
        return spec.default_duration if self.duration is None else self.duration

    @property
    def total_duration(self) -> int:
        """Seconds of video asked for (for models whose output follows an input video: nominal)."""
        if self.multi_prompt:
            return sum(shot.duration for shot in self.multi_prompt)
        duration = self._single_duration(self.spec)
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

    def _canonical_body(self) -> dict[str, Any]:
        spec = self.spec
        body = {
            key: value
            for key, value in self.payload().items()
            if value != [] and key != "response_format"
        }
        if self.multi_prompt:
            body["multi_prompt"] = [
                {"prompt": _trimmed(shot.prompt), "duration": shot.duration}
                for shot in self.multi_prompt
            ]
        elif self.prompt is not None:
            body["prompt"] = _trimmed(self.prompt)
            if "duration" in spec.params:
                body["duration"] = self._single_duration(spec)
        if self.elements:
            body["elements"] = [
                {**e.model_dump(mode="json"), "reference_image_urls": e.reference_image_urls}
                for e in self.elements
            ]
        if "negative_prompt" in spec.params and spec.default_negative_prompt is not None:
            body.setdefault("negative_prompt", spec.default_negative_prompt)
        for key, default in spec.defaults:
            if key in spec.params:
                body.setdefault(key, default)
        if "cfg_scale" in body:
            body["cfg_scale"] = float(body["cfg_scale"])
        return body

    def canonical_json(self) -> str:
        """``canonical()`` as compact JSON with sorted keys: the text ``request_hash`` hashes."""
        return json.dumps(
            self._canonical_body(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )

    @property
    def request_hash(self) -> str:
        """sha256 (hex) of ``canonical_json()``: equal for requests that mean the same thing."""
        return _hash(self.canonical_json())

    def identity(self) -> tuple[dict[str, Any], str]:
        """``(canonical(), request_hash)`` from one computation (a submission needs both)."""
        text = self.canonical_json()
        canonical: dict[str, Any] = json.loads(text)
        return canonical, _hash(text)

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


def _trimmed(prompt: str) -> str:
    """The blank space around a prompt means nothing, and a %%kling cell cannot hold it (its
    parser drops it, kling_nb.body): without it, an export reads back with the same hash. A blank
    prompt stays as it is (no cell holds one, and an empty one would not be a valid request)."""
    return prompt.strip() or prompt


def _hash(canonical_json: str) -> str:
    # surrogatepass: a lone surrogate (from a JSON "\ud800" escape) still hashes.
    return hashlib.sha256(canonical_json.encode("utf-8", "surrogatepass")).hexdigest()


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
