"""Local reference images end to end: ``%%kling -i face.png`` against the simulator over loopback.

The image is checked, uploaded once per content to the user's repository at submit, handed to
the model as a presigned URL, fetched by the simulated generation and drawn in its frames. The
uploader's own rules (its cache, presigning, failed uploads, the repository) are in
test_uploads.py.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from _images import MAGENTA, TEAL, picture
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from PIL import Image

from kling_nb import Client
from kling_nb.jobs import Job
from kling_nb.local_images import localize
from kling_nb.magics import KlingMagics
from kling_nb.requests import VideoRequest
from kling_nb.simulator import Simulator
from tests.test_magics import FAKE_KEY, cell, loaded


def share_of(video: Path, color: tuple[int, int, int]) -> float:
    """The share of pixels of the video's middle frame within a small distance of ``color``."""
    with av.open(str(video)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    frame = frames[len(frames) // 2].astype(int)
    near = np.abs(frame - np.array(color)).sum(axis=2) < 60
    return float(near.mean())


@pytest.fixture(scope="module")
def shell() -> InteractiveShell:
    return InteractiveShell.instance()


@pytest.fixture
def magics(
    shell: InteractiveShell, sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[KlingMagics]:
    monkeypatch.setenv("OXEN_API_KEY", FAKE_KEY)
    monkeypatch.setenv("KLING_NB_BASE_URL", sim.base_url)
    monkeypatch.setenv("KLING_NB_OUTPUTS", str(tmp_path / "out"))
    monkeypatch.chdir(tmp_path)  # relative paths start in the notebook's folder
    with loaded(shell) as magics:
        yield magics


def finished(job: Any) -> Job:
    assert isinstance(job, Job)
    job.wait(timeout=30)
    assert job.status == "succeeded", job.error
    return job


def test_a_local_image_ends_in_a_video_that_shows_it(
    magics: KlingMagics, shell: InteractiveShell, sim: Simulator, tmp_path: Path
) -> None:
    picture(tmp_path / "face.png", MAGENTA)
    job = finished(cell(shell, "-i face.png -d 3", "@Image1 waves at the camera"))
    stats = sim.stats()
    assert stats["uploads"] == 1 and stats["presigns"] == 1 and stats["reference_fetches"] == 1
    assert stats["enqueue_calls"] == 1
    [token] = job.request.input_image
    assert token.startswith("local:sha256:") and token.endswith("/face.png")
    video = job.results[0].path
    assert share_of(video, MAGENTA) > 0.05  # the inset: a third of the width, half the height
    # What the model fetched was a presigned URL on the simulator, not the file or its path.
    fetched = [p for p in stats["requests_by_path"] if p.startswith("/_simulator/files/")]
    assert len(fetched) == 1 and fetched[0].endswith("-face.png")


def test_another_image_shows_another_picture(
    magics: KlingMagics, shell: InteractiveShell, tmp_path: Path
) -> None:
    picture(tmp_path / "other.png", TEAL)
    video = finished(cell(shell, "-i other.png -d 3", "@Image1 waves")).results[0].path
    assert share_of(video, TEAL) > 0.05
    assert share_of(video, MAGENTA) == 0.0


def test_the_same_image_in_a_second_cell_uploads_nothing_new(
    magics: KlingMagics, shell: InteractiveShell, sim: Simulator, tmp_path: Path
) -> None:
    picture(tmp_path / "face.png", MAGENTA)
    finished(cell(shell, "-i face.png -d 3", "@Image1 waves"))
    finished(cell(shell, "-i face.png -d 4", "@Image1 turns around"))
    stats = sim.stats()
    assert stats["enqueue_calls"] == 2
    assert stats["uploads"] == 1  # once per content
    assert stats["presigns"] == 2  # a fresh URL for each submission


def test_rerunning_the_cell_replays_with_no_enqueue_and_no_upload(
    magics: KlingMagics, shell: InteractiveShell, sim: Simulator, tmp_path: Path
) -> None:
    picture(tmp_path / "face.png", MAGENTA)
    first = finished(cell(shell, "-i face.png -d 3", "@Image1 waves"))
    before = sim.stats()
    again = cell(shell, "-i face.png -d 3", "@Image1 waves")
    assert again.replayed and again.results[0].path == first.results[0].path
    after = sim.stats()
    for counter in ("enqueue_calls", "uploads", "presigns"):
        assert after[counter] == before[counter], counter
    # A changed file is a different request: it is sent (and uploaded) anew.
    picture(tmp_path / "face.png", TEAL)
    finished(cell(shell, "-i face.png -d 3", "@Image1 waves"))
    assert sim.stats()["uploads"] == 2


def test_the_ledger_and_cache_record_name_hash_and_asset_never_a_url_or_key(
    magics: KlingMagics, shell: InteractiveShell, tmp_path: Path
) -> None:
    picture(tmp_path / "face.png", MAGENTA)
    job = finished(cell(shell, "--element face.png --start face.png -d 3", "@Element1 runs"))
    ledger = (tmp_path / "out" / "ledger.jsonl").read_text()
    cache = (tmp_path / "out" / "uploads.json").read_text()
    for text in (ledger, cache):
        assert FAKE_KEY not in text
        assert "signature" not in text and "_simulator/files" not in text and "expires" not in text
    [upload] = [json.loads(x) for x in ledger.splitlines() if '"type":"upload"' in x]
    sha = job.request.start_image_url.split(":")[2].split("/")[0]
    assert upload["name"] == "face.png" and upload["sha256"] == sha
    assert upload["asset_path"].endswith("-face.png") and upload["job_id"] == job.id
    assert sha in json.loads(cache)["uploads"][next(iter(json.loads(cache)["uploads"]))]


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda d: d / "missing.png", "missing.png: no such file"),
        (lambda d: _write(d / "anim.gif", "GIF"), "a GIF image; Kling takes PNG, JPEG or WebP"),
        (lambda d: _write(d / "small.png", "PNG", (400, 200)), "at least 300 px on the short"),
        (lambda d: _write(d / "wide.png", "PNG", (1600, 600)), "between 1:2.5 and 2.5:1"),
        (lambda d: _big(d / "huge.png"), "at most 30 MB"),
        (lambda d: _junk(d / "notes.png"), "not a PNG, JPEG or WebP image"),
    ],
)
def test_each_rule_refuses_in_one_line_naming_the_file_and_nothing_is_sent(
    magics: KlingMagics,
    shell: InteractiveShell,
    sim: Simulator,
    tmp_path: Path,
    make: Any,
    expected: str,
) -> None:
    path = make(tmp_path)
    with pytest.raises(UsageError) as info:
        cell(shell, f"-i {path.name}", "@Image1 waves")
    message = str(info.value)
    assert expected in message and path.name in message and "\n" not in message
    assert sim.stats()["requests_by_path"] == {}


