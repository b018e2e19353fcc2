"""The Oxen.ai endpoints over loopback HTTP (``simulator/api.py``): the bearer key, enqueue and its
refusals, the queue listing, cancel, the synchronous endpoint and the paged history."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator

import httpx
import pytest

from kling_nb.catalog import get_model
from kling_nb.simulator import Simulator, run
from tests._simulator import BODY, MODEL, api, enqueue, wait_final

OTHER_MODEL = "kling-video-o3-4k-reference-to-video"
SLOW_SECONDS = 5.0
"""Generation time of the simulator that answers "at once" checks: a call that waited for a
generation would take this long, one that did not is well within ``AT_ONCE``."""
AT_ONCE = 2.5
EVERY_STATUS = "queued,processing,succeeded,failed,cancelled"


UNAUTHENTICATED = {
    "error": {"type": "unauthenticated", "title": "Please login"},
    "status": "error",
    "status_message": "unauthenticated",
}


PROTECTED = [
    ("POST", "/api/ai/queue"),
    ("GET", "/api/ai/queue"),
    ("GET", "/api/ai/queue/x"),
    ("DELETE", "/api/ai/queue/x"),
    ("POST", "/api/ai/videos/generate"),
    ("GET", "/api/events"),
    ("GET", "/api/ai/generations"),
]


@pytest.fixture
def client(sim: Simulator) -> Iterator[httpx.Client]:
    with api(sim) as c:
        yield c


@pytest.fixture
def slow_client() -> Iterator[httpx.Client]:
    """A client of a simulator whose generations take ``SLOW_SECONDS``."""
    with run(generation_seconds=SLOW_SECONDS) as slow, api(slow) as c:
        yield c


def test_calls_without_a_bearer_key_answer_401(sim: Simulator) -> None:
    anonymous = httpx.Client(base_url=sim.base_url)
    for method, path in PROTECTED:
        for header in (None, "Token abc", "Basic abc", "bearer"):
            headers = {} if header is None else {"Authorization": header}
            response = anonymous.request(method, path, headers=headers, json=BODY)
            assert response.status_code == 401, (method, path, header)
            assert response.json() == UNAUTHENTICATED
    anonymous.close()
    assert sim.stats()["generations_created"] == 0


def test_any_key_is_accepted_without_api_key_and_only_that_key_with_it() -> None:
    with run() as sim:
        ok = httpx.get(f"{sim.base_url}/api/ai/queue", headers={"Authorization": "Bearer x"})
        assert ok.status_code == 200
    with run(api_key="sekrit") as sim:
        url = f"{sim.base_url}/api/ai/queue"
        assert httpx.get(url, headers={"Authorization": "Bearer x"}).status_code == 401
        assert httpx.get(url, headers={"Authorization": "Bearer sekrit"}).status_code == 200
        # models are public
        assert httpx.get(f"{sim.base_url}/api/ai/models").status_code == 200


def test_enqueue_answers_queued_rows_at_once(slow_client: httpx.Client) -> None:
    started = time.monotonic()
    response = slow_client.post(
        "/api/ai/queue", json={"model": MODEL, "prompt": "a dog", "num_generations": 3}
    )
    assert time.monotonic() - started < AT_ONCE
    rows = response.json()["generations"]
    assert [r["status"] for r in rows] == ["queued"] * 3
    assert len({r["generation_id"] for r in rows}) == 3


@pytest.mark.parametrize("count", [0, 5, "2", 1.5, True, None])
def test_num_generations_out_of_range_is_refused_at_enqueue(
    client: httpx.Client, sim: Simulator, count: object
) -> None:
    response = client.post(
        "/api/ai/queue", json={"model": MODEL, "prompt": "a", "num_generations": count}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"]["type"] == "invalid_params"
    assert body["error"]["detail"] == "num_generations must be an integer between 1 and 4"
    assert body["status"] == "error" and body["status_message"] == "invalid_params"
    assert sim.stats()["generations_created"] == 0


@pytest.mark.parametrize("name", ["o3-pro", "kling-video-nonexistent", ""])
def test_unknown_models_and_aliases_are_refused_at_enqueue(client: httpx.Client, name: str) -> None:
    response = client.post("/api/ai/queue", json={"model": name, "prompt": "a"})
    if name:
        assert response.status_code == 404
        assert response.json() == {"error": {"message": f"Model not found: {name}"}}
    else:
        assert response.status_code == 400
        assert "model is required" in response.json()["error"]["title"]


def test_list_shows_active_only_unless_status_is_given(
    client: httpx.Client, sim: Simulator
) -> None:
    (done,) = enqueue(client, prompt="a", duration=3)
    wait_final(client, done)
    sim.set_faults(stuck=True)  # stays active until the test ends, however slow it runs
    (running,) = enqueue(client, prompt="b", duration=3)
    active = client.get("/api/ai/queue").json()["generations"]
    assert [r["generation_id"] for r in active] == [running]
    finished = client.get("/api/ai/queue", params={"status": "succeeded"}).json()["generations"]
    assert [r["generation_id"] for r in finished] == [done]
    both = client.get("/api/ai/queue", params={"status": "succeeded,queued,processing"}).json()
    assert {r["generation_id"] for r in both["generations"]} == {done, running}
    bad = client.get("/api/ai/queue", params={"status": "done"})
    assert bad.status_code == 400


def test_cancel_keeps_the_row_and_has_no_effect_once_final(
    client: httpx.Client, sim: Simulator
) -> None:
    sim.set_faults(stuck=True)  # active until cancelled: the cancel lands however slow the test
    (gid,) = enqueue(client, prompt="a", duration=3)
    response = client.delete(f"/api/ai/queue/{gid}")
    assert response.json() == {"status": "success", "generation_id": gid}
    row = client.get(f"/api/ai/queue/{gid}").json()
    assert row["status"] == "cancelled" and row["completed_at"] is not None
    sim.set_faults(stuck=False)
    (done,) = enqueue(client, prompt="b", duration=3)
    wait_final(client, done)  # past the cancelled one's generation time: it stays cancelled
    assert client.get(f"/api/ai/queue/{gid}").json()["status"] == "cancelled"
    assert client.delete(f"/api/ai/queue/{done}").status_code == 200
    assert client.get(f"/api/ai/queue/{done}").json()["status"] == "succeeded"


def test_sync_generate_blocks_and_returns_a_url_or_base64(client: httpx.Client) -> None:
    started = time.monotonic()
    response = client.post("/api/ai/videos/generate", json={"model": MODEL, "prompt": "a dog"})
    assert time.monotonic() - started >= 0.2
    body = response.json()
    assert body["model"] == MODEL and isinstance(body["created"], int)
    video = httpx.get(body["videos"][0]["url"]).content
    inline = client.post(
        "/api/ai/videos/generate",
        json={"model": MODEL, "prompt": "a dog", "response_format": "b64_json"},
    ).json()
    assert base64.b64decode(inline["videos"][0]["b64_json"]) == video


def test_sync_generate_refuses_an_invalid_request_at_once(slow_client: httpx.Client) -> None:
    started = time.monotonic()
    response = slow_client.post("/api/ai/videos/generate", json={"model": MODEL})
    assert time.monotonic() - started < AT_ONCE
    assert response.status_code == 422
    assert response.json()["error"]["detail"] == (
        "Getting model response error: 422 - Value error, "
        "Either 'prompt' or 'multi_prompt' must be provided."
    )


def test_history_pages_newest_first_with_decimal_costs(client: httpx.Client) -> None:
    ids = [
        client.post("/api/ai/queue", json=BODY).json()["generations"][0]["generation_id"]
        for _ in range(3)
    ]
    failed = client.post("/api/ai/queue", json={"model": MODEL}).json()["generations"][0]
    for gid in [*ids, failed["generation_id"]]:
        wait_final(client, gid)
    first = client.get("/api/ai/generations", params={"page_size": 3}).json()
    assert first["total_entries"] == 4 and first["total_pages"] == 2
    assert first["page_number"] == 1 and first["page_size"] == 3
    assert first["generations"][0]["generation_id"] == failed["generation_id"]
    assert first["generations"][0]["cost"] == "0.000"  # failures are not billed
    assert first["generations"][1]["cost"] == "0.672"  # 3 s at $0.224
    assert first["total_cost"] == "2.016"
    second = client.get("/api/ai/generations", params={"page": 2, "page_size": 3}).json()
    assert [g["generation_id"] for g in second["generations"]] == [ids[0]]
    assert client.get("/api/ai/generations", params={"page": "0"}).status_code == 400


def test_the_listing_can_be_narrowed_to_one_model(client: httpx.Client) -> None:
    (ours,) = enqueue(client, prompt="a", duration=3)
    (other,) = enqueue(client, model=OTHER_MODEL, prompt="b", duration=3)
    for model, expected in ((MODEL, ours), (OTHER_MODEL, other)):
        params = {"status": EVERY_STATUS, "model": model}
        rows = client.get("/api/ai/queue", params=params).json()["generations"]
        assert [r["generation_id"] for r in rows] == [expected]
        assert rows[0]["model"] == model


@pytest.mark.parametrize("status", ["", ",", " , "])
def test_a_status_filter_naming_no_status_is_refused(client: httpx.Client, status: str) -> None:
    response = client.get("/api/ai/queue", params={"status": status})
    assert response.status_code == 400
    assert response.json()["error"]["detail"] == (
        "status must be one or more of queued, processing, succeeded, failed, cancelled"
    )


def test_sync_generations_are_in_the_history_but_never_in_the_queue(client: httpx.Client) -> None:
    response = client.post("/api/ai/videos/generate", json=BODY)
    assert response.status_code == 200
    assert client.get("/api/ai/queue", params={"status": EVERY_STATUS}).json() == {
        "generations": []
    }
    history = client.get("/api/ai/generations").json()
    [row] = history["generations"]
    assert row["status"] == "succeeded" and row["model"] == MODEL
    assert row["cost"] == f"{get_model(MODEL).price_per_second * BODY['duration']:.3f}"


def test_sync_generate_refuses_an_unknown_model_and_creates_nothing(
    client: httpx.Client, sim: Simulator
) -> None:
    response = client.post("/api/ai/videos/generate", json={**BODY, "model": "o3-pro"})
    assert response.status_code == 404
    assert response.json() == {"error": {"message": "Model not found: o3-pro"}}
    assert sim.stats()["generations_created"] == 0


def test_history_caps_the_page_size_and_takes_page_num_for_page(client: httpx.Client) -> None:
    ids = enqueue(client, prompt="a", duration=3, num_generations=2)
    big = client.get("/api/ai/generations", params={"page_size": 500}).json()
    assert big["page_size"] == 100 and big["total_pages"] == 1
    assert len(big["generations"]) == 2
    second = client.get("/api/ai/generations", params={"page_num": 2, "page_size": 1}).json()
    assert second["page_number"] == 2 and second["total_pages"] == 2
    assert [g["generation_id"] for g in second["generations"]] == [ids[0]]
    for bad in ({"page_size": "0"}, {"page_size": "ten"}, {"page": "-1"}):
        response = client.get("/api/ai/generations", params=bad)
        assert response.status_code == 400, bad
        assert response.json()["error"]["type"] == "invalid_params"
