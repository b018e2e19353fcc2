"""The settings read from the environment: what was given wins, then the environment variable,
then the default; the API key without blank space around it, and registered for redaction as soon
as it is read."""

from __future__ import annotations

from pathlib import Path

import pytest

from kling_nb import env
from kling_nb.errors import KlingError, redact


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (env.API_KEY_ENV, env.BASE_URL_ENV, env.OUTPUTS_ENV):
        monkeypatch.delenv(name, raising=False)


def test_the_variable_names_and_defaults() -> None:
    assert (env.API_KEY_ENV, env.BASE_URL_ENV, env.OUTPUTS_ENV) == (
        "OXEN_API_KEY",
        "KLING_NB_BASE_URL",
        "KLING_NB_OUTPUTS",
    )
    assert env.DEFAULT_BASE_URL == "https://hub.oxen.ai"


def test_a_given_key_wins_over_the_environment_without_blank_space(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(env.API_KEY_ENV, "sk-env-key-unit-1")
    assert env.api_key(" \tsk-given-key-unit-2\n") == "sk-given-key-unit-2"
    assert env.api_key() == "sk-env-key-unit-1"
    monkeypatch.setenv(env.API_KEY_ENV, "  sk-env-key-unit-3\r\n")
    assert env.api_key() == "sk-env-key-unit-3"


@pytest.mark.parametrize("blank", ["", "   ", "\n"])
def test_a_blank_key_is_no_key(blank: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert env.api_key() is None
    assert env.api_key(blank) is None
    monkeypatch.setenv(env.API_KEY_ENV, blank)
    assert env.api_key() is None


def test_a_key_given_blank_is_not_replaced_by_the_environments(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(env.API_KEY_ENV, "sk-env-key-unit-4")
    assert env.api_key("") is None


def test_a_key_read_from_either_place_is_redacted_from_then_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    given, from_env = "Zt8qGv3nR7tZ1wXa", "Yr4mEn5Xc9Vb2kLb"  # starts no other test uses
    assert redact(f"key {given}") == f"key {given}"  # unknown until read
    env.api_key(f" {given} ")
    assert redact(f"key {given}") == "key ***"
    monkeypatch.setenv(env.API_KEY_ENV, f"{from_env}\n")
    env.api_key()
    assert redact(f"Bearer {from_env} refused") == "Bearer *** refused"


def test_base_url_given_then_environment_then_oxen(monkeypatch: pytest.MonkeyPatch) -> None:
    assert env.base_url() == "https://hub.oxen.ai"
    monkeypatch.setenv(env.BASE_URL_ENV, "http://127.0.0.1:8000")
    assert env.base_url() == "http://127.0.0.1:8000"
    assert env.base_url("https://hub.test") == "https://hub.test"
    assert env.base_url("") == "http://127.0.0.1:8000"  # an empty setting is no setting
    monkeypatch.setenv(env.BASE_URL_ENV, "")
    assert env.base_url() == "https://hub.oxen.ai"


def test_outputs_dir_given_then_environment_then_a_relative_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert env.outputs_dir() == Path("kling_outputs")  # relative: under the notebook's folder
    monkeypatch.setenv(env.OUTPUTS_ENV, str(tmp_path / "from-env"))
    assert env.outputs_dir() == tmp_path / "from-env"
    assert env.outputs_dir(tmp_path / "given") == tmp_path / "given"
    assert env.outputs_dir(str(tmp_path / "text")) == tmp_path / "text"
    assert env.outputs_dir("") == tmp_path / "from-env"
    monkeypatch.setenv(env.OUTPUTS_ENV, "")
    assert env.outputs_dir() == Path("kling_outputs")


@pytest.mark.parametrize(
    ("key", "why"),
    [("sk-a b", "a space or a control"), ("sk-a\n", "a space or a control"), ("“sk-a”", "ASCII")],
)
def test_a_key_no_header_can_carry_is_refused_without_being_shown(key: str, why: str) -> None:
    with pytest.raises(KlingError, match=why) as caught:
        env.sendable_key(key)
    assert "sk-a" not in str(caught.value)


def test_a_sendable_key_or_none_passes_unchanged() -> None:
    assert env.sendable_key("sk-kling-123_ABC.xyz") == "sk-kling-123_ABC.xyz"
    assert env.sendable_key(None) is None
