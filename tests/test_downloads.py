"""Saving a result: one retry loop (the same URL after a backoff, a fresh URL from the server,
or stop), its owner told once how it ended. Module tests drive ``Downloads`` over a fake hub;
the rest run a client against it or against the simulator over loopback."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from _core import assert_saved, engine, on_loop, recorded_job, request, settled
from _hub import KEY, VIDEO, Handler, Hub
from _policies import FAST

from kling_nb.client import Client
from kling_nb.downloads import Downloads, fresh_result_url
from kling_nb.engine import Engine
from kling_nb.errors import DownloadError, register_secret
from kling_nb.files import Saved, result_name
from kling_nb.jobs import Generation, Job
from kling_nb.simulator import Simulator

OLD = "https://cdn.test/results/old.mp4"
NEW = "https://cdn.test/results/new.mp4"


def cdn(hub: Hub, answer: Callable[[httpx.Request], httpx.Response]) -> None:
    """Answer every result download with ``answer``."""
    hub.downloads = [answer] * 100


def fetched(hub: Hub) -> list[str]:
    return [str(r.url) for r in hub.requests if r.url.host == "cdn.test"]


class Ends:
    """An owner's ``on_end``: what each download reported, and an event per report."""

    def __init__(self) -> None:
        self.seen: list[tuple[Job, Generation, Saved | None, str, str | None]] = []
        self.reported = threading.Event()

    def __call__(
        self, job: Job, gen: Generation, saved: Saved | None, url: str, error: str | None
    ) -> None:
        self.seen.append((job, gen, saved, url, error))
        self.reported.set()


def downloads(eng: Engine, folder: Path, ends: Ends | None = None) -> Downloads:
    return Downloads(eng.api, eng.policy, eng.runtime, folder, ends or Ends())


def started(eng: Engine, folder: Path, ends: Ends, job: Job) -> Downloads:
    """Downloads reporting to ``ends``, saving ``job``'s first take from ``OLD`` already."""
    saving = downloads(eng, folder, ends)
    on_loop(eng, lambda: saving.start(job, job.generations[0], OLD))
    return saving


# -- the retry loop -----------------------------------------------------------------------------
def test_a_failure_the_same_url_may_get_over_is_retried_up_to_the_attempts(
    hub: Hub, tmp_path: Path
) -> None:
    cdn(hub, lambda r: httpx.Response(503))
    with engine(tmp_path, hub) as eng, pytest.raises(DownloadError, match="HTTP 503"):
        settled(eng, downloads(eng, tmp_path).save("g1", OLD, "g1"))
    assert fetched(hub) == [OLD] * FAST.download_attempts
    assert hub.sent("GET", "/api/ai/queue/g1") == []  # the URL was not the problem


def test_an_expired_url_is_replaced_by_a_fresh_one_from_the_server(
    hub: Hub, tmp_path: Path
) -> None:
    hub.result_url = NEW
    hub.downloads = [lambda r: httpx.Response(403)]
    with engine(tmp_path, hub) as eng:
        saved, url = settled(eng, downloads(eng, tmp_path).save("a/b c", OLD, "stem"))
    assert url == NEW
    assert saved.path == tmp_path / "stem.mp4" and saved.path.read_bytes() == VIDEO
    assert fetched(hub) == [OLD, NEW]
    (asked,) = [r for r in hub.requests if r.method == "GET" and r.url.host == "hub.test"]
    assert asked.url.raw_path == b"/api/ai/queue/a%2Fb%20c"  # the id quoted, never a path


def test_a_refusal_is_not_retried(hub: Hub, tmp_path: Path) -> None:
    cdn(hub, lambda r: httpx.Response(400))
    with engine(tmp_path, hub) as eng, pytest.raises(DownloadError, match="HTTP 400"):
        settled(eng, downloads(eng, tmp_path).save("g1", OLD, "g1"))
    assert fetched(hub) == [OLD]


def test_without_a_generation_id_an_expired_url_is_not_retried(hub: Hub, tmp_path: Path) -> None:
    cdn(hub, lambda r: httpx.Response(403))
    with engine(tmp_path, hub) as eng, pytest.raises(DownloadError, match="HTTP 403"):
        settled(eng, downloads(eng, tmp_path).save(None, OLD, "sync"))
    assert fetched(hub) == [OLD]
    assert [r for r in hub.requests if r.url.host == "hub.test"] == []


def test_a_server_with_no_fresh_url_is_a_clear_error(hub: Hub, tmp_path: Path) -> None:
    hub.result_url = ""
    with engine(tmp_path, hub) as eng, pytest.raises(DownloadError, match="gave no fresh one"):
        settled(eng, fresh_result_url(eng.api, "g1"))


