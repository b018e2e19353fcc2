"""%kling gallery, samples and simulator start's options; the simulator's pace setting."""

from __future__ import annotations

import sys
from typing import Any

import httpx
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from test_magics import PROMPT, cell, keyless, line, magics, server, shell
from traitlets import TraitError

from kling_nb.magics import KlingMagics
from kling_nb.simulator.samples import SAMPLE_NAMES
from kling_nb.widgets.gallery import Gallery


def test_gallery_shows_the_sessions_ledger_with_filters(
    magics: KlingMagics,
    shell: InteractiveShell,
) -> None:
    first = cell(shell, "", PROMPT).wait(timeout=30)
    second = cell(shell, "-d 3", "A red fox in snow").wait(timeout=30)
    view = line(shell, "gallery")
    assert isinstance(view, Gallery)
    assert [c["job_id"] for c in view.cards] == [second.id, first.id]
    assert [c["job_id"] for c in line(shell, "gallery --last 1").cards] == [second.id]
    assert [c["job_id"] for c in line(shell, "gallery --search 'red fox'").cards] == [second.id]
    assert line(shell, "gallery --model o3-4k").cards == []
    with pytest.raises(UsageError, match="unrecognized arguments: --bogus"):
        line(shell, "gallery --bogus")
    with pytest.raises(UsageError, match="invalid int value: 'x'"):
        line(shell, "gallery --last x")
    with pytest.raises(UsageError, match="Unknown model 'o3-prro'"):
        line(shell, "gallery --model o3-prro")


def test_samples_lists_urls_the_simulator_serves(
    keyless: KlingMagics,
    shell: InteractiveShell,
    capsys: Any,
) -> None:
    line(shell, "samples")
    out = capsys.readouterr().out
    simulator = keyless.session.simulator
    assert simulator is not None and "started the bundled simulator" in out
    for name in SAMPLE_NAMES:
        url = simulator.sample_url(name)
        assert url in out
    answer = httpx.get(simulator.sample_url(SAMPLE_NAMES[0]))
    assert answer.status_code == 200 and answer.content.startswith(b"\x89PNG")
    line(shell, "help")
    assert "%kling samples" in capsys.readouterr().out


def test_samples_with_a_key_and_no_simulator_says_how(
    magics: KlingMagics,
    shell: InteractiveShell,
    capsys: Any,
) -> None:
    line(shell, "samples")
    assert "%kling simulator start" in capsys.readouterr().out
    assert magics.session.simulator is None


def test_simulator_start_takes_the_command_line_options(
    keyless: KlingMagics,
    shell: InteractiveShell,
    capsys: Any,
) -> None:
    sim = line(shell, "simulator start --generation-seconds 0.3 --fail-next 1 --video-height 90")
    assert sim.config.generation_seconds == 0.3 and sim.config.video_height == 90
    assert sim.faults()["fail_next"] == 1
    job = cell(shell, "", PROMPT).wait(timeout=30)
    assert job.status == "failed"  # the fault fired
    capsys.readouterr()
    line(shell, "simulator start --generation-seconds 5")
    assert "already running" in capsys.readouterr().out
    line(shell, "simulator stop")
    with pytest.raises(UsageError, match="unrecognized arguments: --nope"):
        line(shell, "simulator start --nope")
    with pytest.raises(UsageError, match=r"^Usage: %kling simulator start"):
        line(shell, "simulator stop now")


def test_wait_in_a_terminal_prints_one_updating_line(
    magics: KlingMagics, shell: InteractiveShell, capsys: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    job = cell(shell, "--wait", PROMPT)
    out = capsys.readouterr().out
    assert job.done and f"\rJob {job.id}: succeeded · " in out and out.endswith("\n")


def test_config_shows_the_simulators_pace(
    magics: KlingMagics, shell: InteractiveShell, capsys: Any
) -> None:
    shell.run_line_magic("config", "KlingMagics.simulator_seconds = 2.5")
    line(shell, "config")
    assert "simulator_seconds  2.5\n" in capsys.readouterr().out


def test_history_and_gallery_follow_the_sessions_outputs_folder(
    magics: KlingMagics, shell: InteractiveShell, tmp_path: Any
) -> None:
    import kling_nb

    shell.run_line_magic("config", f"KlingMagics.outputs_dir = '{tmp_path / 'elsewhere'}'")
    job = cell(shell, "", PROMPT).wait(timeout=30)
    assert list(kling_nb.history()["job_id"]) == [job.id]
    assert [c["job_id"] for c in kling_nb.gallery().cards] == [job.id]
