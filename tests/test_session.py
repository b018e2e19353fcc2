"""The session behind the magics: its settings, where requests go (Oxen.ai or the bundled
simulator), the simulator's start and stop and the client it gives; in a real IPython shell."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from test_magics import FAKE_KEY, PROMPT, cell, keyless, line, magics, nothing_sent, server, shell
from traitlets import TraitError

from kling_nb.magics import KlingMagics
from kling_nb.requests import VideoRequest
from kling_nb.session import SIMULATED_NOTE, KlingSettings, Session, current_session
from kling_nb.simulator import Simulator


def test_without_a_key_the_first_submission_starts_the_simulator_and_says_so(
    keyless: KlingMagics, shell: InteractiveShell, capsys: Any, tmp_path: Path
) -> None:
    job = cell(shell, "", PROMPT)
    out = capsys.readouterr().out
    simulator = keyless.session.simulator
    assert simulator is not None
    assert f"started the bundled simulator at {simulator.base_url}" in out
    assert "simulated" in out.lower() and "OXEN_API_KEY" in out
    assert job.simulated
    job.wait(timeout=30)
    assert (tmp_path / "simulated") in job.results[0].path.parents
    assert simulator.stats()["enqueue_calls"] == 1
    cell(shell, "--force", PROMPT).wait(timeout=30)
    assert "simulated" not in capsys.readouterr().out.lower()  # said once per session
    line(shell, "jobs")
    assert re.search(rf"{job.id}\s+o3-pro\s+succeeded \(simulated\)", capsys.readouterr().out)
    assert keyless.session.simulator is simulator  # one simulator per session


def test_without_the_simulator_extra_the_message_says_how_to_go_on(
    keyless: KlingMagics, shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "kling_nb.simulator", None)
    with pytest.raises(UsageError) as info:
        cell(shell, "", PROMPT)
    message = str(info.value)
    assert "OXEN_API_KEY" in message
    assert "pip install 'kling-nb[simulator]'" in message


def test_config_rejects_an_unknown_default_model(
    magics: KlingMagics, shell: InteractiveShell
) -> None:
    from traitlets import TraitError

    with pytest.raises(TraitError, match="Unknown model 'o3-prro'"):
        magics.default_model = "o3-prro"


def test_simulator_start_status_stop(
    magics: KlingMagics, shell: InteractiveShell, server: Simulator, capsys: Any
) -> None:
    assert line(shell, "simulator status") is None
    assert "not running" in capsys.readouterr().out
    started = line(shell, "simulator start")
    simulator = magics.session.simulator
    assert simulator is not None
    assert started is simulator  # sim = %kling simulator start gives sim.sample_url(...)
    out = capsys.readouterr().out
    assert simulator.base_url in out and "until %kling simulator stop" in out
    job = cell(shell, "", PROMPT)
    assert job.simulated
    job.wait(timeout=30)
    assert nothing_sent(server)  # the key is set, but the session's simulator got the request
    assert line(shell, "simulator status") is simulator
    assert "1 enqueue calls" in capsys.readouterr().out
    line(shell, "simulator start")
    expected = f"Requests go to the simulator at {simulator.base_url} until %kling simulator stop."
    assert expected in capsys.readouterr().out
    line(shell, "simulator stop")
    assert "Stopped the simulator." in capsys.readouterr().out
    assert magics.session.simulator is None
    assert not cell(shell, "", PROMPT).simulated


def test_client_gives_the_sessions_client_for_the_python_api(
    magics: KlingMagics, shell: InteractiveShell, server: Simulator
) -> None:
    client = line(shell, "client")
    assert client is magics.session.client()
    assert client.base_url == server.base_url and not client.simulated
    job = client.submit(VideoRequest(prompt=PROMPT, duration=3))
    assert job.wait(timeout=30).status == "succeeded"
    assert server.stats()["enqueue_calls"] == 1
    with pytest.raises(UsageError, match="Usage: %kling client"):
        line(shell, "client extra")


def test_the_budget_is_the_sessions_and_refuses_before_sending(
    magics: KlingMagics, shell: InteractiveShell, server: Simulator, tmp_path: Path
) -> None:
    shell.run_line_magic("config", "KlingMagics.budget_usd = 2.0")
    cell(shell, "", PROMPT).wait(timeout=30)  # $1.12
    # A new folder means a new client: what the first one spent still counts.
    shell.run_line_magic("config", f"KlingMagics.outputs_dir = '{tmp_path / 'other'}'")
    with pytest.raises(UsageError, match=r"BudgetExceededError: .*KlingMagics.budget_usd"):
        cell(shell, "", "A cat sleeps")
    assert server.stats()["enqueue_calls"] == 1
    shell.run_line_magic("config", "KlingMagics.budget_usd = None")
    job = cell(shell, "", "A cat sleeps").wait(timeout=30)
    assert (tmp_path / "other") in job.results[0].path.parents


def test_setting_a_key_later_moves_the_session_to_it_and_says_so(
    keyless: KlingMagics, shell: InteractiveShell, server: Simulator, capsys: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    assert cell(shell, "", PROMPT).simulated
    monkeypatch.setenv("OXEN_API_KEY", FAKE_KEY)
    monkeypatch.setenv("KLING_NB_BASE_URL", server.base_url)
    capsys.readouterr()
    job = cell(shell, "", PROMPT)
    assert f"OXEN_API_KEY is set: requests now go to {server.base_url}" in capsys.readouterr().out
    assert not job.simulated and not job.replayed  # a simulated result never replays as real
    job.wait(timeout=30)
    assert server.stats()["enqueue_calls"] == 1


def test_config_lists_the_settings(
    magics: KlingMagics, shell: InteractiveShell, capsys: Any
) -> None:
    shell.run_line_magic("config", "KlingMagics")
    out = capsys.readouterr().out
    for name in ["default_model", "aspect_ratio", "outputs_dir", "budget_usd", "deadline_seconds"]:
        assert f"KlingMagics.{name}" in out


def test_a_base_url_without_a_key_is_explained(
    keyless: KlingMagics, shell: InteractiveShell, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KLING_NB_BASE_URL", "http://127.0.0.1:9")
    line(shell, "simulator start")
    out = capsys.readouterr().out
    assert "started the bundled simulator" in out
    assert "KLING_NB_BASE_URL is used only with a key" in out


@pytest.mark.parametrize("where", ["a file", "under a file"])
def test_an_unusable_outputs_folder_is_a_one_line_usage_error_and_sends_nothing(
    magics: KlingMagics, shell: InteractiveShell, server: Simulator, tmp_path: Path, where: str
) -> None:
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    folder = afile if where == "a file" else afile / "videos"
    shell.run_line_magic("config", f"KlingMagics.outputs_dir = {str(folder)!r}")
    with pytest.raises(UsageError) as info:
        cell(shell, "", PROMPT)
    message = str(info.value)
    assert "\n" not in message and str(folder) in message
    assert "%config KlingMagics.outputs_dir" in message
    assert nothing_sent(server) and magics.session.jobs == []
    shell.run_line_magic("config", f"KlingMagics.outputs_dir = {str(tmp_path / 'ok')!r}")
    assert cell(shell, "", PROMPT).wait(timeout=30).status == "succeeded"


def test_an_unusable_outputs_folder_without_a_key_starts_no_simulator(
    keyless: KlingMagics, shell: InteractiveShell, tmp_path: Path
) -> None:
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    shell.run_line_magic("config", f"KlingMagics.outputs_dir = {str(afile)!r}")
    with pytest.raises(UsageError, match=r"%config KlingMagics\.outputs_dir"):
        cell(shell, "", PROMPT)
    assert keyless.session.simulator is None


def test_the_simulators_pace_is_a_setting(
    keyless: KlingMagics,
    shell: InteractiveShell,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shell.run_line_magic("config", "KlingMagics.simulator_seconds = 0.7")
    sim = line(shell, "simulator start")
    assert sim.config.generation_seconds == 0.7
    with pytest.raises(TraitError, match=r"simulator_seconds must be 0 or more seconds\.$"):
        keyless.simulator_seconds = -1


def test_the_default_pace_lets_a_person_see_the_live_view(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KLING_NB_SIMULATOR_SECONDS")
    assert KlingMagics(shell=None).simulator_seconds == 4.0
    monkeypatch.setenv("KLING_NB_SIMULATOR_SECONDS", "1.5")
    assert KlingMagics(shell=None).simulator_seconds == 1.5


def test_the_loaded_session_is_the_current_one(
    magics: KlingMagics, shell: InteractiveShell
) -> None:
    from kling_nb.session import current_session

    assert current_session() is magics.session
    KlingMagics(shell=None)  # a magics object alone is not the notebook's session
    assert current_session() is magics.session
    shell.extension_manager.unload_extension("kling_nb")
    assert current_session() is None
    shell.extension_manager.load_extension("kling_nb")


# -- a Session on its own ----------------------------------------------------------------------


@pytest.fixture
def quiet_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Session, list[str]]]:
    """A session with no key and an instant simulator, whose notices are collected."""
    monkeypatch.delenv("OXEN_API_KEY", raising=False)
    monkeypatch.delenv("KLING_NB_BASE_URL", raising=False)
    said: list[str] = []
    session = Session(KlingSettings(outputs_dir=str(tmp_path), simulator_seconds=0), said.append)
    yield session, said
    session.close()


def test_the_simulated_note_is_said_once_per_session(
    quiet_session: tuple[Session, list[str]],
) -> None:
    session, said = quiet_session
    session.say_simulated()
    session.say_simulated()
    assert said == [SIMULATED_NOTE]


def test_the_simulators_start_line_counts_as_the_simulated_note(
    quiet_session: tuple[Session, list[str]],
) -> None:
    session, said = quiet_session
    session.start_simulator()
    session.say_simulated()
    assert len(said) == 1 and "Results are simulated" in said[0]
    assert SIMULATED_NOTE not in said


def test_one_client_per_target_and_stop_closes_the_simulated_ones(
    quiet_session: tuple[Session, list[str]],
) -> None:
    session, _ = quiet_session
    assert session.stop_simulator() is False  # nothing was running
    client = session.client()
    assert client.simulated and session.client() is client
    session.settings.deadline_seconds = 60.0
    other = session.client()
    assert other is not client and session.existing_clients() == [client, other]
    assert session.stop_simulator() is True
    assert session.simulator is None and session.existing_clients() == []


def test_the_session_knows_its_clients_jobs_once(
    quiet_session: tuple[Session, list[str]],
) -> None:
    session, _ = quiet_session
    job = session.client().submit(VideoRequest(prompt=PROMPT, duration=3))
    session.remember(job)
    assert session.jobs == [job]
    assert job.wait(timeout=30).status == "succeeded"


def test_close_ends_the_clients_and_the_simulator(
    quiet_session: tuple[Session, list[str]],
) -> None:
    session, _ = quiet_session
    session.activate()
    session.client()
    simulator = session.simulator
    assert simulator is not None and current_session() is session
    session.close()
    assert session.simulator is None and session.existing_clients() == []
    assert current_session() is None
    with pytest.raises(httpx.TransportError):
        httpx.get(simulator.base_url, timeout=5)


def test_settings_defaults_follow_the_environment_and_bad_values_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KLING_NB_OUTPUTS", str(tmp_path / "videos"))
    settings = KlingSettings()
    assert settings.outputs_dir == str(tmp_path / "videos")
    assert settings.default_model == "o3-pro" and settings.deadline_seconds == 1800.0
    with pytest.raises(TraitError, match=r"deadline_seconds must be a positive number"):
        settings.deadline_seconds = 0
    assert settings.deadline_seconds == 1800.0