# -- started in the background ------------------------------------------------------------------
def held(answer: httpx.Response) -> tuple[Handler, threading.Event]:
    """A download that answers ``answer`` once the returned event is set."""
    release = threading.Event()

    def handler(r: httpx.Request) -> httpx.Response:
        assert release.wait(10)
        return answer

    return handler, release


def test_a_started_download_reports_its_file_once_and_frees_its_slot(
    hub: Hub, tmp_path: Path
) -> None:
    ok = httpx.Response(200, content=VIDEO, headers={"content-type": "video/mp4"})
    handler, release = held(ok)
    hub.downloads = [handler]
    ends = Ends()
    with engine(tmp_path, hub) as eng:
        job = recorded_job(eng.journal.ledger)
        gen = job.generations[0]
        gen.id = "g1"
        saving = started(eng, tmp_path, ends, job)
        assert saving.active == {"g1"}  # while it runs
        release.set()
        assert ends.reported.wait(10)
        assert saving.active == set()
    ((j, g, saved, url, error),) = ends.seen
    assert (j, g, url, error) == (job, gen, OLD, None)
    assert saved is not None and saved.path == tmp_path / (result_name("g1") + ".mp4")
    assert saved.size == len(VIDEO)


def test_a_failed_sync_download_reports_the_error_under_the_jobs_name(
    hub: Hub, tmp_path: Path
) -> None:
    handler, release = held(httpx.Response(400))
    hub.downloads = [handler]
    ends = Ends()
    with engine(tmp_path, hub) as eng:
        job = recorded_job(eng.journal.ledger)
        saving = started(eng, tmp_path, ends, job)
        assert saving.active == {job.id}  # a sync result has no generation id
        release.set()
        assert ends.reported.wait(10)
        assert saving.active == set()
    ((_, _, saved, url, error),) = ends.seen
    assert saved is None and url == OLD
    assert error == "The result URL answered HTTP 400."
    assert not list(tmp_path.glob("*.mp4"))


def test_an_unexpected_crash_is_reported_as_a_failed_save_cut_short_without_the_key(
    hub: Hub, tmp_path: Path
) -> None:
    register_secret(KEY)  # as the client does with its key

    def bug(r: httpx.Request) -> httpx.Response:
        raise RuntimeError(f"unexpected bug near {KEY} " + "x" * 1000)

    hub.downloads = [bug]
    ends = Ends()
    with engine(tmp_path, hub) as eng:
        saving = started(eng, tmp_path, ends, recorded_job(eng.journal.ledger))
        assert ends.reported.wait(10)
        assert saving.active == set()
    ((_, _, saved, _, error),) = ends.seen
    assert saved is None and error is not None
    prefix = "saving the result failed: "
    assert error.startswith(prefix + "RuntimeError: unexpected bug near *** xxx")
    assert len(error) == len(prefix) + 300 and KEY not in error


# -- through a client ---------------------------------------------------------------------------


def test_a_short_body_is_redone(hub: Hub, mock_client: Client) -> None:
    short = httpx.Response(200, content=VIDEO[:10], headers={"content-length": str(len(VIDEO))})
    hub.downloads = [lambda r: short]
    job = mock_client.submit(request()).wait(10)
    assert job.status == "succeeded"
    assert job.results[0].size == len(VIDEO)
    assert len([r for r in hub.requests if r.url.host == "cdn.test"]) == 2
    assert not list(mock_client.outputs_dir.glob(".*.part"))


def test_a_truncated_download_is_detected_and_redone(sim: Simulator, client: Client) -> None:
    sim.set_faults(download_truncate=1)
    job = client.submit(request()).wait(30)
    assert job.status == "succeeded"
    assert_saved(job)
    assert sim.stats()["downloads_truncated"] == 1
    assert not list(client.outputs_dir.glob("*.part"))


def test_an_expired_url_is_polled_once_for_a_fresh_one(hub: Hub, mock_client: Client) -> None:
    hub.downloads = [lambda r: httpx.Response(403, text="expired")]
    job = mock_client.submit(request()).wait(10)
    assert job.status == "succeeded"
    assert len(hub.sent("GET", "/api/ai/queue/gen-1")) == 2  # the poll, then the fresh URL


def test_short_lived_result_urls_still_download(sim: Simulator, client: Client) -> None:
    sim.set_faults(result_url_ttl_seconds=1.0)
    job = client.submit(request(), 2).wait(30)
    assert job.status == "succeeded"
    assert_saved(job)
