"""Built-in specs of the Kling video models on Oxen.ai: ids, aliases, limits and prices.

The two seed models (``o3-pro`` and ``o3-4k``) carry the rules of the seed documents; the others
carry what ``oxen-api.md`` says about them. Look a model up by id or alias::

    >>> get_model("o3-pro").price_per_second
    0.224
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = [
    "ASPECT_RATIOS",
    "DEFAULT_MODEL",
    "ModelSpec",
    "UnknownModelError",
    "get_model",
    "list_models",
    "with_request_schema",
]

DEFAULT_MODEL = "kling-video-o3-pro-reference-to-video"

#: Parameters every model takes: where results go and how the sync endpoint answers.
_COMMON = frozenset({"target_namespace", "response_format"})
_REFERENCE_PARAMS = _COMMON | {
    "prompt",
    "multi_prompt",
    "duration",
    "input_image",
    "start_image_url",
    "tail_image_url",
    "elements",
    "negative_prompt",
    "aspect_ratio",
    "generate_audio",
}
#: The aspect ratios of the Kling models, the default first.
ASPECT_RATIOS: tuple[str, ...] = ("16:9", "9:16", "1:1")
_ONE_TO_FIFTEEN = tuple(range(1, 16))
_THREE_TO_FIFTEEN = tuple(range(3, 16))


@dataclass(frozen=True)
class ModelSpec:
    """What kling_nb knows about one model without asking the server.

    ``params`` lists the request parameters the model accepts (besides ``model``). Durations are
    in seconds: ``allowed_durations`` is the set for one shot (or the single ``duration``), and the
    total over all shots must lie in ``min_total_duration..max_total_duration``; models whose
    output is as long as an input video have none. A price of ``None`` means unknown;
    ``max_references`` limits ``len(input_image) + len(elements)``.
    """

    id: str
    alias: str
    display_name: str
    kind: str
    inputs: tuple[str, ...]
    params: frozenset[str]
    price_per_second: float | None
    description: str
    price_per_second_with_audio: float | None = None
    default_duration: int | None = None
    allowed_durations: tuple[int, ...] = ()
    min_total_duration: int | None = None
    max_total_duration: int | None = None
    max_references: int | None = None
    default_negative_prompt: str | None = None
    #: Limit on ``len(input_image) + len(elements)`` when an ``input_video`` is given.
    max_references_with_video: int | None = None
    max_elements: int | None = None
    #: ``input_image`` is one URL (image-to-video) rather than a list of references.
    single_input_image: bool = False
    #: Parameters the model cannot do without, besides a prompt (its image or video input).
    required_params: frozenset[str] = frozenset()
    aspect_ratios: tuple[str, ...] = ASPECT_RATIOS
    #: Defaults the server fills in, used by canonical JSON (``duration`` and prompts aside).
    defaults: tuple[tuple[str, object], ...] = field(default=())

    @property
    def supports_audio(self) -> bool:
        """Whether the model takes ``generate_audio``."""
        return "generate_audio" in self.params

    @property
    def supports_multi_prompt(self) -> bool:
        """Whether the model takes ``multi_prompt`` shots."""
        return "multi_prompt" in self.params

    @property
    def label(self) -> str:
        """``"kling-video-o3-pro-reference-to-video (o3-pro)"``, for messages."""
        return f"{self.id} ({self.alias})"


_O3_PRO = ModelSpec(
    id="kling-video-o3-pro-reference-to-video",
    alias="o3-pro",
    display_name="Kling O3 Pro: Reference to Video",
    kind="reference-to-video",
    inputs=("prompt", "images"),
    params=_REFERENCE_PARAMS,
    price_per_second=0.224,
    price_per_second_with_audio=0.224,
    default_duration=5,
    allowed_durations=_ONE_TO_FIFTEEN,
    min_total_duration=3,
    max_total_duration=15,
    max_references=4,
    default_negative_prompt="blur, distort, and low quality",
    description=(
        "Reference images to video with identity preservation, multi-shot prompts and optional "
        "native audio; at most 4 references (input images plus elements)."
    ),
    defaults=(("aspect_ratio", "16:9"), ("generate_audio", False)),
)

#: The 4K page lists the same parameters, with no price and no default negative prompt.
_O3_4K = replace(
    _O3_PRO,
    id="kling-video-o3-4k-reference-to-video",
    alias="o3-4k",
    display_name="Kling O3 4K - Reference to Video",
    price_per_second=None,
    price_per_second_with_audio=None,
    max_references=7,
    default_negative_prompt=None,
    description=(
        "Native 4K (3840x2160) reference-to-video, multi-shot up to 15 s, optional audio; "
        "element and style references have a combined limit of 7. Sync calls take 5-15 minutes."
    ),
)

_V26_T2V = ModelSpec(
    id="kling-video-v2-6-pro-text-to-video",
    alias="v2.6-t2v",
    display_name="Kling v2.6 Pro: Text to Video",
    kind="text-to-video",
    inputs=("prompt",),
    params=_COMMON
    | {"prompt", "duration", "negative_prompt", "aspect_ratio", "generate_audio", "cfg_scale"},
    price_per_second=0.070,
    price_per_second_with_audio=0.070,
    default_duration=5,
    allowed_durations=(5, 10),
    min_total_duration=5,
    max_total_duration=10,
    description="Simple text to video, 5 or 10 seconds.",
    defaults=(("aspect_ratio", "16:9"), ("generate_audio", False), ("cfg_scale", 0.5)),
)

_MODELS: tuple[ModelSpec, ...] = (
    _O3_PRO,
    _O3_4K,
    _V26_T2V,
    replace(
        _V26_T2V,
        id="kling-video-v2-6-pro-image-to-video",
        alias="v2.6-i2v",
        display_name="Kling v2.6 Pro: Image to Video",
        kind="image-to-video",
        inputs=("prompt", "image"),
        params=_COMMON | {"prompt", "duration", "input_image", "negative_prompt", "generate_audio"},
        description="Animate a single image, 5 or 10 seconds.",
        max_references=1,
        defaults=(("generate_audio", False),),
        required_params=frozenset({"input_image"}),
    ),
    ModelSpec(
        id="kling-video-o3-pro-image-to-video",
        alias="o3-pro-i2v",
        display_name="Kling O3 Pro: Image to Video",
        kind="image-to-video",
        inputs=("prompt", "start image"),
        params=_COMMON | {"prompt", "duration", "input_image", "tail_image_url", "aspect_ratio"},
        price_per_second=0.224,
        price_per_second_with_audio=0.224,
        default_duration=5,
        allowed_durations=_THREE_TO_FIFTEEN,
        min_total_duration=3,
        max_total_duration=15,
        description="Higher quality image animation from a start image (and optional end frame).",
        single_input_image=True,
        defaults=(("aspect_ratio", "16:9"),),
        required_params=frozenset({"input_image"}),
    ),
    # The two video-input models make as many seconds as the input video: no duration, no
    # cost known in advance.
    ModelSpec(
        id="kling-video-o3-pro-video-to-video-edit",
        alias="o3-pro-edit",
        display_name="Kling O3 Pro: Video to Video Edit",
        kind="video-to-video",
        inputs=("prompt", "video"),
        params=_COMMON | {"prompt", "input_video", "input_image", "elements", "keep_audio"},
        price_per_second=0.336,
        price_per_second_with_audio=0.336,
        max_references=4,
        description=(
            "Edit an existing video (3-15 s, at most 200 MB); the output is as long as the input, "
            "so its cost is not known in advance."
        ),
        max_references_with_video=4,
        defaults=(("keep_audio", False),),
        required_params=frozenset({"input_video"}),
    ),
    ModelSpec(
        id="kling-video-v3-pro-motion-control",
        alias="v3-motion",
        display_name="Kling v3 Pro: Motion Control",
        kind="motion-control",
        inputs=("prompt", "image", "video"),
        params=_COMMON
        | {
            "prompt",
            "input_image",
            "input_video",
            "elements",
            "character_orientation",
            "keep_original_sound",
        },
        price_per_second=0.168,
        price_per_second_with_audio=0.168,
        description=(
            "Transfer the motion of a video onto a character image; at most one element. The "
            "output follows the input video's length, so its cost is not known in advance."
        ),
        max_elements=1,
        single_input_image=True,
        defaults=(("keep_original_sound", False),),
        required_params=frozenset({"input_image", "input_video"}),
    ),
    replace(
        _O3_4K,
        id="kling-video-o3-omni",
        alias="o3-omni",
        display_name="Kling O3 Omni",
        kind="omni",
        inputs=("prompt", "images", "video"),
        params=_REFERENCE_PARAMS | {"input_video", "video_mode", "resolution", "keep_audio"},
        description=(
            "One model for reference-to-video and video editing (video_mode), 720p/1080p/4k; "
            "7 references, 4 when a video is given."
        ),
        max_references_with_video=4,
    ),
    ModelSpec(
        id="kling-video-o1-reference-to-video",
        alias="o1-ref",
        display_name="Kling O1: Reference to Video",
        kind="reference-to-video",
        inputs=("prompt", "images"),
        params=_COMMON | {"prompt", "duration", "input_image", "elements", "aspect_ratio"},
        price_per_second=None,
        default_duration=5,
        allowed_durations=(5, 10),
        min_total_duration=5,
        max_total_duration=10,
        max_references=7,
        description="Reference images to video, 5 or 10 seconds, up to 7 images.",
        defaults=(("aspect_ratio", "16:9"),),
    ),
)

_BY_NAME: dict[str, ModelSpec] = {
    **{spec.id: spec for spec in _MODELS},
    **{spec.alias: spec for spec in _MODELS},
}


class UnknownModelError(ValueError):
    """A model name that is neither a known id nor an alias."""


def list_models() -> list[ModelSpec]:
    """All model specs, seed models first."""
    return list(_MODELS)


def get_model(name: str) -> ModelSpec:
    """The spec for a model id or alias (``"o3-pro"``); ``UnknownModelError`` names the closest."""
    for key in (name, name.strip().lower()):
        spec = _BY_NAME.get(key)
        if spec is not None:
            return spec
    raise UnknownModelError(unknown_model_message(name))


def unknown_model_message(name: str) -> str:
    """The message for a name not in the catalog: ``Unknown model 'x'. Did you mean 'o3-pro'?``"""
    wanted = name.strip().lower()
    # A fragment of an id ("kling-video-o3-4k") means that id, whatever difflib's ratio says.
    close = [key for key in _BY_NAME if wanted and wanted in key][:1] or difflib.get_close_matches(
        wanted, list(_BY_NAME), n=1, cutoff=0.4
    )
    hint = ""
    if close:
        spec = _BY_NAME[close[0]]
        hint = f" Did you mean {spec.alias!r} ({spec.id})?"
    aliases = ", ".join(spec.alias for spec in _MODELS)
    return f"Unknown model {name!r}.{hint} Known models (ids or aliases): {aliases}."


def with_request_schema(model: dict[str, Any]) -> dict[str, Any]:
    """A server's model object with ``request_schema`` set (some answer ``json_request_schema``)."""
    schema = model.get("request_schema") or model.get("json_request_schema")
    return {**model, "request_schema": schema} if schema is not None else model