def _write(path: Path, kind: str, size: tuple[int, int] = (480, 360)) -> Path:
    Image.new("RGB", size, MAGENTA).save(path, format=kind)
    return path


def _big(path: Path) -> Path:
    with path.open("wb") as f:  # sparse: the size is refused before the file is read
        f.truncate(31 * 1024 * 1024)
    return path


def _junk(path: Path) -> Path:
    path.write_text("not an image")
    return path


def test_dry_run_shows_what_would_be_uploaded_and_sends_nothing(
    magics: KlingMagics, shell: InteractiveShell, sim: Simulator, tmp_path: Path, capsys: Any
) -> None:
    picture(tmp_path / "face.png", MAGENTA)
    cell(shell, "-i face.png --dry-run", "@Image1 waves")
    out = capsys.readouterr().out
    assert "Local images to upload at submit" in out
    assert "face.png (480x360 image/png, " in out
    assert "-i face.png" in out  # the %%kling export names the file as given
    assert "upload(" in out and "workbench/context" in out  # the Python export uploads it
    assert "must be uploaded first" in out and "file=@face.png" in out  # the cURL export
    assert sim.stats()["requests_by_path"] == {}


def test_the_python_api_takes_paths_bytes_and_pil_images(sim: Simulator, tmp_path: Path) -> None:
    picture(tmp_path / "face.png", MAGENTA)
    image = Image.new("RGB", (400, 400), TEAL)
    data = io.BytesIO()
    Image.new("RGB", (300, 600), MAGENTA).save(data, format="JPEG")
    with Client(api_key="k-python", base_url=sim.base_url, outputs_dir=tmp_path / "o") as client:
        job = client.submit(
            {
                "prompt": "@Image1 @Image2 @Image3 dance",
                "duration": 3,
                "input_image": [tmp_path / "face.png", image, data.getvalue()],
            }
        )
        job.wait(timeout=30)
    assert job.status == "succeeded", job.error
    assert sim.stats()["uploads"] == 3 and sim.stats()["reference_fetches"] == 3


def test_an_expired_presigned_url_fails_the_generation_in_the_servers_words(
    sim: Simulator, tmp_path: Path
) -> None:
    picture(tmp_path / "face.png", MAGENTA)
    sim.set_faults(upload_url_ttl_seconds=0.001)
    body = {"prompt": "@Image1 waves", "duration": 3, "input_image": [tmp_path / "face.png"]}
    with Client(api_key="k-ttl", base_url=sim.base_url, outputs_dir=tmp_path / "o") as client:
        job = client.submit(body).wait(timeout=30)
    assert job.status == "failed"
    error = job.generations[0].error or ""
    assert "Failed to download the image in input_image[0]: HTTP 403" in error
    assert "expired" in error


def test_the_python_export_uploads_the_file_and_enqueues(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    picture(tmp_path / "face.png", MAGENTA)
    request = VideoRequest.model_validate(
        localize({"prompt": "@Image1 waves", "duration": 3, "input_image": ["face.png"]})
    )
    script = request.to_python().replace("https://hub.oxen.ai", sim.base_url)
    env = {**os.environ, "OXEN_API_KEY": "k-export"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "Status: queued" in done.stdout
    stats = sim.stats()
    assert stats["uploads"] == 1 and stats["presigns"] == 1 and stats["enqueue_calls"] == 1


def test_the_synchronous_endpoint_uploads_first_too(
    magics: KlingMagics, shell: InteractiveShell, sim: Simulator, tmp_path: Path
) -> None:
    picture(tmp_path / "face.png", TEAL)
    job = finished(cell(shell, "-i face.png -d 3 --sync", "@Image1 waves"))
    assert share_of(job.results[0].path, TEAL) > 0.05
    stats = sim.stats()
    assert stats["sync_calls"] == 1 and stats["uploads"] == 1 and stats["enqueue_calls"] == 0
