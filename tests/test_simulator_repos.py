"""The simulator's repository endpoints over loopback HTTP: users, repositories, multipart
uploads and presigned file URLs, with their auth, 404s and expiry."""

from __future__ import annotations

import io
import time

import httpx
from PIL import Image

from kling_nb.simulator import Simulator
from kling_nb.simulator.repos import user_for
from tests._simulator import api


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (400, 300), (10, 200, 30)).save(out, format="PNG")
    return out.getvalue()


def make_repo(client: httpx.Client, user: str, name: str = "playground") -> None:
    body = {"name": name, "namespace": user, "description": "x", "visibility": "private"}
    response = client.post("/api/repos/", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["repository"]["namespace"] == user


def upload(client: httpx.Client, repo: str, data: bytes, name: str = "face.png") -> httpx.Response:
    return client.post(
        f"/api/repos/{repo}/workbench/context",
        files={"file": (name, data, "image/png")},
        data={"directory": "kling_nb"},
    )


def test_a_key_is_a_user_with_its_own_repositories(sim: Simulator) -> None:
    with api(sim, "key-a") as a, api(sim, "key-b") as b:
        me = a.get("/api/users/me").json()["user"]["username"]
        assert me == user_for("key-a") != user_for("key-b")
        assert a.get(f"/api/repos/{me}/playground").status_code == 404  # not yet
        make_repo(a, me)
        assert a.get(f"/api/repos/{me}/playground").json()["status"] == "success"
        again = a.post("/api/repos/", json={"name": "playground", "namespace": me})
        assert again.status_code == 409
        # Someone else's repository is not there for this key, and cannot be made in their name.
        assert b.get(f"/api/repos/{me}/playground").status_code == 404
        assert upload(b, f"{me}/playground", png()).status_code == 404
        assert b.post("/api/repos/", json={"name": "x", "namespace": me}).status_code == 403
    assert httpx.get(f"{sim.base_url}/api/users/me").status_code == 401


def test_an_upload_is_presigned_and_fetched_without_auth_until_it_expires(sim: Simulator) -> None:
    data = png()
    with api(sim, "key-a") as client:
        me = client.get("/api/users/me").json()["user"]["username"]
        make_repo(client, me)
        answer = upload(client, f"{me}/playground", data).json()
        assert answer["status"] == "success" and answer["asset_path"] == "kling_nb/face.png"
        presign = f"/api/repos/{me}/playground/file/presigned_url/main/kling_nb/face.png"
        url = client.get(presign).json()["url"]
        assert client.get(presign.replace("face.png", "other.png")).status_code == 404
    fetched = httpx.get(url)  # no key: a presigned URL needs none
    assert fetched.status_code == 200 and fetched.content == data
    assert fetched.headers["content-type"] == "image/png"
    assert httpx.get(url.replace("oxen_signature=", "oxen_signature=0")).status_code == 403
    sim.set_faults(upload_url_ttl_seconds=0.05)
    with api(sim, "key-a") as client:
        short = client.get(presign).json()["url"]
    time.sleep(0.1)
    expired = httpx.get(short)
    assert expired.status_code == 403 and "expired" in expired.text
    stats = sim.stats()
    assert stats["uploads"] == 1 and stats["presigns"] == 3


def test_injected_upload_errors_store_the_file_only_when_queued(sim: Simulator) -> None:
    sim.set_faults(upload_errors=[503, {"status": 502, "queued": True}])
    with api(sim, "key-a") as client:
        me = client.get("/api/users/me").json()["user"]["username"]
        make_repo(client, me)
        assert upload(client, f"{me}/playground", png(), "a.png").status_code == 503
        assert upload(client, f"{me}/playground", png(), "b.png").status_code == 502
        presign = f"/api/repos/{me}/playground/file/presigned_url/main/kling_nb/"
        assert client.get(presign + "a.png").status_code == 404
        assert client.get(presign + "b.png").status_code == 200


def test_an_oxen_user_agent_gets_426_here_too(sim: Simulator) -> None:
    response = httpx.get(
        f"{sim.base_url}/api/users/me",
        headers={"Authorization": "Bearer k", "User-Agent": "oxen/0.19"},
    )
    assert response.status_code == 426
