"""The faults the simulator can inject, set through run(), set_faults() and the HTTP endpoint.
The download faults (expiry, truncate, throttle, padding) are in test_simulator_results.py, the
faults endpoint itself in test_simulator_control.py."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from kling_nb.simulator import Simulator, run
from kling_nb.simulator.faults import DEFAULT_FAIL_MESSAGE, ErrorSpec, FaultError, Faults
from tests._simulator import BODY, Reader, api, reading, wait_final


def test_enqueue_errors_answer_in_order_and_queued_ones_still_create_jobs() -> None:
    errors = [502, {"status": 502, "queued": True}, {"status": 429, "retry_after": 2}, 429]
    with run(enqueue_errors=errors) as sim, api(sim) as c:
        first = c.post("/api/ai/queue", json=BODY)
        assert first.status_code == 502
        assert first.json()["error"]["type"] == "upstream"
        assert first.json()["status"] == 502  # the upstream shape carries an integer status
        assert sim.stats()["generations_created"] == 0
        queued_anyway = c.post("/api/ai/queue", json={**BODY, "num_generations": 2})
        assert queued_anyway.status_code == 502
        assert sim.stats()["generations_created"] == 2  # billed although the answer failed
        rows = c.get("/api/ai/queue").json()["generations"]
        assert len(rows) == 2
        limited = c.post("/api/ai/queue", json=BODY)
        assert limited.status_code == 429 and limited.headers["retry-after"] == "2"
        assert limited.json()["error"]["type"] == "rate_limited"
        default_limited = c.post("/api/ai/queue", json=BODY)
        assert default_limited.headers["retry-after"] == "1"
        assert c.post("/api/ai/queue", json=BODY).status_code == 200
        assert sim.stats()["enqueue_calls"] == 5


def test_poll_errors_hit_only_single_generation_polls(sim: Simulator) -> None:
    with api(sim) as c:
        gid = c.post("/api/ai/queue", json=BODY).json()["generations"][0]["generation_id"]
        sim.set_faults(poll_errors=[503, 500])
        assert c.get("/api/ai/queue").status_code == 200  # the list call is not affected
        assert c.get(f"/api/ai/queue/{gid}").status_code == 503
        assert c.get(f"/api/ai/queue/{gid}").status_code == 500
        assert c.get(f"/api/ai/queue/{gid}").status_code == 200
        assert sim.stats()["polls"] == 3


def test_fail_next_fails_that_many_generations_with_the_message(sim: Simulator) -> None:
    sim.set_faults(fail_next=2, fail_message="Insufficient credits")
    with api(sim) as c, reading(sim) as reader:
        ids = [
            g["generation_id"]
            for g in c.post("/api/ai/queue", json={**BODY, "num_generations": 3}).json()[
                "generations"
            ]
        ]
        rows = [wait_final(c, gid) for gid in ids]
        events = {e["generation_id"]: e for e in reader.wait_for(3)}
    assert [r["status"] for r in rows] == ["failed", "failed", "succeeded"]
    assert rows[0]["error_message"] == "Insufficient credits"
    assert events[ids[0]] == {
        "generation_id": ids[0],
        "status": "failed",
        "media_type": "video",
        "error": "Insufficient credits",
    }
    assert sim.faults()["fail_next"] == 0


def test_fail_next_on_the_sync_endpoint_answers_an_upstream_error(sim: Simulator) -> None:
    sim.set_faults(fail_next=1)
    with api(sim) as c:
        response = c.post("/api/ai/videos/generate", json=BODY)
    assert response.status_code == 502
    assert response.json()["error"]["detail"] == DEFAULT_FAIL_MESSAGE


def test_stuck_generations_stay_processing_until_cancelled(sim: Simulator) -> None:
    sim.set_faults(stuck=True)
    with api(sim) as c, reading(sim) as reader:
        gid = c.post("/api/ai/queue", json=BODY).json()["generations"][0]["generation_id"]
        time.sleep(0.6)
        assert c.get(f"/api/ai/queue/{gid}").json()["status"] == "processing"
        c.delete(f"/api/ai/queue/{gid}")
        assert c.get(f"/api/ai/queue/{gid}").json()["status"] == "cancelled"
        time.sleep(0.2)
    assert reader.completions() == []


def test_events_lose_drops_the_next_completion_events(sim: Simulator) -> None:
    sim.set_faults(events_lose=1)
    with api(sim) as c, reading(sim) as reader:
        lost = c.post("/api/ai/queue", json=BODY).json()["generations"][0]["generation_id"]
        assert wait_final(c, lost)["status"] == "succeeded"  # polling still tells
        kept = c.post("/api/ai/queue", json=BODY).json()["generations"][0]["generation_id"]
        reader.wait_for(1)
    assert [e["generation_id"] for e in reader.completions()] == [kept]
    assert sim.stats()["events_lost"] == 1


def test_events_duplicate_and_foreign(sim: Simulator) -> None:
    sim.set_faults(events_duplicate=True, events_foreign=True)
    with api(sim) as c, reading(sim) as reader:
        gid = c.post("/api/ai/queue", json=BODY).json()["generations"][0]["generation_id"]
        reader.wait_for(3)
    names = [name for name, _ in reader.events()]
    assert "deployment_status_changed" in names
    ours = [e for e in reader.completions() if e["generation_id"] == gid]
    others = [e for e in reader.completions() if e["generation_id"] != gid]
    assert len(ours) == 2 and ours[0] == ours[1]
    assert len(others) == 1 and others[0]["media_type"] == "image"


def test_events_drop_after_closes_each_stream() -> None:
    with run(events_drop_after=1, keepalive_seconds=0.1) as sim, api(sim) as c:
        reader = Reader(sim)
        c.post("/api/ai/queue", json={**BODY, "num_generations": 2})
        assert reader.closed.wait(5)
        assert len(reader.completions()) == 1  # closed after one event; the second is lost
        reader.close()
        assert sim.stats()["event_connections"] == 1


def test_events_unavailable_answers_404(sim: Simulator) -> None:
    sim.set_faults(events_unavailable=True)
    with api(sim) as c:
        response = c.get("/api/events")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "resource_not_found"


def test_credits_refuse_an_enqueue_that_costs_more_than_the_balance(sim: Simulator) -> None:
    sim.set_faults(credits_usd=1.0)
    with api(sim) as c:
        affordable = c.post("/api/ai/queue", json=BODY)  # 3 s at $0.224 = $0.672
        assert affordable.status_code == 200
        pending = c.post("/api/ai/queue", json=BODY)  # the first one's cost is reserved
        assert pending.status_code == 402
        wait_final(c, affordable.json()["generations"][0]["generation_id"])
        refused = c.post("/api/ai/queue", json=BODY)
        invalid = c.post("/api/ai/queue", json={"model": BODY["model"]})  # will fail: free
    assert refused.status_code == 402
    assert refused.json()["error"]["type"] == "insufficient_credits"
    assert invalid.status_code == 200


@pytest.mark.parametrize(
    ("faults", "message"),
    [
        ({"enqueue_errors": 502}, "must be a list"),
        ({"enqueue_errors": [200]}, "not an HTTP error status"),
        ({"enqueue_errors": [{"status": 502, "later": 1}]}, "unknown keys"),
        ({"events_drop_after": 0}, ">= 1"),
        ({"events_duplicate": "yes"}, "true or false"),
        ({"result_url_ttl_seconds": 0}, "> 0"),
        ({"credits_usd": -1}, ">= 0"),
        ({"fail_message": ""}, "non-empty"),
    ],
)
def test_bad_fault_settings_say_what_they_take(faults: dict[str, Any], message: str) -> None:
    settings = Faults()
    with pytest.raises(FaultError, match=message):
        settings.update(faults)
    assert settings == Faults()  # nothing applied


def test_error_specs_parse_both_forms() -> None:
    assert ErrorSpec.parse(502, "x") == ErrorSpec(502)
    assert ErrorSpec.parse({"status": 429, "retry_after": 1.5}, "x") == ErrorSpec(429, False, 1.5)


def test_a_stuck_sync_call_waits_until_the_client_gives_up(sim: Simulator) -> None:
    sim.set_faults(stuck=True)
    with api(sim) as c:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            c.post("/api/ai/videos/generate", json=BODY, timeout=0.6)
        assert time.monotonic() - started >= 0.6
        rows = c.get("/api/ai/generations").json()["generations"]
    assert [r["status"] for r in rows] == ["processing"]
