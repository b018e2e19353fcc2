"""``kling-nb simulator`` as a process: its first line, its flags, and a clean stop."""

from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from kling_nb.cli import build_parser, main
from kling_nb.simulator.cli import add_arguments, fault_settings
from tests._simulator import MODEL


class Run:
    """A simulator process, its first stdout line and, once it ended, its stderr."""

    def __init__(self, proc: subprocess.Popen[str], first: str) -> None:
        self.proc = proc
        self.first = first
        self.base_url = first.removeprefix("KLING_NB_BASE_URL=")
        self.stderr = ""


@contextmanager
def simulator_process(*flags: str) -> Iterator[Run]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "kling_nb.cli", "simulator", "--port", "0", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    run = Run(proc, proc.stdout.readline().rstrip("\n"))
    try:
        yield run
    finally:
        if proc.poll() is None:
            proc.kill()
        run.stderr = proc.communicate(timeout=10)[1]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_first_line_is_the_base_url_and_a_signal_stops_it_cleanly(sig: signal.Signals) -> None:
    with simulator_process("--generation-seconds", "0.1") as run:
        assert run.first.startswith("KLING_NB_BASE_URL=http://127.0.0.1:")
        with httpx.Client(base_url=run.base_url, headers={"Authorization": "Bearer k"}) as client:
            assert client.get("/api/ai/models").status_code == 200
            # an open event stream must not keep the server from stopping
            with client.stream("GET", "/api/events") as stream:
                assert stream.status_code == 200
                run.proc.send_signal(sig)
                assert run.proc.wait(timeout=10) == 0
    assert "stopped" in run.stderr
    assert "Traceback" not in run.stderr


def test_api_key_and_fault_flags_take_effect() -> None:
    flags = ("--api-key", "sekrit", "--enqueue-errors", "503", "--generation-seconds", "0.1")
    with simulator_process(*flags) as run:
        base = run.base_url
        body = {"model": MODEL, "prompt": "a dog"}
        wrong = httpx.post(f"{base}/api/ai/queue", json=body, headers={"Authorization": "Bearer x"})
        assert wrong.status_code == 401
        right = {"Authorization": "Bearer sekrit"}
        assert httpx.post(f"{base}/api/ai/queue", json=body, headers=right).status_code == 503
        assert httpx.post(f"{base}/api/ai/queue", json=body, headers=right).status_code == 200
        run.proc.send_signal(signal.SIGTERM)
        assert run.proc.wait(timeout=10) == 0


def test_a_busy_port_is_reported_with_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["simulator", "--port", str(port)]) == 1
    out = capsys.readouterr()
    assert out.out == ""
    assert "--port 0" in out.err


def test_fault_flags_parse_to_fault_settings() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        [
            "--enqueue-errors",
            '[502, {"status": 429, "retry_after": 2}]',
            "--poll-errors",
            "500,503",
            "--events-duplicate",
            "--fail-next",
            "2",
            "--result-url-ttl-seconds",
            "1.5",
        ]
    )
    assert fault_settings(args) == {
        "enqueue_errors": [502, {"status": 429, "retry_after": 2}],
        "poll_errors": [500, 503],
        "events_duplicate": True,
        "fail_next": 2,
        "result_url_ttl_seconds": 1.5,
    }
    assert fault_settings(parser.parse_args([])) == {}
    with pytest.raises(SystemExit):
        parser.parse_args(["--poll-errors", "five hundred"])


def test_the_lead_cli_wires_the_subcommand() -> None:
    args = build_parser().parse_args(["simulator", "--port", "0", "--stuck"])
    assert args.command == "simulator"
    assert args.port == 0 and args.generation_seconds == 2.0
    assert fault_settings(args) == {"stuck": True}


def test_bad_fault_values_exit_with_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulator", "--port", "0", "--fail-next", "-1"]) == 2
    assert "fail_next must be a whole number >= 0" in capsys.readouterr().err
