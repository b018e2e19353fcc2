"""Environment variables kling_nb reads, and their defaults: named once, here."""

from __future__ import annotations

__all__ = [
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "DEFAULT_BASE_URL",
    "DEFAULT_OUTPUTS",
    "OUTPUTS_ENV",
    "SIMULATOR_SECONDS_ENV",
    "UPLOAD_REPO_ENV",
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
