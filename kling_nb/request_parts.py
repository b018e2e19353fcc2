"""The parts of a request (``Shot``, ``Element``) and the strict model base they share with
``VideoRequest``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from kling_nb.local_images import reference
from kling_nb.rules import (
    MAX_ELEMENT_REFERENCES,
    SHOT_DURATION_MESSAGE,
    Checks,
    check_prompt,
    check_unknown,
    check_url,
)
from kling_nb.sendable import unsendable_text

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["Element", "RequestModel", "Shot"]


class RequestModel(BaseModel):
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


class Shot(RequestModel):
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


class Element(RequestModel):
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
