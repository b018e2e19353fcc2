"""The simulator's HTTP surface: auth, error bodies, models, history, samples, stats."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image

from kling_nb.catalog import list_models
from kling_nb.local_images import load
from kling_nb.simulator import Simulator, run
from kling_nb.simulator.samples import SAMPLE_NAMES
from tests._simulator import AUTH, BODY, MODEL, api, wait_final

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


@pytest.mark.parametrize("agent", ["oxen/0.19.0", "Oxen-Python/1.0", "my-OXEN-tool"])
def test_user_agents_naming_oxen_get_426(client: httpx.Client, agent: str) -> None:
    response = client.post("/api/ai/queue", json=BODY, headers={"User-Agent": agent})
    assert response.status_code == 426
    assert response.json()["error"]["type"] == "upgrade_required"
    models = client.get("/api/ai/models", headers={"User-Agent": agent})
    assert models.status_code == 426


def test_malformed_json_and_non_objects_answer_400(client: httpx.Client) -> None:
    for raw in (b"{not json", b"[1, 2]", b"\xff\xfe"):
        response = client.post(
            "/api/ai/queue", content=raw, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400
        assert response.json()["error"]["type"] == "invalid_json"


def test_oversized_bodies_answer_413() -> None:
    with run(max_body_bytes=10_000) as sim, httpx.Client(base_url=sim.base_url, headers=AUTH) as c:
        big = {**BODY, "negative_prompt": "x" * 20_000}
        response = c.post("/api/ai/queue", json=big)
        assert response.status_code == 413
        assert response.json()["error"]["type"] == "payload_too_large"

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while reading
            yield b'{"model": "' + b"x" * 6_000
            yield b"y" * 6_000 + b'"}'

        streamed = c.post("/api/ai/queue", content=chunks())
        assert streamed.status_code == 413


def test_unknown_paths_and_methods_answer_json(client: httpx.Client) -> None:
    missing = client.get("/api/ai/nothing-here")
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "resource_not_found"
    wrong = client.put("/api/ai/queue")
    assert wrong.status_code == 405
    assert wrong.json()["error"]["type"] == "method_not_allowed"
    assert set(wrong.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "POST"}


def test_models_list_and_detail_carry_both_schemas_pricing_and_order(client: httpx.Client) -> None:
    listing = client.get("/api/ai/models").json()
    assert listing["object"] == "list"
    assert [m["id"] for m in listing["data"]] == [s.id for s in list_models()]
    detail = client.get(f"/api/ai/models/{MODEL}").json()
    assert detail == listing["data"][0]
    assert detail["object"] == "model" and detail["endpoint"] == "/videos/generate"
    assert detail["pricing"]["method"] == "per_video_output_second"
    assert detail["pricing"]["cost_per_second"] == 0.224
    schema = detail["request_schema"]
    assert schema == detail["json_request_schema"]
    props = schema["properties"]
    assert "prompt" in props and "multi_prompt" in props and "cfg_scale" not in props
    orders = [p["x-order"] for p in props.values()]
    assert orders == sorted(orders) == list(range(len(orders)))
    assert props["start_image_url"]["renderType"] == "image-url"
    assert props["negative_prompt"]["default"] == "blur, distort, and low quality"
    assert props["aspect_ratio"]["enum"] == ["16:9", "9:16", "1:1"]
    assert "prompt" in schema["basic"]
    for key in ("capabilities", "display_name", "owned_by", "deployments", "released_at"):
        assert key in detail
    assert client.get("/api/ai/models/o3-pro").status_code == 404


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


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_sample_images_are_served_as_png(sim: Simulator, name: str) -> None:
    response = httpx.get(sim.sample_url(name))
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "PNG" and image.size == (512, 512)
    load(response.content, name=f"{name}.png")  # within Kling's limits (300 px and more)


def test_samples_are_distinct_and_unknown_ones_refused(sim: Simulator) -> None:
    pngs = {httpx.get(sim.sample_url(name)).content for name in SAMPLE_NAMES}
    assert len(pngs) == len(SAMPLE_NAMES)
    assert httpx.get(f"{sim.base_url}/_simulator/samples/cat.png").status_code == 404
    with pytest.raises(ValueError, match="unknown sample 'cat'"):
        sim.sample_url("cat")


def test_a_request_using_sample_images_succeeds(client: httpx.Client, sim: Simulator) -> None:
    body = {
        "model": MODEL,
        "multi_prompt": [{"prompt": "@Element1 waves at @Image1", "duration": 3}],
        "input_image": [sim.sample_url("dog")],
        "start_image_url": sim.sample_url("first-frame"),
        "tail_image_url": sim.sample_url("last-frame"),
        "elements": [
            {
                "frontal_image_url": sim.sample_url("character-front"),
                "reference_image_urls": [sim.sample_url("character-side")],
            }
        ],
    }
    gid = client.post("/api/ai/queue", json=body).json()["generations"][0]["generation_id"]
    assert wait_final(client, gid)["status"] == "succeeded"


def test_stats_count_calls_by_kind_path_and_user_agent(
    client: httpx.Client, sim: Simulator
) -> None:
    gid = client.post("/api/ai/queue", json=BODY).json()["generations"][0]["generation_id"]
    row = wait_final(client, gid)
    httpx.get(row["result_url"], headers={"User-Agent": "downloader/1"})
    client.get("/api/ai/queue")
    client.delete(f"/api/ai/queue/{gid}")
    client.get("/api/ai/models")
    client.get("/api/ai/generations")
    stats = sim.stats()
    assert stats["enqueue_calls"] == 1 and stats["generations_created"] == 1
    assert stats["polls"] >= 1 and stats["list_calls"] == 1 and stats["cancels"] == 1
    assert stats["downloads"] == 1 and stats["model_calls"] == 1
    assert stats["history_calls"] == 1 and stats["sync_calls"] == 0
    assert stats["requests_by_path"]["/api/ai/queue"] == 2
    assert stats["requests_by_path"][f"/api/ai/queue/{gid}"] == stats["polls"] + 1
    assert stats["requests_by_user_agent"]["downloader/1"] == 1
    assert stats["requests_by_user_agent"][f"python-httpx/{httpx.__version__}"] >= 5
    assert client.get("/_simulator/stats").json()["enqueue_calls"] == 1


def test_small_responses_are_not_held_back_by_nagle(client: httpx.Client) -> None:
    # Without TCP_NODELAY each body waited ~40 ms for the client's delayed ACK.
    client.get("/api/ai/queue")
    timings = []
    for _ in range(15):
        started = time.perf_counter()
        client.get("/api/ai/queue")
        timings.append(time.perf_counter() - started)
    assert sorted(timings)[7] < 0.02
