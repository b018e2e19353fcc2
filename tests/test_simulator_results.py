"""Result downloads (``simulator/results.py``): signed URLs served without a key, their expiry and
refusals, and the download faults (cut short, throttled, padded to a size)."""

from __future__ import annotations

import io
import re
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import av
import httpx
import pytest
from _core import until

from kling_nb.simulator import Simulator, run
from kling_nb.simulator.results import result_url
from tests._simulator import BODY, api, enqueue, wait_final

MP4_BRAND = b"ftyp"


@pytest.fixture
def client(sim: Simulator) -> Iterator[httpx.Client]:
    with api(sim) as c:
        yield c


def frames(video: bytes) -> list[bytes]:
    """Every decoded frame of an MP4, as RGB bytes."""
    with av.open(io.BytesIO(video)) as container:
        return [f.to_ndarray(format="rgb24").tobytes() for f in container.decode(video=0)]


def test_the_result_url_serves_an_mp4_without_auth(client: httpx.Client, sim: Simulator) -> None:
    (gid,) = enqueue(client, prompt="a dog", duration=3)
    row = wait_final(client, gid)
    url = row["result_url"]
    assert url.startswith(f"{sim.base_url}/_simulator/results/{gid}.mp4?")
    assert "expires=" in url and "signature=" in url
    video = httpx.get(url)  # no Authorization header
    assert video.status_code == 200
    assert video.headers["content-type"] == "video/mp4"
    assert video.content[4:8] == MP4_BRAND
    assert int(video.headers["content-length"]) == len(video.content)


def test_result_urls_expire_and_forged_ones_are_refused() -> None:
    # Links live 3 s: long enough to be used at once however slow the machine, short enough to
    # wait for them to expire.
    with run(result_url_ttl_seconds=3) as sim, api(sim) as c, httpx.Client() as anonymous:
        gid = c.post("/api/ai/queue", json=BODY).json()["generations"][0]["generation_id"]
        url = wait_final(c, gid)["result_url"]
        assert anonymous.get(url).status_code == 200
        forged = url.replace("signature=", "signature=0")
        assert anonymous.get(forged).status_code == 403
        longer = url.replace("expires=", "expires=9")  # a later expiry breaks the signature
        assert anonymous.get(longer).status_code == 403
        until(lambda: anonymous.get(url).status_code != 200)
        expired = anonymous.get(url)
        assert expired.status_code == 403 and "expired" in expired.text
        fresh = c.get(f"/api/ai/queue/{gid}").json()["result_url"]  # polling again re-signs
        assert fresh != url and anonymous.get(fresh).status_code == 200


def test_download_truncate_cuts_the_body_after_announcing_its_full_length(sim: Simulator) -> None:
    sim.set_faults(download_truncate=2)
    with api(sim) as c:
        gid = c.post("/api/ai/queue", json=BODY).json()["generations"][0]["generation_id"]
        url = wait_final(c, gid)["result_url"]
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as raw:
        raw.sendall(f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        data = b""
        while chunk := raw.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    headers = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:])
    length = int(headers[b"content-length"])
    assert len(body) == length // 2  # then the server closed the connection
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(url)
    complete = httpx.get(url)  # only the next N downloads are cut
    assert len(complete.content) == length
    stats = sim.stats()
    assert stats["downloads_truncated"] == 2 and stats["downloads"] == 3


def test_result_size_bytes_pads_the_video_with_a_free_box(sim: Simulator) -> None:
    sim.set_faults(result_size_bytes=2_000_000)
    with api(sim) as c:
        gid = c.post("/api/ai/queue", json=BODY).json()["generations"][0]["generation_id"]
        video = httpx.get(wait_final(c, gid)["result_url"]).content
    assert len(video) == 2_000_000
    assert video[4:8] == b"ftyp"
    assert b"free" in video[-2_000_000 + 100 :]


def test_download_bytes_per_second_throttles(sim: Simulator) -> None:
    sim.set_faults(result_size_bytes=300_000, download_bytes_per_second=1_000_000)
    with api(sim) as c:
        gid = c.post("/api/ai/queue", json=BODY).json()["generations"][0]["generation_id"]
        url = wait_final(c, gid)["result_url"]
    started = time.monotonic()
    assert len(httpx.get(url).content) == 300_000
    # 0.3 s at that rate; the last 64 KiB piece may arrive before its own wait (after ~0.24 s),
    # while an unthrottled download takes milliseconds.
    assert time.monotonic() - started >= 0.2


def test_links_that_lead_to_no_video_are_refused_and_not_counted(
    client: httpx.Client, sim: Simulator
) -> None:
    (failed,) = enqueue(client)  # no prompt: the generation fails
    assert wait_final(client, failed)["status"] == "failed"
    for gid in (failed, "no-such-generation"):
        refused = httpx.get(result_url(sim.config, gid, 60))  # correctly signed
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("text/plain")
        assert refused.text == "AccessDenied: No such result."
    (done,) = enqueue(client, prompt="a", duration=3)
    url = wait_final(client, done)["result_url"]
    for broken in (re.sub(r"expires=[^&]*", "expires=soon", url), url.partition("?")[0]):
        malformed = httpx.get(broken)
        assert (
            malformed.status_code == 403
            and malformed.text == "AccessDenied: The link is malformed."
        )
    assert sim.stats()["downloads"] == 0


def test_a_padded_result_plays_like_the_unpadded_one(client: httpx.Client, sim: Simulator) -> None:
    (plain,) = enqueue(client, prompt="a", duration=3)
    plain_url = wait_final(client, plain)["result_url"]
    unpadded = httpx.get(plain_url).content
    size = len(unpadded) + 100_000
    sim.set_faults(result_size_bytes=size)
    (padded_id,) = enqueue(client, prompt="a", duration=3)  # the same request: the same video
    padded = httpx.get(wait_final(client, padded_id)["result_url"])
    assert int(padded.headers["content-length"]) == len(padded.content) == size
    assert padded.content.startswith(unpadded)
    assert frames(padded.content) == frames(unpadded)
    # A result keeps the size it had when it finished.
    assert httpx.get(plain_url).content == unpadded


def test_a_result_size_below_the_videos_leaves_it_alone(
    client: httpx.Client, sim: Simulator
) -> None:
    (first,) = enqueue(client, prompt="a", duration=3)
    unpadded = httpx.get(wait_final(client, first)["result_url"]).content
    sim.set_faults(result_size_bytes=len(unpadded) // 2)
    (second,) = enqueue(client, prompt="a", duration=3)
    assert httpx.get(wait_final(client, second)["result_url"]).content == unpadded
