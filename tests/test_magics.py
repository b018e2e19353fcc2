"""%%kling and %kling in a real IPython shell, against the bundled simulator over loopback HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _core import SLOW_DOWNLOAD, until
from _strategies import padded
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from kling_nb.jobs import Job
from kling_nb.magics import KlingMagics
from kling_nb.requests import VideoRequest
from kling_nb.simulator import Simulator, run

FAKE_KEY = "sk-FAKE-KEY-must-never-appear-0123456789"
PROMPT = "A puppy runs through a park"


@pytest.fixture(scope="module")
def shell() -> InteractiveShell:
    return InteractiveShell.instance()


@pytest.fixture
def server(sim: Simulator) -> Simulator:
    """The shared simulator (conftest), reset for this test: what the session talks to."""
    return sim


@pytest.fixture
def magics(
    shell: InteractiveShell, server: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[KlingMagics]:
    """The extension loaded with a (fake) key, pointed at the shared simulator."""
    monkeypatch.setenv("OXEN_API_KEY", FAKE_KEY)
    monkeypatch.setenv("KLING_NB_BASE_URL", server.base_url)
    monkeypatch.setenv("KLING_NB_OUTPUTS", str(tmp_path))
    with loaded(shell) as magics:
        yield magics


@pytest.fixture
def keyless(
    shell: InteractiveShell, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[KlingMagics]:
    """The extension loaded with no key: the session must start its own simulator."""
    monkeypatch.delenv("OXEN_API_KEY", raising=False)
    monkeypatch.delenv("KLING_NB_BASE_URL", raising=False)
    monkeypatch.setenv("KLING_NB_OUTPUTS", str(tmp_path))
    with loaded(shell) as magics:
        yield magics


@contextlib.contextmanager
def loaded(shell: InteractiveShell) -> Iterator[KlingMagics]:
    """%load_ext kling_nb, then %unload_ext and a clean namespace and config."""
    shell.extension_manager.load_extension("kling_nb")
    magics = shell.magics_manager.registry["KlingMagics"]
    assert isinstance(magics, KlingMagics)
    try:
        yield magics
    finally:
        shell.extension_manager.unload_extension("kling_nb")
        shell.user_ns.pop("_kling", None)
        shell.config.pop("KlingMagics", None)  # %config settings outlive the extension


def cell(shell: InteractiveShell, line: str, body: str) -> Any:
    return shell.run_cell_magic("kling", line, body)


def line(shell: InteractiveShell, text: str) -> Any:
    return shell.run_line_magic("kling", text)


def nothing_sent(server: Simulator) -> bool:
    return server.stats()["requests_by_path"] == {}


def dry_run(shell: InteractiveShell, capsys: Any, line: str, body: str) -> dict[str, Any]:
    """The request a cell would send, from its --dry-run output."""
    cell(shell, f"{line} --dry-run", body)
    return dry_run_payload(capsys.readouterr().out)


def dry_run_payload(out: str) -> dict[str, Any]:
    start = out.index("Request (validated):\n") + len("Request (validated):\n")
    end = out.index("\n\nEstimated cost")
    payload: dict[str, Any] = json.loads(out[start:end])
    return payload


# -- loading ---------------------------------------------------------------------------------


def test_load_ext_registers_the_magics_and_does_nothing_else(
    shell: InteractiveShell, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OXEN_API_KEY", raising=False)
    threads = threading.active_count()
    capfd.readouterr()
    shell.run_line_magic("load_ext", "kling_nb")
    try:
        assert capfd.readouterr() == ("", "")
        assert threading.active_count() == threads
        assert "kling" in shell.magics_manager.magics["line"]
        assert "kling" in shell.magics_manager.magics["cell"]
        magics = shell.magics_manager.registry["KlingMagics"]
        assert magics.session.simulator is None
        assert magics.session.existing_clients() == []
    finally:
        shell.run_line_magic("unload_ext", "kling_nb")
    assert "kling" not in shell.magics_manager.magics["cell"]
    assert "KlingMagics" not in shell.magics_manager.registry


def test_load_ext_in_a_fresh_interpreter_imports_no_client_and_starts_nothing() -> None:
    import subprocess

    code = """
import io, sys, threading, contextlib
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
before = threading.active_count()
out = io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
    shell.run_line_magic("load_ext", "kling_nb")
