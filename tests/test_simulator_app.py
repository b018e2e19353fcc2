"""The simulator's Starlette app (``simulator/app.py``): the front layer that counts every
request and answers 426 to an oxen User-Agent on ``/api/``, and JSON bodies for unknown paths and
methods."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from kling_nb.simulator import Simulator
from tests._simulator import AUTH, BODY, api, enqueue, wait_final

OXEN = {"User-Agent": "oxen/0.19.0"}


@pytest.fixture
def client(sim: Simulator) -> Iterator[httpx.Client]:
    with api(sim) as c:
        yield c


@pytest.mark.parametrize("agent", ["oxen/0.19.0", "Oxen-Python/1.0", "my-OXEN-tool"])
def test_user_agents_naming_oxen_get_426(client: httpx.Client, agent: str) -> None:
    response = client.post("/api/ai/queue", json=BODY, headers={"User-Agent": agent})
    assert response.status_code == 426
    assert response.json()["error"]["type"] == "upgrade_required"
    models = client.get("/api/ai/models", headers={"User-Agent": agent})
    assert models.status_code == 426


def test_unknown_paths_and_methods_answer_json(client: httpx.Client) -> None:
    missing = client.get("/api/ai/nothing-here")
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "resource_not_found"
    wrong = client.put("/api/ai/queue")
    assert wrong.status_code == 405
    assert wrong.json()["error"]["type"] == "method_not_allowed"
    assert set(wrong.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "POST"}


def test_the_oxen_check_is_for_api_paths_only(sim: Simulator) -> None:
    """Result downloads, sample images and the control endpoints answer any User-Agent."""
    with api(sim) as client:
        (gid,) = enqueue(client, prompt="a", duration=3)
        url = wait_final(client, gid)["result_url"]
    assert httpx.get(url, headers=OXEN).status_code == 200
    assert httpx.get(sim.sample_url("dog"), headers=OXEN).status_code == 200
    assert httpx.get(f"{sim.base_url}/_simulator/stats", headers=OXEN).status_code == 200
    refused = httpx.get(f"{sim.base_url}/api/ai/queue", headers={**AUTH, **OXEN})
    assert refused.status_code == 426


def test_requests_refused_for_their_user_agent_are_counted_but_not_handled(
    client: httpx.Client, sim: Simulator
) -> None:
    assert client.post("/api/ai/queue", json=BODY, headers=OXEN).status_code == 426
    stats = sim.stats()
    assert stats["requests_by_user_agent"]["oxen/0.19.0"] == 1
    assert stats["requests_by_path"]["/api/ai/queue"] == 1
    assert stats["enqueue_calls"] == 0 and stats["generations_created"] == 0


def test_head_answers_like_get_and_each_route_lists_its_own_methods(client: httpx.Client) -> None:
    (gid,) = enqueue(client, prompt="a", duration=3)
    head = client.head(f"/api/ai/queue/{gid}")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == "application/json"
    put = client.put(f"/api/ai/queue/{gid}")
    assert put.status_code == 405
    assert set(put.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "DELETE"}
    get = client.get("/api/ai/videos/generate")
    assert get.status_code == 405
    assert get.json()["error"] == {
        "type": "method_not_allowed",
        "title": "Method not allowed",
        "detail": "Allowed methods: POST",
    }
