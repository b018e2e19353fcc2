"""The notebooks in notebooks/, executed in real kernels against the simulator.

Each notebook runs top to bottom with no key (the kernel starts the bundled simulator itself);
reproducible_research.ipynb re-runs against one simulator with zero new enqueues; a kernel killed
mid-generation is resumed by a new kernel with no second enqueue; the saved notebooks hold no key
and no video bytes.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import nbformat
import pytest
from jupyter_client.manager import KernelManager

from kling_nb.demo import execute_notebook, simulated_env
from kling_nb.simulator import Simulator, run
from kling_nb.store import Ledger

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
FAKE_KEY = "sk-NOTEBOOK-FAKE-KEY-7f3a9c-never-shown"
# The first bytes of every MP4 kling_nb makes ('....ftypisom'), as they appear in base64.
MP4_HEAD = base64.b64encode(b"ftypisom").decode()[:8]

pytestmark = pytest.mark.slow


def outputs_of(nb_path: Path) -> list[dict[str, Any]]:
    nb = nbformat.read(str(nb_path), as_version=4)  # joins multi-line strings
    return [o for cell in nb.cells for o in cell.get("outputs", [])]


def text_of(nb_path: Path) -> str:
    chunks = []
    for o in outputs_of(nb_path):
        chunks.append(o.get("text", ""))
        chunks.append(str(o.get("data", {}).get("text/plain", "")))
    return "\n".join(chunks)


def keyed_env(sim: Simulator, outputs: Path) -> dict[str, str]:
    """A kernel environment that talks to ``sim`` as if it were Oxen.ai, with a fake key."""
    env = simulated_env(outputs)
    env.update(OXEN_API_KEY=FAKE_KEY, KLING_NB_BASE_URL=sim.base_url)
    return env


@pytest.mark.parametrize("name", ["quickstart", "references", "reproducible_research", "batch"])
def test_each_notebook_runs_top_to_bottom_without_a_key(name: str, tmp_path: Path) -> None:
    outputs = tmp_path / "kling_outputs"
    run_ = execute_notebook(NOTEBOOKS / f"{name}.ipynb", tmp_path, env=simulated_env(outputs))
    assert run_.errors == []
    jobs = Ledger(outputs / "simulated").jobs()
    assert jobs, "the notebook made no generation"
    for job in jobs.values():
        for gen in job.generations.values():
            assert gen.status == "succeeded", (job.job_id, gen)
            assert gen.result is not None
            video = outputs / "simulated" / gen.result["path"]
            assert video.stat().st_size == gen.result["size"] > 1000
    saved = run_.notebook.read_text()
    assert MP4_HEAD not in saved  # no video bytes in the saved notebook
    assert "simulated" in text_of(run_.notebook).lower()  # it says so plainly
    if name == "quickstart":
        # Exported to HTML, with no kernel, each result shows: its path, poster and provenance.
        assert run_.html is not None
        page = run_.html.read_text()
        for job in jobs.values():
            for gen in job.generations.values():
                assert gen.result is not None and gen.generation_id is not None
                assert gen.result["path"] in page
                assert gen.result["sha256"] in page
                assert gen.generation_id in page
            assert job.request_hash in page
        takes = sum(len(j.generations) for j in jobs.values())
        assert page.count('poster="data:image/jpeg;base64,') >= takes
        # each a <video> of the file beside the page (checked playing in tests/browser)
        sources = re.findall(r'<video [^>]*\bsrc="([^"]+)"', page)
        assert len(sources) >= takes and not any(s.startswith(("/", "file:")) for s in sources)
        assert all((run_.html.parent / unquote(src)).is_file() for src in sources)
    if name == "references":
        # A local file: uploaded once for the two requests that use it, recorded by content.
        lines = (outputs / "simulated" / "ledger.jsonl").read_text().splitlines()
        uploads = [json.loads(x) for x in lines if '"type":"upload"' in x]
        assert {u["name"] for u in uploads} == {"face.png"} and len(uploads) == 2
        assert len({u["asset_path"] for u in uploads}) == 1
        assert "'uploads': 1, 'presigns': 2" in text_of(run_.notebook)
        assert "Local images to upload at submit" in text_of(run_.notebook)


def test_reproducible_research_reruns_with_zero_enqueues_and_the_same_files(
    tmp_path: Path,
) -> None:
    outputs = tmp_path / "kling_outputs"
    source = NOTEBOOKS / "reproducible_research.ipynb"
    with run(generation_seconds=0.1) as sim:
        env = keyed_env(sim, outputs)
        first = execute_notebook(source, tmp_path / "first", env=env, html=False)
        enqueued = sim.stats()["enqueue_calls"]
        second = execute_notebook(source, tmp_path / "second", env=env, html=False)
        assert first.errors == [] and second.errors == []
        assert enqueued >= 2
        assert sim.stats()["enqueue_calls"] == enqueued  # the re-run sent nothing
    # the printed sha256 of every take is the same in both runs
    takes = re.compile(r"^\S+\.mp4 [0-9a-f]{16} [\d,]+ bytes$", re.M)
    first_takes = takes.findall(text_of(first.notebook))
    assert len(first_takes) == 2
    assert takes.findall(text_of(second.notebook)) == first_takes
    for nb in (first.notebook, second.notebook):
        assert FAKE_KEY not in nb.read_text()


@pytest.fixture
def kernel_env(tmp_path: Path) -> Iterator[tuple[Simulator, dict[str, str]]]:
    with run(generation_seconds=4.0) as sim:
        yield sim, keyed_env(sim, tmp_path / "outputs")


def _execute(km: KernelManager, code: str, timeout: float = 60) -> str:
    """Run ``code`` in the kernel; return its stream and result text; fail on an error."""
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        msg_id = kc.execute(code)
        out: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                msg = kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no reply to {code!r} in {timeout} s") from None
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                out.append(content["text"])
            elif kind in ("execute_result", "display_data"):
                out.append(content["data"].get("text/plain", ""))
            elif kind == "error":
                raise AssertionError(f"{content['ename']}: {content['evalue']}")
            elif kind == "status" and content["execution_state"] == "idle":
                return "".join(out)
    finally:
        kc.stop_channels()


def test_a_killed_kernels_generations_are_resumed_by_a_new_kernel(
    kernel_env: tuple[Simulator, dict[str, str]], tmp_path: Path
) -> None:
    sim, env = kernel_env
    ledger = Ledger(Path(env["KLING_NB_OUTPUTS"]))
    first = KernelManager(kernel_name="python3")
    first.start_kernel(env=env, cwd=str(tmp_path))
    try:
        _execute(first, "%load_ext kling_nb")
        _execute(first, "%%kling -d 3 -n 2 -o job\nA lighthouse in a storm, waves crashing")
        deadline = time.monotonic() + 30
        while not any(j.pending for j in ledger.jobs().values()):
            assert time.monotonic() < deadline, "the ledger never showed the queued generations"
            time.sleep(0.05)
    finally:
        first.shutdown_kernel(now=True)  # killed while its generations run
    assert sim.stats()["enqueue_calls"] == 1
    [record] = ledger.jobs().values()
    assert all(g.status != "succeeded" for g in record.generations.values())

    second = KernelManager(kernel_name="python3")
    second.start_kernel(env=env, cwd=str(tmp_path))
    try:
        _execute(second, "%load_ext kling_nb")
        said = _execute(second, "%kling resume")
        assert "Re-attached 1 job" in said
        done = _execute(
            second,
            "client = %kling client\njobs = client.jobs\n"
            "for j in jobs:\n    j.wait(timeout=60)\n"
            "print(sorted(g.status for j in jobs for g in j.generations))",
            timeout=90,
        )
        assert "['succeeded', 'succeeded']" in done
        assert FAKE_KEY not in said + done
    finally:
        second.shutdown_kernel(now=True)
    assert sim.stats()["enqueue_calls"] == 1  # resumed, never sent again
    [record] = ledger.jobs().values()
    for gen in record.generations.values():
        assert gen.status == "succeeded" and gen.result is not None
        assert (ledger.folder / gen.result["path"]).stat().st_size == gen.result["size"]


def test_the_demo_command_reports_each_generation_and_fails_on_a_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from kling_nb.demo import main

    good = tmp_path / "good.ipynb"
    bad = tmp_path / "bad.ipynb"
    nb = json.loads((NOTEBOOKS / "quickstart.ipynb").read_text())
    nb["cells"] = [
        c
        for c in nb["cells"]
        if c["cell_type"] == "code" and "".join(c["source"]).startswith("%load_ext")
    ]
    nb["cells"].append(
        {
            "id": "kite",
            "cell_type": "code",
            "metadata": {},
            "outputs": [],
            "execution_count": None,
            "source": "%%kling -d 3 --wait\nA kite over a beach",
        }
    )
    good.write_text(json.dumps(nb))
    assert main([str(good), "--out", str(tmp_path / "out-good")]) == 0
    out = capsys.readouterr().out
    assert "succeeded" in out and "3.0" in out and "$0.67" in out
    assert (tmp_path / "out-good" / "good.html").is_file()

    nb["cells"][-1]["source"] = "raise RuntimeError('boom')"
    bad.write_text(json.dumps(nb))
    assert main([str(bad), "--out", str(tmp_path / "out-bad")]) == 1
    assert os.path.exists(tmp_path / "out-bad" / "bad.ipynb")
