"""The uploader of local reference images (``uploads``): its cache of what was uploaded (per host
and repository, surviving a restart), a presigned URL asked for at every submission, an upload
with an uncertain answer looked up before it is ever sent again, and the repository it uses.
Direct tests drive an ``Uploader`` on a real ``Api``; the rest a client; both against the
simulator over loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from _hub import KEY
from _images import MAGENTA, TEAL, picture
from _policies import FAST

from kling_nb import Client
from kling_nb.api import Api
from kling_nb.errors import APIStatusError, KlingError
from kling_nb.local_images import load
from kling_nb.simulator import Simulator
from kling_nb.simulator.repos import user_for
from kling_nb.store import Ledger
from kling_nb.uploads import CACHE_NAME, UploadCache, Uploader

T = TypeVar("T")
USER = user_for(KEY)  # the simulator's user for the key


def uploading(
    sim: Simulator, folder: Path, use: Callable[[Uploader], Awaitable[T]], repo: str | None = None
) -> T:
    """``use`` an ``Uploader`` recording in ``folder``'s ledger, on a loop of its own."""

    async def main() -> T:
        api = Api(sim.base_url, KEY, FAST)
        try:
            return await use(Uploader(api, Ledger(folder), repo))
        finally:
            await api.aclose()

    return asyncio.run(main())


def body(image: Path | str) -> dict[str, Any]:
    return {"prompt": "@Image1 waves", "duration": 3, "input_image": [image]}


def upload_lines(folder: Path) -> list[dict[str, Any]]:
    lines = (folder / "ledger.jsonl").read_text().splitlines()
    return [json.loads(x) for x in lines if '"type":"upload"' in x]


def workbench_posts(sim: Simulator) -> int:
    return sum(n for p, n in sim.stats()["requests_by_path"].items() if "workbench" in p)


