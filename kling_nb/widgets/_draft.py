"""The form's draft (what the browser edits) and its conversions to and from a request payload.

A draft's keys are the payload's field names, so validation errors (``multi_prompt.1.duration``)
land beside the matching input. ``mode`` picks ``prompt`` or ``multi_prompt``; ``extra`` holds the
parameters of models beyond the reference-to-video family, as text.
"""

from __future__ import annotations

from typing import Any

from kling_nb.exports import MAGIC_FIELDS

#: Parameters with their own inputs in the form: those ``%%kling`` has options for (the model
#: has its picker). Any other accepted parameter goes in ``extra``.
KNOWN = MAGIC_FIELDS - {"model"}
_HIDDEN = frozenset({"response_format", "target_namespace"})


def model_choices() -> list[dict[str, Any]]:
    """What the model picker needs to know about each catalog model."""
    from kling_nb.catalog import list_models

    return [
        {
            "id": m.id,
            "alias": m.alias,
            "name": m.display_name,
            "description": m.description,
            "params": sorted(m.params - _HIDDEN),
            "extra": sorted(m.params - _HIDDEN - KNOWN),
            "durations": list(m.allowed_durations),
            "min_total": m.min_total_duration,
            "max_total": m.max_total_duration,
            "default_duration": m.default_duration,
            "max_references": m.max_references,
            "single_input_image": m.single_input_image,
            "aspect_ratios": list(m.aspect_ratios),
            "default_negative_prompt": m.default_negative_prompt or "",
        }
        for m in list_models()
    ]


def form_limits() -> dict[str, Any]:
    """The request rules' numbers the form shows (counters, ranges, choices): from the rules
    themselves, so the browser never holds a second copy."""
    from kling_nb.rules import MAX_ELEMENT_REFERENCES, MAX_PROMPT_CHARS, SHOT_SECONDS, TAKES

    return {
        "prompt_chars": MAX_PROMPT_CHARS,
        "shot_seconds": [SHOT_SECONDS[0], SHOT_SECONDS[-1]],
        "takes": list(TAKES),
        "element_references": MAX_ELEMENT_REFERENCES,
    }


def _number(value: Any) -> Any:
    """An int from a form field when it is one, else the raw value for the validator to refuse."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and float(value).is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return value


def _extra_value(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    text = value.strip()
    try:
        return float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError:
        return text


def _urls(values: Any) -> list[str]:
    return [str(v).strip() for v in values or [] if str(v).strip()]


def payload_from_draft(draft: dict[str, Any]) -> dict[str, Any]:
    """The request payload a draft describes (blank fields left out, as the user would expect)."""
    from kling_nb.catalog import DEFAULT_MODEL, get_model

    model = str(draft.get("model") or DEFAULT_MODEL)
    payload: dict[str, Any] = {"model": model}
    try:
        params = get_model(model).params
    except ValueError:
        return payload  # the validator names the unknown model
    single = getattr(get_model(model), "single_input_image", False)
    if draft.get("mode") == "shots" and "multi_prompt" in params:
        payload["multi_prompt"] = [
            {"prompt": str(s.get("prompt", "")), "duration": _number(s.get("duration", 5))}
            for s in draft.get("multi_prompt") or []
        ]
    else:
        if str(draft.get("prompt", "")).strip() and "prompt" in params:
            payload["prompt"] = str(draft["prompt"])
        if "duration" in params and draft.get("duration") not in (None, ""):
            payload["duration"] = _number(draft["duration"])
    images = _urls(draft.get("input_image"))
    if images and "input_image" in params:
        payload["input_image"] = images[0] if single else images
    elements = []
    for element in draft.get("elements") or []:
        refs = _urls(element.get("reference_image_urls"))
        frontal = str(element.get("frontal_image_url", "")).strip()
        if frontal or refs:
            elements.append({"frontal_image_url": frontal, "reference_image_urls": refs})
    if elements and "elements" in params:
        payload["elements"] = elements
    for name in ("start_image_url", "tail_image_url", "negative_prompt", "aspect_ratio"):
        value = str(draft.get(name) or "").strip()
        if value and name in params:
            payload[name] = value
    if draft.get("generate_audio") and "generate_audio" in params:
        payload["generate_audio"] = True
    for name, value in (draft.get("extra") or {}).items():
        if name in params and name not in KNOWN and value not in ("", None, False):
            payload[name] = _extra_value(value)
    payload.update(draft.get("hidden") or {})
    return payload


def draft_from_request(request: Any, num_generations: int = 1) -> dict[str, Any]:
    """A form draft holding ``request`` (a VideoRequest), or a blank one for ``None``."""
    from kling_nb.catalog import DEFAULT_MODEL

    draft: dict[str, Any] = {
        "seq": 0,
        "model": DEFAULT_MODEL,
        "mode": "single",
        "prompt": "",
        "duration": "",  # the model's default
        "multi_prompt": [],
        "input_image": [],
        "elements": [],
        "start_image_url": "",
        "tail_image_url": "",
        "negative_prompt": "",
        "aspect_ratio": "",
        "generate_audio": False,
        "num_generations": num_generations,
        "extra": {},
    }
    if request is None:
        return draft
    payload = request.payload()
    for name, value in payload.items():
        if name == "multi_prompt":
            draft["mode"] = "shots"
            draft[name] = [dict(s) for s in value]
        elif name == "input_image":
            draft[name] = [value] if isinstance(value, str) else list(value)
        elif name == "elements":
            draft[name] = [
                {
                    "frontal_image_url": e["frontal_image_url"],
                    "reference_image_urls": list(e.get("reference_image_urls") or []),
                }
                for e in value
            ]
        elif name in draft:
            draft[name] = value
        elif name in _HIDDEN:
            draft.setdefault("hidden", {})[name] = value
        else:
            draft["extra"][name] = value
    return draft
