"""Client unit tests on an injected ``httpx.MockTransport``: the enqueue body, errors on the job,
result names, validation before the network, the environment, the runtime thread. The HTTP layer
(the key's reach, retries, downloads), enqueue, tracking and download rules have their own files
(test_api.py, test_enqueue.py, test_tracking.py, test_downloads.py)."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from _core import submission
from _hub import BASE, KEY, VIDEO, Hub
from _policies import FAST

from kling_nb.client import Client
from kling_nb.errors import BudgetExceededError, KlingError, MissingAPIKeyError
from kling_nb.files import file_sha256, result_name
from kling_nb.records import GenerationRecord
from kling_nb.requests import VideoRequest


@pytest.fixture
def client(mock_client: Client) -> Client:
    return mock_client


def request() -> VideoRequest:
    return VideoRequest(prompt="A fox in the snow", duration=3)


def test_enqueue_body_carries_the_payload_and_num_generations(hub: Hub, client: Client) -> None:
    hub.ids = ["a", "b"]
    client.submit(request(), num_generations=2).wait(10)
    (sent,) = hub.sent("POST", "/api/ai/queue")
    body = json.loads(sent.content)
    assert body["num_generations"] == 2
    assert body["prompt"] == "A fox in the snow"
    assert body["model"] == "kling-video-o3-pro-reference-to-video"


def test_an_upgrade_required_is_a_clear_error(hub: Hub, client: Client) -> None:
    hub.enqueue = [lambda r: httpx.Response(426, json={"error": {"title": "Upgrade"}})]
    job = client.submit(request()).wait(10)
    assert job.status == "error"
    assert job.error is not None and "HTTP 426" in job.error and "User-Agent" in job.error


def test_a_crash_in_the_background_surfaces_on_the_job(hub: Hub, client: Client) -> None:
    def bug(r: httpx.Request) -> httpx.Response:
        raise RuntimeError("unexpected bug")

    hub.enqueue = [bug]
    job = client.submit(request()).wait(10)
    assert job.status == "error"
    assert job.error is not None and "unexpected bug" in job.error


def test_a_hostile_generation_id_cannot_escape_the_folder(hub: Hub, client: Client) -> None:
    hub.ids = ["../../etc/evil id"]
    job = client.submit(request()).wait(10)
    assert job.status == "succeeded"
    path = job.results[0].path
    assert path.parent == client.outputs_dir
    assert path.name == result_name("../../etc/evil id") + ".mp4"
    assert path.name.startswith("etc_evil_id-")


def test_validation_and_budget_come_before_any_network(hub: Hub, tmp_path: Path) -> None:
    transport = httpx.MockTransport(hub)
    with Client(KEY, BASE, tmp_path, budget_usd=1.0, transport=transport, policy=FAST) as c:
        with pytest.raises(ValueError, match="between 1 and 4"):
            c.submit(request(), num_generations=5)
        with pytest.raises(BudgetExceededError, match=r"\$1\.34.*\$1\.00 left"):
            c.submit(request(), num_generations=2)
        assert c.jobs == []
    assert hub.requests == []
    assert not (tmp_path / "ledger.jsonl").exists()


def test_no_key_is_a_clear_error_at_submit(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OXEN_API_KEY", raising=False)
    with (
        Client(None, BASE, tmp_path, transport=httpx.MockTransport(hub)) as c,
        pytest.raises(MissingAPIKeyError, match="OXEN_API_KEY"),
    ):
        c.submit(request())
    assert hub.requests == []


@pytest.mark.parametrize(
    "pasted", ["\u201csk-kling-pasted-key-31\u201d", "sk-kl\u0131ng-dotless-31"]
)
def test_a_key_with_a_character_outside_ascii_is_refused_before_anything_is_recorded(
    pasted: str, hub: Hub, tmp_path: Path
) -> None:
    # Typographic quotes copied with the key from a document: no header can carry them, so
    # every submission would fail after being recorded as "may have been queued".
    with pytest.raises(KlingError, match="outside ASCII") as caught:
        Client(pasted, BASE, tmp_path, transport=httpx.MockTransport(hub), policy=FAST)
    assert "pasted-key" not in str(caught.value) and "dotless" not in str(caught.value)
    assert hub.requests == []
    assert not (tmp_path / "ledger.jsonl").exists()


def saved_take(client: Client, name: str) -> dict[str, Any]:
    """A take's file in the client's outputs folder; its ledger ``result`` fields."""
    path = client.outputs_dir / name
    path.write_bytes(VIDEO)
    return {"path": name, "sha256": file_sha256(path), "size": len(VIDEO)}


def test_a_rerun_after_a_kernel_died_sending_the_missing_take_looks_for_it_and_sends_nothing(
    hub: Hub, client: Client
) -> None:
    """A partly succeeded request was run again: its submission and its replayed take were
    recorded, then the kernel died before the enqueue answer for the other take was recorded."""
    req = request()
    saved = saved_take(client, "old.mp4")
    client.ledger.append(
        submission(req, "died-sending", 2),
        GenerationRecord(
            job_id="died-sending", generation_id="old", status="succeeded", result=saved
        ),
    )
    sent = {"generation_id": "gen-1", "status": "succeeded", "model_name": req.model}
    sent["result_url"] = hub.result_url
    hub.polls = [lambda r: httpx.Response(200, json={"generations": [sent]})] * 100
    job = client.submit(req, 2)  # the unchanged cell, run again
    assert job.id == "died-sending"
    assert job.wait(10).status == "succeeded", job.summary()
    assert job.generation_ids == ["old", "gen-1"]
    assert hub.sent("POST", "/api/ai/queue") == []


def test_a_resumed_job_keeps_the_takes_it_saved_before_the_restart(
    hub: Hub, client: Client
) -> None:
    saved = saved_take(client, "first.mp4")
    client.ledger.append(
        submission(request(), "restarted", 2),
        GenerationRecord(job_id="restarted", generation_id="g0", status="succeeded", result=saved),
        GenerationRecord(job_id="restarted", index=1, generation_id="g1", status="processing"),
    )
    (job,) = client.resume()
    assert job.wait(10).status == "succeeded", job.summary()
    assert [r.path.name for r in job.results] == ["first.mp4", result_name("g1") + ".mp4"]
    first = job.results[0]
    assert (first.generation_id, first.sha256, first.size) == ("g0", saved["sha256"], len(VIDEO))


def test_environment_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OXEN_API_KEY", KEY)
    monkeypatch.delenv("KLING_NB_BASE_URL", raising=False)
    monkeypatch.delenv("KLING_NB_OUTPUTS", raising=False)
    c = Client()
    assert c.base_url == "https://hub.oxen.ai"
    assert c.outputs_dir == tmp_path / "kling_outputs"
    assert KEY not in repr(c) and "api_key=<set>" in repr(c)
    monkeypatch.setenv("KLING_NB_BASE_URL", "http://127.0.0.1:1/")
    monkeypatch.setenv("KLING_NB_OUTPUTS", str(tmp_path / "elsewhere"))
    c = Client()
    assert c.base_url == "http://127.0.0.1:1"
    assert c.outputs_dir == tmp_path / "elsewhere"
    with pytest.raises(KlingError, match="http"):
        Client(KEY, "ftp://hub.test")


def test_no_thread_until_needed_and_close_stops_it(hub: Hub, tmp_path: Path) -> None:
    def runtime_threads() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "kling-nb"]

    before = len(runtime_threads())
    c = Client(KEY, BASE, tmp_path, transport=httpx.MockTransport(hub), policy=FAST)
    assert len(runtime_threads()) == before
    c.submit(request()).wait(10)
    assert len(runtime_threads()) == before + 1
    c.close()
    c.close()
    assert len(runtime_threads()) == before
    lines = c.ledger.path.read_text().count("\n")
    with pytest.raises(KlingError, match="closed"):
        c.submit(request(), force=True)
    assert c.ledger.path.read_text().count("\n") == lines


def test_close_settles_running_jobs_with_how_to_resume(hub: Hub, tmp_path: Path) -> None:
    hub.result_url = ""
    hub.polls = [lambda r: httpx.Response(200, json={"generations": []})] * 1000

    def running(r: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"generation_id": "gen-1", "status": "processing"})

    transport = httpx.MockTransport(lambda r: running(r) if "/queue/" in r.url.path else hub(r))
    c = Client(KEY, BASE, tmp_path, transport=transport, policy=FAST)
    job = c.submit(request())
    while not job.generation_ids:
        threading.Event().wait(0.01)
    c.close()
    assert job.status == "error"
    assert job.error is not None and "resume()" in job.error
    assert [r.job_id for r in c.ledger.pending(base_url=BASE)] == [job.id]


def test_dict_requests_and_models_schema_key(hub: Hub, client: Client) -> None:
    job = client.submit({"prompt": "A fox in the snow", "duration": 3, "num_generations": 1})
    assert job.wait(10).status == "succeeded"
    (model,) = client.models()
    assert model["request_schema"] == {"type": "object"}


def test_a_download_cut_short_by_the_close_records_nothing(hub: Hub, tmp_path: Path) -> None:
    """Whatever a closing client's downloads run into, the ledger keeps the generation pending
    (resume saves it): no "save_failed", no final status, no job line."""
    with Client(KEY, BASE, tmp_path, transport=httpx.MockTransport(hub), policy=FAST) as c:
        job = c.submit(request())
        job.wait(10)
        engine, gen = c.engine, job.generations[0]
        before = (tmp_path / "ledger.jsonl").read_text()
        downloads = engine.tracker.downloads

        async def while_closing() -> None:
            engine.api.closing = True
            downloads.start(job, gen, hub.result_url)  # a new attempt meets the close
            await asyncio.sleep(0.2)
            engine.journal.flush()

        c.runtime.run(while_closing())
        assert (tmp_path / "ledger.jsonl").read_text() == before
        engine.api.closing = False


def test_background_warnings_never_reach_stderr_unless_logging_is_configured(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Output from the runtime thread would land in whichever cell runs: the package logger has
    a NullHandler, so Python's last-resort handler never prints its warnings."""
    import logging

    import kling_nb  # noqa: F401  (the package sets the handler up)

    logging.getLogger("kling_nb").warning("a background warning")
    assert capfd.readouterr().err == ""
