"""The simulator end to end over real loopback HTTP: the videos a request downloads, and the
package's entry points (``kling_nb.simulator``). Each module's own behaviour is in
test_simulator_<module>.py."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import av
import httpx
import pytest

from kling_nb.simulator import Simulator, run
from tests._simulator import AUTH, api, enqueue, wait_final


@pytest.fixture
def client(sim: Simulator) -> Iterator[httpx.Client]:
    with api(sim) as c:
        yield c


def test_takes_of_one_request_differ_and_equal_requests_repeat(client: httpx.Client) -> None:
    ids = enqueue(client, prompt="a dog", duration=3, num_generations=2)
    again = enqueue(client, prompt="a dog", duration=3)
    videos = [httpx.get(wait_final(client, g)["result_url"]).content for g in [*ids, *again]]
    assert videos[0] != videos[1]
    assert videos[0] == videos[2]


def probe(video: bytes) -> dict[str, Any]:
    with av.open(io.BytesIO(video)) as container:
        stream = container.streams.video[0]
        return {
            "seconds": container.duration / 1_000_000 if container.duration else 0.0,
            "size": (stream.codec_context.width, stream.codec_context.height),
            "codec": stream.codec_context.name,
            "audio": len(container.streams.audio),
        }


def test_downloaded_videos_reflect_the_request(client: httpx.Client) -> None:
    (shots,) = enqueue(
        client,
        multi_prompt=[{"prompt": "one", "duration": 2}, {"prompt": "two", "duration": 1}],
        aspect_ratio="9:16",
        generate_audio=True,
    )
    (plain,) = enqueue(client, prompt="square", duration=4, aspect_ratio="1:1")
    tall = probe(httpx.get(wait_final(client, shots)["result_url"]).content)
    square = probe(httpx.get(wait_final(client, plain)["result_url"]).content)
    assert tall["codec"] == "h264" and tall["audio"] == 1
    assert tall["seconds"] == pytest.approx(3.0, abs=0.15)
    width, height = tall["size"]
    assert height == 180 and width == pytest.approx(180 * 9 / 16, abs=2)
    assert square["size"] == (180, 180) and square["audio"] == 0
    assert square["seconds"] == pytest.approx(4.0, abs=0.15)


def test_video_height_sets_the_frame_size() -> None:
    with run(video_height=96) as sim, httpx.Client(base_url=sim.base_url, headers=AUTH) as c:
        (gid,) = enqueue(c, prompt="small", duration=3)
        info = probe(httpx.get(wait_final(c, gid)["result_url"]).content)
    width, height = info["size"]
    assert height == 96 and width == pytest.approx(96 * 16 / 9, abs=2)


def test_importing_the_package_is_cheap_and_its_entry_points_load_on_use() -> None:
    code = (
        "import sys, kling_nb.simulator\n"
        "print(sorted(m for m in ('uvicorn', 'starlette', 'av') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
    import kling_nb.simulator as package
    from kling_nb.simulator import server

    assert package.run is server.run and package.Simulator is server.Simulator
    with pytest.raises(AttributeError, match="has no attribute 'serve'"):
        package.serve  # noqa: B018  # the lookup alone is the test: it must raise