# -- the cache ----------------------------------------------------------------------------------
def test_the_cache_keeps_an_asset_per_host_and_repository_and_forgets_it(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    cache = UploadCache(folder)
    here, elsewhere = "https://hub.test me/pics", "https://hub.test me/other"
    assert cache.get(here, "s1") is None
    cache.put(here, "s1", "face.png", "kling_nb/s1-face.png")
    cache.put(here, "s2", "hand.png", "kling_nb/s2-hand.png")
    assert cache.get(here, "s1") == "kling_nb/s1-face.png"
    assert cache.get(elsewhere, "s1") is None
    assert UploadCache(folder).get(here, "s2") == "kling_nb/s2-hand.png"  # read from the file
    cache.put(here, "s1", "face.png", None)
    assert cache.get(here, "s1") is None and cache.get(here, "s2") == "kling_nb/s2-hand.png"
    assert [f.name for f in folder.iterdir()] == [CACHE_NAME]  # replaced whole, no temp left


@pytest.mark.parametrize(
    "text",
    ["not json", '{"v": 2, "uploads": {"h r": {"s1": {"asset_path": "a"}}}}', "[]"],
    ids=["unreadable", "another-format", "not-an-object"],
)
def test_a_cache_file_it_cannot_read_means_uploading_again(text: str, tmp_path: Path) -> None:
    (tmp_path / CACHE_NAME).write_text(text)
    cache = UploadCache(tmp_path)
    assert cache.get("h r", "s1") is None
    cache.put("h r", "s2", "face.png", "kling_nb/s2-face.png")
    assert cache.get("h r", "s2") == "kling_nb/s2-face.png"
    assert json.loads((tmp_path / CACHE_NAME).read_text())["v"] == 1


# -- once per content, presigned every time -----------------------------------------------------
def test_an_image_is_uploaded_once_and_presigned_for_every_submission_after_a_restart_too(
    sim: Simulator, tmp_path: Path
) -> None:
    face = picture(tmp_path / "face.png", MAGENTA)
    out = tmp_path / "out"
    with Client(KEY, sim.base_url, out, policy=FAST) as client:
        assert client.submit(body(face)).wait(30).status == "succeeded"
        again = {**body(face), "prompt": "@Image1 turns around"}
        assert client.submit(again).wait(30).status == "succeeded"
    with Client(KEY, sim.base_url, out, policy=FAST) as client:  # a new kernel
        third = {**body(face), "prompt": "@Image1 jumps"}
        assert client.submit(third).wait(30).status == "succeeded"
    stats = sim.stats()
    assert stats["uploads"] == 1 and stats["presigns"] == 3
    lines = upload_lines(out)
    assert len(lines) == 3 and len({line["asset_path"] for line in lines}) == 1


def test_two_jobs_with_one_new_image_upload_it_once(sim: Simulator, tmp_path: Path) -> None:
    token = load(picture(tmp_path / "face.png", TEAL)).token

    async def both(uploader: Uploader) -> list[dict[str, Any]]:
        return list(
            await asyncio.gather(
                uploader.resolve("job-1", body(token)), uploader.resolve("job-2", body(token))
            )
        )

    sent = uploading(sim, tmp_path, both)
    for payload in sent:
        (url,) = payload["input_image"]
        assert url.startswith(sim.base_url) and "oxen_signature=" in url
        assert payload["prompt"] == "@Image1 waves"
    assert sim.stats()["uploads"] == 1 and sim.stats()["presigns"] == 2
    lines = upload_lines(tmp_path)
    assert sorted(line["job_id"] for line in lines) == ["job-1", "job-2"]
    for line in lines:
        assert line["name"] == "face.png" and line["repository"] == f"{USER}/playground"
        assert "http" not in json.dumps(line)  # never a URL


def test_a_body_without_local_images_is_sent_as_it_is(sim: Simulator, tmp_path: Path) -> None:
    plain = body("https://example.com/face.png")
    assert uploading(sim, tmp_path, lambda up: up.resolve("job-1", plain)) is plain
    assert sim.stats()["requests_by_path"] == {}


def test_an_image_in_neither_the_repository_nor_this_session_is_a_clear_error(
    sim: Simulator, tmp_path: Path
) -> None:
    sha = "0" * 64  # never loaded here
    scope = f"{sim.base_url} {USER}/playground"
    UploadCache(tmp_path).put(scope, sha, "gone.png", "kling_nb/gone.png")  # since deleted
    token = f"local:sha256:{sha}/gone.png"
    with pytest.raises(KlingError, match=r"gone\.png: this local image was not uploaded from"):
        uploading(sim, tmp_path, lambda up: up.resolve("job-1", body(token)))
    assert UploadCache(tmp_path).get(scope, sha) is None  # the stale entry is forgotten
    assert sim.stats()["uploads"] == 0


# -- failed uploads -----------------------------------------------------------------------------
def test_a_refused_upload_is_neither_looked_up_nor_sent_again(
    sim: Simulator, tmp_path: Path
) -> None:
    sim.set_faults(upload_errors=[400])
    token = load(picture(tmp_path / "face.png", MAGENTA)).token
    with pytest.raises(APIStatusError) as caught:
        uploading(sim, tmp_path, lambda up: up.resolve("job-1", body(token)))
    assert caught.value.status_code == 400
    assert f"POST /api/repos/{USER}/playground/workbench/context: HTTP 400" in str(caught.value)
    assert workbench_posts(sim) == 1 and sim.stats()["presigns"] == 0


def test_a_rate_limited_upload_is_sent_again_after_its_wait(sim: Simulator, tmp_path: Path) -> None:
    sim.set_faults(upload_errors=[429])
    token = load(picture(tmp_path / "face.png", MAGENTA)).token
    uploading(sim, tmp_path, lambda up: up.resolve("job-1", body(token)))
    assert workbench_posts(sim) == 2
    assert sim.stats()["presigns"] == 1  # no lookup: a 429 stored nothing


def test_a_presign_404_uploads_again(sim: Simulator, tmp_path: Path) -> None:
    picture(tmp_path / "face.png", MAGENTA)
    body = {"prompt": "@Image1 waves", "duration": 3, "input_image": [tmp_path / "face.png"]}
    with Client(api_key="k-404", base_url=sim.base_url, outputs_dir=tmp_path / "o") as client:
        client.submit(body).wait(timeout=30)
    sim.reset()  # the repository and its files are gone; the cache still names the asset
    with Client(api_key="k-404", base_url=sim.base_url, outputs_dir=tmp_path / "o") as client:
        job = client.submit(body, force=True).wait(timeout=30)
    assert job.status == "succeeded", job.error
    assert sim.stats()["uploads"] == 1  # the asset was missing: uploaded again


def test_an_uncertain_upload_is_looked_up_not_resent(sim: Simulator, tmp_path: Path) -> None:
    picture(tmp_path / "face.png", MAGENTA)
    sim.set_faults(upload_errors=[{"status": 502, "queued": True}])
    body = {"prompt": "@Image1 waves", "duration": 3, "input_image": [tmp_path / "face.png"]}
    with Client(api_key="k-502", base_url=sim.base_url, outputs_dir=tmp_path / "o") as client:
        job = client.submit(body).wait(timeout=30)
    assert job.status == "succeeded", job.error
    assert sim.stats()["uploads"] == 1  # stored despite the 502: found by name, not resent


def test_an_upload_that_certainly_failed_is_sent_once_more(sim: Simulator, tmp_path: Path) -> None:
    picture(tmp_path / "face.png", MAGENTA)
    sim.set_faults(upload_errors=[502, 502])
    body = {"prompt": "@Image1 waves", "duration": 3, "input_image": [tmp_path / "face.png"]}
    with Client(api_key="k-5022", base_url=sim.base_url, outputs_dir=tmp_path / "o") as client:
        job = client.submit(body).wait(timeout=30)
    assert job.status == "error" and "failed twice" in (job.error or "")
    assert "Nothing was queued" in (job.error or "")
    stats = sim.stats()
    assert stats["uploads"] == 2 and stats["enqueue_calls"] == 0


def test_no_upload_call_sends_an_oxen_user_agent(sim: Simulator, tmp_path: Path) -> None:
    picture(tmp_path / "face.png", MAGENTA)
    body = {"prompt": "@Image1 waves", "duration": 3, "input_image": [tmp_path / "face.png"]}
    with Client(api_key="k-ua", base_url=sim.base_url, outputs_dir=tmp_path / "o") as client:
        assert client.submit(body).wait(timeout=30).status == "succeeded"
    agents = {a for a in sim.stats()["requests_by_user_agent"] if a.startswith("kling-nb/")}
    assert agents and not any("oxen" in a.lower() for a in agents)
    assert sim.stats()["uploads"] == 1


def test_a_repository_of_someone_else_is_refused_and_nothing_is_queued(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KLING_NB_UPLOAD_REPO", "someone-else/pictures")
    picture(tmp_path / "face.png", MAGENTA)
    body = {"prompt": "@Image1 waves", "duration": 3, "input_image": [tmp_path / "face.png"]}
    with Client(api_key="k-other", base_url=sim.base_url, outputs_dir=tmp_path / "o") as client:
        job = client.submit(body).wait(timeout=30)
    assert job.status == "error"
    assert "Cannot create the repository someone-else/pictures" in (job.error or "")
    assert "KLING_NB_UPLOAD_REPO" in (job.error or "")
    assert sim.stats()["enqueue_calls"] == 0 and sim.stats()["uploads"] == 0


# -- the repository -----------------------------------------------------------------------------
def test_the_repository_setting_names_where_images_go(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KLING_NB_UPLOAD_REPO", f"/{USER}/pictures/")
    token = load(picture(tmp_path / "face.png", MAGENTA)).token
    uploading(sim, tmp_path, lambda up: up.resolve("job-1", body(token)))
    (line,) = upload_lines(tmp_path)
    assert line["repository"] == f"{USER}/pictures"
    assert "/api/users/me" not in sim.stats()["requests_by_path"]  # the namespace was given


@pytest.mark.parametrize("setting", ["a/b/c", "/", "a//b"])
def test_a_repository_setting_other_than_repo_or_namespace_repo_is_refused(
    setting: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = Api("https://hub.test", KEY, FAST)
    with pytest.raises(KlingError, match="KLING_NB_UPLOAD_REPO must be REPO or NAMESPACE/REPO"):
        Uploader(api, Ledger(tmp_path), setting)
    monkeypatch.setenv("KLING_NB_UPLOAD_REPO", setting)
    with pytest.raises(KlingError, match="KLING_NB_UPLOAD_REPO must be REPO or NAMESPACE/REPO"):
        Uploader(api, Ledger(tmp_path))
    Uploader(api, Ledger(tmp_path), "pictures")  # what is given wins over the environment
