"""Environment variables kling_nb reads, and their defaults: named once, here, with the functions
that read them."""

from __future__ import annotations

import os
from pathlib import Path

from kling_nb.errors import KlingError, register_secret

__all__ = [
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "DEFAULT_BASE_URL",
    "DEFAULT_OUTPUTS",
    "OUTPUTS_ENV",
    "SIMULATOR_SECONDS_ENV",
    "UPLOAD_REPO_ENV",
    "api_key",
    "base_url",
    "outputs_dir",
    "sendable_key",
]

API_KEY_ENV = "OXEN_API_KEY"
BASE_URL_ENV = "KLING_NB_BASE_URL"
OUTPUTS_ENV = "KLING_NB_OUTPUTS"
#: Seconds the bundled simulator takes per generation (no key): slow enough to see it run.
SIMULATOR_SECONDS_ENV = "KLING_NB_SIMULATOR_SECONDS"
#: The Oxen repository local reference images are uploaded to: REPO or NAMESPACE/REPO.
UPLOAD_REPO_ENV = "KLING_NB_UPLOAD_REPO"
DEFAULT_BASE_URL = "https://hub.oxen.ai"
DEFAULT_OUTPUTS = "kling_outputs"


def api_key(given: str | None = None) -> str | None:
    """``given``, else ``OXEN_API_KEY``, without blank space around it; ``None`` when blank.
    Registered for redaction (``errors.redact``) as soon as it is read."""
    key = (given if given is not None else os.environ.get(API_KEY_ENV) or "").strip()
    register_secret(key)
    return key or None


def sendable_key(key: str | None) -> str | None:
    """``key`` if an HTTP header can carry it; else a ``KlingError`` that does not show it."""
    if key and not all(c.isprintable() and not c.isspace() for c in key):
        raise KlingError(
            "The API key contains a space or a control character (a stray newline, say), "
            f"so it cannot be sent in a header. Check {API_KEY_ENV} or the api_key given."
        )
    if key and not key.isascii():
        raise KlingError(
            "The API key contains a character outside ASCII (a typographic quote copied "
            f"with it, say), so it cannot be sent in a header. Check {API_KEY_ENV} or the "
            "api_key given."
        )
    return key


def base_url(given: str | None = None) -> str:
    """``given``, else ``KLING_NB_BASE_URL``, else Oxen.ai."""
    return given or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL


def outputs_dir(given: str | os.PathLike[str] | None = None) -> Path:
    """``given``, else ``KLING_NB_OUTPUTS``, else ``./kling_outputs`` (as given, not resolved)."""
    return Path(given or os.environ.get(OUTPUTS_ENV) or DEFAULT_OUTPUTS)