heavy = ["httpx", "kling_nb.client", "kling_nb.runtime", "kling_nb.simulator.server", "pydantic"]
loaded = [m for m in heavy if m in sys.modules]
print(threading.active_count() - before, repr(out.getvalue()), loaded)
"""
    env = {k: v for k, v in os.environ.items() if k != "OXEN_API_KEY"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert (done.stdout, done.stderr) == ("0 '' []\n", "")


# -- the grammar, through --dry-run ----------------------------------------------------------


def test_quoted_option_values_keep_their_spaces(
    magics: KlingMagics, shell: InteractiveShell, capsys: Any
) -> None:
    payload = dry_run(shell, capsys, '--negative "people, text"', PROMPT)
    assert payload["negative_prompt"] == "people, text"


# -- every mistake is a one-line UsageError, and nothing is sent -----------------------------

MISTAKES = [
    ("--bogus", PROMPT, "unrecognized arguments: --bogus"),
    ("-a 4:3", PROMPT, "argument -a/--aspect-ratio: invalid choice: '4:3'"),
    ("-d five", PROMPT, "argument -d/--duration: invalid int value: 'five'"),
    ("-n 5", PROMPT, "^num_generations must be an integer between 1 and 4$"),
    ("-n 0", PROMPT, "^num_generations must be an integer between 1 and 4$"),
    ("-n two", PROMPT, "^num_generations must be an integer between 1 and 4$"),
    ("-o 1clip", PROMPT, "-o takes a Python variable name"),
    ("--sync -n 2", PROMPT, "--sync makes one generation"),
    ("--negative 'unbalanced", PROMPT, "Could not read the %%kling options"),
    ("-d 5", "[5s] a\n[5s] b", "-d sets the duration of a single prompt"),
    ("-m o3-prro", PROMPT, "Unknown model 'o3-prro'. Did you mean 'o3-pro'"),
    ("", " \n", "Either 'prompt' or 'multi_prompt' must be provided."),
    ("", "[1s] a\n[1s] b", "duration value '2' is invalid"),
    ("", "[5s] a\n[5s] b\n[6s] c", r"Total shot duration \(16s\) exceeds maximum allowed \(15s\)"),
    ("", "[16s] a", r"^shot 1 is 16 s; a shot is 1 to 15 s\.$"),
    ("", "[5s] a\n[20s] b", r"^shot 2 is 20 s; a shot is 1 to 15 s\.$"),
    ("", "x" * 600, r"^prompt is 600 characters; the limit is 512\.$"),
    ("-d 2", PROMPT, "duration value '2' is invalid"),
    ("--end https://example.com/b.png", PROMPT, "tail_image_url"),
    ("--element https://example.com/a.png,,x", PROMPT, "--element takes FRONT"),
    ("", "intro\n[5s] a cat", r"Text before the first \[Ns\] shot marker"),
    ("", "a {undefined_name} cat", "Name 'undefined_name' in the cell body is not defined"),
    ("", "a { cat", "Unmatched '{'"),
    ("", "[5 s] a cat", "not a shot marker"),
]


@pytest.mark.parametrize(("options", "body", "message"), MISTAKES)
def test_a_mistake_is_a_one_line_usage_error_and_sends_nothing(
    magics: KlingMagics, shell: InteractiveShell, server: Simulator,
    options: str, body: str, message: str,
) -> None:  # fmt: skip
    with pytest.raises(UsageError, match=message) as info:
        cell(shell, options, body)
    assert "\n" not in str(info.value)
    assert FAKE_KEY not in str(info.value)
    assert nothing_sent(server)
    assert magics.session.existing_clients() == []
    assert "_kling" not in shell.user_ns


def test_a_lone_surrogate_in_any_text_is_a_clear_error_and_nothing_is_sent(
    magics: KlingMagics, shell: InteractiveShell, server: Simulator, tmp_path: Path
) -> None:
    """Text decoded with errors="surrogateescape" (a file name, say) cannot be sent as UTF-8."""
    from pydantic import ValidationError

    shell.user_ns["name"] = b"caf\xe9".decode("utf-8", "surrogateescape")
    said = r"a lone surrogate '\\udce9' \(character 4\) cannot be sent as UTF-8"
    with pytest.raises(UsageError, match=f"^prompt: {said}") as info:
        cell(shell, "", "{name} at dusk, a slow walk")
    assert "\n" not in str(info.value)
    with pytest.raises(UsageError, match=f"negative_prompt: {said}"):
        cell(shell, "--negative={name}", PROMPT)
    client = magics.session.client()
    shots = [{"prompt": "a"}, {"prompt": shell.user_ns["name"]}]
    with pytest.raises(ValidationError, match=f"multi_prompt.1.prompt\n.*{said}"):
        client.submit({"multi_prompt": shots})
    with pytest.raises(ValidationError, match=f"target_namespace\n.*{said}"):
        client.generate({"prompt": PROMPT, "target_namespace": shell.user_ns["name"]})
    assert nothing_sent(server)
    assert client.jobs == [] and not (tmp_path / "ledger.jsonl").exists()


def test_a_mistake_without_a_key_does_not_start_the_simulator(
    keyless: KlingMagics, shell: InteractiveShell
) -> None:
    with pytest.raises(UsageError, match="num_generations must be"):
        cell(shell, "-n 5", PROMPT)
    assert keyless.session.simulator is None


def test_run_cell_shows_a_usage_error_as_one_line_without_a_traceback(
    magics: KlingMagics, shell: InteractiveShell, capsys: Any
) -> None:
    shell.run_cell(f"%%kling -n 5\n{PROMPT}")
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "UsageError: num_generations must be an integer between 1 and 4" in text
    assert "Traceback" not in text


# -- submitting ------------------------------------------------------------------------------


def test_a_cell_returns_the_job_at_once_and_it_ends_with_a_video_file(
    magics: KlingMagics, shell: InteractiveShell, server: Simulator, tmp_path: Path
) -> None:
    job = cell(shell, "-o clip -d 3", PROMPT)
    assert isinstance(job, Job)
    assert shell.user_ns["_kling"] is job
    assert shell.user_ns["clip"] is job
    assert job.request.prompt == PROMPT
    job.wait(timeout=30)
    assert job.status == "succeeded"
    [result] = job.results
    assert result.path.is_file() and result.path.stat().st_size > 1000
    assert tmp_path in result.path.parents
    assert result.path.read_bytes()[4:8] == b"ftyp"
    assert server.stats()["enqueue_calls"] == 1
    assert magics.session.jobs == [job]


def test_an_unchanged_rerun_replays_at_no_cost_and_force_makes_a_new_take(
    magics: KlingMagics, shell: InteractiveShell, server: Simulator, capsys: Any
) -> None:
    first = cell(shell, "", PROMPT).wait(timeout=30)
    capsys.readouterr()
    again = cell(shell, "", PROMPT)
    assert again.replayed and again.status == "succeeded"
    assert again.results[0].path == first.results[0].path
    assert server.stats()["enqueue_calls"] == 1
    out = capsys.readouterr().out
    assert "Replayed" in out and "no cost" in out and "--force" in out
    line(shell, "jobs")
    assert re.search(
        rf"{again.id}\s+o3-pro\s+succeeded\s+\d+ s\s+\$0 \(replayed\)", capsys.readouterr().out
    )
    forced = cell(shell, "--force", PROMPT)
    assert not forced.replayed
    forced.wait(timeout=30)
    assert server.stats()["enqueue_calls"] == 2
    assert forced.results[0].path != first.results[0].path


def test_wait_blocks_until_the_job_ends(magics: KlingMagics, shell: InteractiveShell) -> None:
    job = cell(shell, "--wait", PROMPT)
    assert job.done and job.status == "succeeded"


def test_an_interrupt_stops_the_waiting_not_the_job(
    magics: KlingMagics,
    shell: InteractiveShell,
    server: Simulator,
    capsys: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server.set_faults(**SLOW_DOWNLOAD)  # still running when the cell goes on to wait
    real_wait = Job.wait

    def interrupted(self: Job, timeout: float | None = None) -> Job:
        raise KeyboardInterrupt

    monkeypatch.setattr(Job, "wait", interrupted)
    job = cell(shell, "--wait", PROMPT)
    out = capsys.readouterr().out
    assert f"job {job.id} continues in the background" in out
    assert f"%kling cancel {job.id}" in out
    assert not job.cancel_requested
    assert real_wait(job, 30).status == "succeeded"


def test_sync_uses_the_synchronous_endpoint(
    magics: KlingMagics, shell: InteractiveShell, server: Simulator
) -> None:
    job = cell(shell, "--sync", PROMPT)
    assert job.done and job.status == "succeeded"
    stats = server.stats()
    assert stats["sync_calls"] == 1 and stats["enqueue_calls"] == 0


# -- no key: the bundled simulator -----------------------------------------------------------


# -- %kling commands -------------------------------------------------------------------------


def test_kling_alone_and_help_print_the_guide(
    magics: KlingMagics, shell: InteractiveShell, capsys: Any
) -> None:
    line(shell, "")
    guide = capsys.readouterr().out
    line(shell, "help")
    assert capsys.readouterr().out == guide
    for command in ["models", "jobs", "cancel", "resume", "history", "config", "simulator", "form"]:
        assert f"%kling {command}" in guide


def test_an_unknown_command_is_a_usage_error(magics: KlingMagics, shell: InteractiveShell) -> None:
    with pytest.raises(UsageError, match="Unknown %kling command 'model'"):
        line(shell, "model")
    with pytest.raises(UsageError, match=r"options belong to the %%kling cell magic"):
        line(shell, "-n 2")
    with pytest.raises(UsageError, match=r"Usage: %kling cancel ID\|all"):
        line(shell, "cancel")


def test_models_remote_asks_the_server(
    magics: KlingMagics, shell: InteractiveShell, server: Simulator, capsys: Any
) -> None:
    line(shell, "models --remote")
    assert "kling-video-o3-pro-reference-to-video" in capsys.readouterr().out
    assert server.stats()["model_calls"] >= 1


def test_jobs_cancel_and_history(
    magics: KlingMagics, shell: InteractiveShell, server: Simulator, capsys: Any
) -> None:
    line(shell, "jobs")
    assert "No jobs yet" in capsys.readouterr().out
    done = cell(shell, "", PROMPT).wait(timeout=30)
    server.set_faults(stuck=True)
    stuck = cell(shell, "", "A cat sleeps")
    capsys.readouterr()
    line(shell, "jobs")
    out = capsys.readouterr().out
    assert done.id in out and stuck.id in out and "succeeded" in out and "$1.12" in out
    line(shell, f"cancel {done.id}")
    assert "already ended" in capsys.readouterr().out
    with pytest.raises(UsageError, match="No job or generation 'nope'"):
        line(shell, "cancel nope")
    line(shell, "cancel all")
    assert "Cancelled 1 running job." in capsys.readouterr().out
    assert stuck.wait(timeout=30).status == "cancelled"
    # The ledger's job line is written just after the job settles: give it a moment.
    out = ""

    def history_says_cancelled() -> bool:
        nonlocal out
        line(shell, "history")
        out = capsys.readouterr().out
        return "cancelled" in out

    until(history_says_cancelled)
    name = done.results[0].path.name  # a long generation id loses its middle
    assert re.search(rf"{name[:8]}\S*…\S*{re.escape(name[-8:])}", out) and "cancelled" in out
    lines = out.splitlines()
    assert max(map(len, lines[1:])) <= 100  # one line per job, within 100 columns
    assert (
        lines[0]
        == f"Results are in {os.path.relpath(magics.outputs_dir)}/ (RESULT is relative to it)."
    )
    assert re.search(r"o3-pro\s+succeeded\s+1/1\s+\$1\.12\s+A puppy runs through .*\.mp4", out)
    assert re.search(r"o3-pro\s+cancelled\s+0/1\s+\$0\.00\s+A cat sleeps\s+-$", out, re.M)  # billed


def test_a_timed_out_job_can_still_be_cancelled_by_id_and_with_all(
    magics: KlingMagics, shell: InteractiveShell, server: Simulator, capsys: Any
) -> None:
    server.set_faults(stuck=True)  # the server keeps both running past the client's deadline
    shell.run_line_magic("config", "KlingMagics.deadline_seconds = 0.5")
    first = cell(shell, "--wait", PROMPT)
    second = cell(shell, "--wait", "A cat sleeps")
    assert first.status == second.status == "timed_out"
    capsys.readouterr()
    line(shell, f"cancel {first.id}")  # what the timed-out message says to do
    assert f"Cancelled job {first.id}." in capsys.readouterr().out
    line(shell, "cancel all")
    assert "Cancelled 1 running job." in capsys.readouterr().out
    assert server.stats()["cancels"] == 2
    for job in (first, second):
        assert [g.status for g in job.generations] == ["cancelled"]
    line(shell, f"cancel {first.id}")
    assert "already ended (cancelled)" in capsys.readouterr().out


# A DOM just big enough for js/job.js, and a model whose job and takes have timed out.
_JOB_VIEW_HARNESS = """
class Node {
  constructor(tag) { this.tag = tag; this.children = []; this.dataset = {}; this.attrs = {};
    this.hidden = false; this.textContent = ""; }
  append(...nodes) { this.children.push(...nodes); }
  replaceChildren(...nodes) { this.children = nodes; }
  setAttribute(name, value) { this.attrs[name] = value; }
  addEventListener() {}
  *all() { yield this; for (const c of this.children) yield* c.all(); }
}
globalThis.document = { createElement: (tag) => new Node(tag) };
const state = JSON.parse(process.argv[2]);
const model = { get: (name) => state[name], on() {}, off() {}, send() {} };
const el = new Node("div");
JOB_VIEW.initialize({ model }).render({ model, el });
const shown = [...el.all()].filter((n) => n.tag === "button" && !n.hidden);
const labels = shown.map((b) => b.attrs["aria-label"]);
console.log(JSON.stringify(labels.filter((l) => /^Cancel/.test(l))));
process.exit(0);
"""


@pytest.mark.parametrize(
    ("status", "takes", "shown"),
    [
        ("timed_out", ["timed_out"], ["Cancel all takes of this job", "Cancel take 1"]),
        ("partial", ["succeeded", "timed_out"], ["Cancel all takes of this job", "Cancel take 2"]),
        ("succeeded", ["succeeded"], []),
        ("cancelled", ["cancelled"], []),
    ],
)
def test_the_job_view_offers_cancel_while_a_timed_out_take_may_still_run(
    status: str, takes: list[str], shown: list[str], tmp_path: Path
) -> None:
    import subprocess

    root = Path(__file__).resolve().parent.parent / "js"
    common = (root / "common.js").read_text()
    view = (root / "job.js").read_text().replace("export default", "const JOB_VIEW =")
    script = tmp_path / "job_view.mjs"
    script.write_text(common + view + _JOB_VIEW_HARNESS)
    gens = [{"index": i, "id": f"gen-{i}", "status": s} for i, s in enumerate(takes)]
    state = {"status": status, "generations": gens, "can_cancel_one": True, "created_at": 1.0}
    answer = subprocess.run(
        ["node", str(script), json.dumps(state)], capture_output=True, text=True, timeout=30
    )
    assert answer.returncode == 0, answer.stderr
    assert sorted(json.loads(answer.stdout)) == sorted(shown)


def test_resume_with_nothing_pending(
    magics: KlingMagics, shell: InteractiveShell, capsys: Any
) -> None:
    line(shell, "resume")
    assert "Nothing to resume" in capsys.readouterr().out


def test_config_shows_effective_settings_with_the_key_redacted(
    magics: KlingMagics, shell: InteractiveShell, server: Simulator, capsys: Any, tmp_path: Path
) -> None:
    shell.run_line_magic("config", "KlingMagics.budget_usd = 5.0")
    line(shell, "config")
    out = capsys.readouterr().out
    assert "o3-pro" in out and "$5.00" in out and str(tmp_path) in out
    assert "set (redacted)" in out and server.base_url in out
    assert FAKE_KEY not in out


def test_form_starts_nothing_and_submits_through_the_session(
    keyless: KlingMagics, shell: InteractiveShell, capsys: Any
) -> None:
    from kling_nb.widgets import RequestForm

    threads = threading.active_count()
    form = line(shell, "form")
    assert isinstance(form, RequestForm)
    assert threading.active_count() == threads and keyless.session.simulator is None
    form = RequestForm.from_request(VideoRequest(prompt=PROMPT, duration=3))
    job = form.submit()
    assert job.simulated and keyless.session.simulator is not None
    capsys.readouterr()
    line(shell, "jobs")
    assert job.id in capsys.readouterr().out


def test_the_key_never_appears_in_any_output(
    magics: KlingMagics, shell: InteractiveShell, capsys: Any, tmp_path: Path
) -> None:
    job = cell(shell, "-o clip", PROMPT).wait(timeout=30)
    cell(shell, "", PROMPT)
    cell(shell, "--dry-run", PROMPT)
    for command in ["jobs", "history", "config", "models", "help", "simulator status"]:
        line(shell, command)
    with pytest.raises(UsageError) as info:
        cell(shell, "-n 9", PROMPT)
    captured = capsys.readouterr()
    texts = [captured.out, captured.err, str(info.value), repr(job), job.summary()]
    texts += [path.read_text(errors="replace") for path in tmp_path.rglob("*.jsonl")]
    assert all(FAKE_KEY not in text for text in texts)


_TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"))
    | st.sampled_from("\n{}[]$-'\"\\"),
    min_size=1,
    max_size=60,
)


_URL = st.builds(
    "https://example.com/{}.png".format,
    st.text(st.sampled_from("ab$-{}',% "), min_size=1, max_size=8),
)
_OPTIONS = st.fixed_dictionaries(
    {},
    optional={
        "negative_prompt": _TEXT,
        "aspect_ratio": st.sampled_from(["16:9", "9:16", "1:1"]),
        "generate_audio": st.booleans(),
        "input_image": st.lists(_URL, min_size=1, max_size=2),
        "elements": st.lists(
            st.builds(
                lambda front, refs: {"frontal_image_url": front, "reference_image_urls": refs},
                _URL,
                st.lists(_URL, max_size=2),
            ),
            min_size=1,
            max_size=2,
        ),
        "start_image_url": _URL,
        "tail_image_url": _URL,
    },
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    prompts=st.lists(padded(_TEXT), min_size=1, max_size=3),
    seconds=st.lists(st.integers(1, 5), min_size=3, max_size=3),
    options=_OPTIONS,
    multi=st.booleans(),
    num=st.integers(1, 4),
)
def test_the_magic_export_of_any_request_reads_back_as_the_same_request(
    magics: KlingMagics, shell: InteractiveShell, capsys: Any,
    prompts: list[str], seconds: list[int], options: dict[str, Any], multi: bool, num: int,
) -> None:  # fmt: skip
    from pydantic import ValidationError

    fields = dict(options)
    if multi:
        shots = [{"prompt": p, "duration": s + 2} for p, s in zip(prompts, seconds, strict=False)]
        fields["multi_prompt"] = shots
    else:
        fields["prompt"] = prompts[0]
    try:
        request = VideoRequest.model_validate(fields)
        exported = request.to_magic(num_generations=num)
    except (ValidationError, ValueError):
        assume(False)
        return
    head, _, body = exported.partition("\n")
    capsys.readouterr()
    cell(shell, head.removeprefix("%%kling") + " --dry-run", body)
    out = capsys.readouterr().out
    # Equal canonical JSON is what matters: the same hash, so a re-run replays. (The magic cannot
    # write "generate_audio": false or an empty reference list, which are the defaults anyway.)
    read_back = VideoRequest.model_validate(dry_run_payload(out))
    assert read_back.canonical_json() == request.canonical_json()
    assert (f"for {num} generations" in out) == (num > 1)


# -- sessions, settings and the ledger -------------------------------------------------------


def test_output_name_must_be_a_usable_variable(
    magics: KlingMagics, shell: InteractiveShell
) -> None:
    with pytest.raises(UsageError, match="-o takes a Python variable name, not 'class'"):
        cell(shell, "-o class", PROMPT)


def test_a_dry_run_without_a_key_says_a_run_would_be_simulated(
    keyless: KlingMagics, shell: InteractiveShell, capsys: Any
) -> None:
    cell(shell, "--dry-run", PROMPT)
    out = capsys.readouterr().out
    assert "No OXEN_API_KEY is set: running this cell would use the bundled simulator" in out
    assert "%env OXEN_API_KEY=" in out


def test_jobs_and_resume_pick_up_what_a_previous_kernel_left_running(
    magics: KlingMagics, shell: InteractiveShell, server: Simulator, capsys: Any
) -> None:
    server.set_faults(stuck=True)
    job = cell(shell, "", PROMPT)
    until(lambda: bool(job.generation_ids))
    shell.extension_manager.unload_extension("kling_nb")  # as a kernel restart would
    shell.extension_manager.load_extension("kling_nb")
    fresh = shell.magics_manager.registry["KlingMagics"]
    assert fresh is not magics and fresh.session.jobs == []
    capsys.readouterr()
    line(shell, "jobs")
    out = capsys.readouterr().out
    assert job.id in out and "(ledger)" in out and "%kling resume" in out
    line(shell, "cancel all")
    out = capsys.readouterr().out
    assert "Cancelled 0 running jobs." in out
    assert "1 job from before this kernel: %kling resume, then cancel." in out
    line(shell, "resume")
    assert "Re-attached 1 job." in capsys.readouterr().out
    [resumed] = fresh.session.jobs
    assert resumed.id == job.id and resumed.generation_ids == job.generation_ids
    line(shell, f"cancel {job.generation_ids[0]}")
    assert f"Cancelled job {job.id}." in capsys.readouterr().out
    assert resumed.wait(timeout=30).status == "cancelled"
    assert server.stats()["enqueue_calls"] == 1


@contextlib.contextmanager
def interrupted_once_sent(server: Simulator, timeout: float = 30) -> Iterator[None]:
    """Send this process a SIGINT (what Ctrl-C or the stop button sends), from a thread, as soon
    as the server has received the synchronous call made in the ``with`` block. A call that has
    not arrived within ``timeout`` is interrupted all the same (the block would wait for ever)
    and the test fails saying so."""
    arrived = threading.Event()
    left = threading.Event()  # the block is over: a SIGINT now would hit the test runner

    def interrupt() -> None:
        deadline = time.monotonic() + timeout
        while not left.is_set():
            if server.stats()["sync_calls"]:
                arrived.set()
            if arrived.is_set() or time.monotonic() > deadline:
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.01)

    thread = threading.Thread(target=interrupt, daemon=True)
    thread.start()
    try:
        yield
    finally:
        left.set()
        thread.join()
        assert arrived.is_set(), f"the synchronous call did not reach the server in {timeout} s"


def test_an_interrupt_during_sync_stops_the_waiting_and_keeps_the_job(
    magics: KlingMagics, shell: InteractiveShell, server: Simulator, capsys: Any
) -> None:
    server.set_faults(stuck=True)
    with interrupted_once_sent(server):
        job = cell(shell, "--sync -o clip", PROMPT)
    out = capsys.readouterr().out
    assert isinstance(job, Job) and not job.done
    assert f"job {job.id} continues in the background" in out
    assert shell.user_ns["clip"] is job and shell.user_ns["_kling"] is job
    assert magics.session.jobs == [job]


def test_rerunning_an_interrupted_sync_cell_shows_its_job_and_pays_once(
    magics: KlingMagics, shell: InteractiveShell, server: Simulator, capsys: Any
) -> None:
    server.set_faults(stuck=True)
    with interrupted_once_sent(server):
        first = cell(shell, "--sync", PROMPT)
    assert isinstance(first, Job) and not first.done
    capsys.readouterr()
    server.set_faults(stuck=False)  # the first take stays stuck; a second would end at once
    again = cell(shell, "--sync", PROMPT)  # the unchanged cell, run again
    assert again is first
    assert f"still running as job {first.id}" in capsys.readouterr().out
    assert server.stats()["sync_calls"] == 1


def test_the_magics_help_shows_the_grammar(magics: KlingMagics, shell: InteractiveShell) -> None:
    info = shell.object_inspect("%%kling")
    assert info["found"]
    doc = str(info["docstring"])
    assert "%%kling [-m MODEL] [-d SECONDS] [-a 16:9|9:16|1:1] [--audio] [-i URL]..." in doc
    assert "%kling [help | models [--remote] | jobs | cancel ID|all" in doc
    assert "--dry-run" in doc and "--sync" in doc


@pytest.mark.slow
def test_in_a_real_kernel_the_cell_shows_a_live_view_and_says_it_is_simulated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.delenv("OXEN_API_KEY", raising=False)
    monkeypatch.delenv("KLING_NB_BASE_URL", raising=False)
    monkeypatch.setenv("KLING_NB_OUTPUTS", str(tmp_path / "outputs"))
    cells = [
        "%load_ext kling_nb",
        f"%%kling -d 3 -o clip --wait\n{PROMPT}",
        f"%%kling -d 3\n{PROMPT}",
        "print(clip.status, clip.results[0].path.is_file())",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    resources = {"metadata": {"path": str(tmp_path)}}
    client = NotebookClient(
        nb, kernel_name="python3", timeout=60, store_widget_state=True, resources=resources
    )
    client.execute()
    load, first, again, check = (cell.outputs for cell in nb.cells)
    assert load == []

    def text(outputs: list[Any]) -> str:
        return "".join(o.get("text", "") for o in outputs if o.output_type == "stream")

    assert "started the bundled simulator" in text(first) and "simulated" in text(first)
    assert "Simulated: no OXEN_API_KEY" not in text(again)  # once per session (and the badge)
    # displayed with a display_id (refreshed when the job ends), not as the cell's result
    [result] = [o for o in first if o.output_type == "display_data"]
    assert "application/vnd.jupyter.widget-view+json" in result.data
    assert "SIMULATED" in result.data["text/plain"] or "simulated" in result.data["text/plain"]
    assert "Replayed" in text(again) and "no cost" in text(again)
    assert text(check).strip() == "succeeded True"
    state = json.dumps(nb.metadata.get("widgets", {}))
    assert len(state) < 200_000  # the video is sent on demand, never saved in widget state


_OPTION_WORDS = st.sampled_from(
    ["-m", "o3-pro", "o3-4k", "-d", "5", "-a", "9:16", "--audio", "-i", "https://e.com/a.png",
     "--element", "https://e.com/a.png,https://e.com/b.png", "--start", "--end", "--negative",
     "-n", "2", "-o", "x", "--force", "--sync", "--wait", "'", '"', "--", "-", "{x}", "$x"]
)  # fmt: skip


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    words=st.lists(_OPTION_WORDS | st.text(max_size=8), max_size=8),
    body=st.sampled_from([PROMPT, f"[5s] {PROMPT}\n[3s] It sits"]) | st.text(max_size=80),
)
def test_any_cell_is_a_dry_run_or_a_usage_error_and_sends_nothing(
    magics: KlingMagics, server: Simulator, capsys: Any, words: list[str], body: str
) -> None:
    try:
        magics.kling("--dry-run " + " ".join(words), body)
    except UsageError as exc:
        assert "\n" not in str(exc)
    else:
        assert "Dry run: nothing was sent." in capsys.readouterr().out
    assert nothing_sent(server)
    assert magics.session.existing_clients() == []


def test_a_server_refusal_in_a_command_is_one_line_without_the_key(
    shell: InteractiveShell, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with run(api_key="the-only-accepted-key") as strict:
        monkeypatch.setenv("OXEN_API_KEY", FAKE_KEY)
        monkeypatch.setenv("KLING_NB_BASE_URL", strict.base_url)
        monkeypatch.setenv("KLING_NB_OUTPUTS", str(tmp_path))
        with loaded(shell):
            with pytest.raises(UsageError, match=r"^AuthenticationError: ") as info:
                line(shell, "history --remote")
            assert "\n" not in str(info.value) and FAKE_KEY not in str(info.value)


def test_rerunning_a_cell_whose_job_is_still_running_shows_that_job_and_sends_nothing(
    magics: KlingMagics, shell: InteractiveShell, server: Simulator, capsys: Any
) -> None:
    server.set_faults(stuck=True)
    first = cell(shell, "", PROMPT)
    capsys.readouterr()
    again = cell(shell, "-o again", PROMPT)
    assert again is first and shell.user_ns["again"] is first
    out = capsys.readouterr().out
    assert f"still running as job {first.id}" in out and "nothing was sent" in out
    other = cell(shell, "-n 2", PROMPT)  # another request: a job of its own
    forced = cell(shell, "--force", PROMPT)
    assert len({id(first), id(other), id(forced)}) == 3
    until(lambda: all(job.generation_ids for job in (first, other, forced)))
    assert server.stats()["enqueue_calls"] == 3


def test_wait_on_a_rerun_whose_job_is_still_running_waits_for_that_job(
    magics: KlingMagics, shell: InteractiveShell, server: Simulator
) -> None:
    server.set_faults(**SLOW_DOWNLOAD)  # the first job is still running when the cell reruns
    first = cell(shell, "", PROMPT)
    again = cell(shell, "--wait", PROMPT)
    assert again is first
    assert again.done and again.status == "succeeded" and again.results
    assert server.stats()["enqueue_calls"] == 1


def test_after_a_restart_the_unchanged_cell_still_replays(
    magics: KlingMagics, shell: InteractiveShell, server: Simulator
) -> None:
    first = cell(shell, "-n 2", PROMPT).wait(timeout=30)
    shell.extension_manager.unload_extension("kling_nb")  # as a kernel restart would
    shell.extension_manager.load_extension("kling_nb")
    again = cell(shell, "-n 2", PROMPT)
    assert again.replayed and [r.path for r in again.results] == [r.path for r in first.results]
    assert server.stats()["enqueue_calls"] == 1


def test_options_take_variables_the_way_ipython_expands_them(
    magics: KlingMagics, shell: InteractiveShell, capsys: Any
) -> None:
    shell.user_ns.update(face="https://example.com/face.png", ratio="9:16")
    payload = dry_run(shell, capsys, "-i {face} -a $ratio", "@Image1 smiles")
    assert payload["input_image"] == ["https://example.com/face.png"]
    assert payload["aspect_ratio"] == "9:16"


@pytest.mark.parametrize("negative", ["--", "-x", "--flag-like"])
def test_an_option_value_that_looks_like_a_flag_reads_back_as_itself(
    magics: KlingMagics, shell: InteractiveShell, capsys: Any, negative: str
) -> None:
    # Python 3.11's argparse drops a value of exactly "--" from --negative=--
    request = VideoRequest(
        prompt=PROMPT, negative_prompt=negative, input_image=["https://a.b/c.png"]
    )
    line_, _, body = request.to_magic().partition("\n")
    payload = dry_run(shell, capsys, line_.removeprefix("%%kling ") + " --dry-run", body)
    assert payload["negative_prompt"] == negative
    assert payload["input_image"] == ["https://a.b/c.png"]
    assert "elements" not in payload  # options not written keep their defaults


def test_an_unknown_option_with_a_line_break_in_it_is_a_one_line_error(
    magics: KlingMagics,
) -> None:
    with pytest.raises(UsageError) as caught:
        magics.kling("-m o3-pro \u2028", PROMPT)
    assert "\u2028" not in str(caught.value) and "\n" not in str(caught.value)
    assert "unrecognized arguments" in str(caught.value)
