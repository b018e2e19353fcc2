"""The simulator's own endpoints (``simulator/control.py``): ``/_simulator/faults``, ``stats``,
``reset`` and the sample images, which need no key."""

from __future__ import annotations

import httpx

from kling_nb.simulator import Simulator, run
from tests._simulator import BODY, Reader, api, enqueue, reading


def test_faults_endpoint_sets_validates_and_reset_restores_the_start_settings() -> None:
    with run(fail_next=1) as sim, api(sim) as c:
        response = c.post("/_simulator/faults", json={"stuck": True, "poll_errors": [500]})
        assert response.status_code == 200
        assert response.json()["stuck"] is True
        assert response.json()["poll_errors"] == [
            {"status": 500, "queued": False, "retry_after": None}
        ]
        bad = c.post("/_simulator/faults", json={"stuck": True, "fail_next": "lots"})
        assert bad.status_code == 400
        assert "fail_next must be a whole number" in bad.json()["error"]["detail"]
        unknown = c.post("/_simulator/faults", json={"explode": True})
        assert unknown.status_code == 400 and "unknown fault 'explode'" in unknown.text
        c.post("/api/ai/queue", json=BODY)
        assert c.post("/_simulator/reset").json() == {"status": "success"}
        faults = c.get("/_simulator/faults").json()
        assert faults["stuck"] is False and faults["fail_next"] == 1
        assert c.get("/api/ai/queue", params={"status": "queued,processing,failed"}).json() == {
            "generations": []
        }
        stats = c.get("/_simulator/stats").json()
        assert stats["enqueue_calls"] == 0


def test_control_endpoints_need_no_key_even_when_one_is_set() -> None:
    with run(api_key="sekrit") as sim, httpx.Client(base_url=sim.base_url) as anonymous:
        assert anonymous.get("/api/ai/queue").status_code == 401
        assert anonymous.get("/_simulator/stats").status_code == 200
        assert anonymous.post("/_simulator/faults", json={"fail_next": 2}).status_code == 200
        assert anonymous.get("/_simulator/faults").json()["fail_next"] == 2
        assert anonymous.get("/_simulator/samples/dog.png").status_code == 200
        assert anonymous.post("/_simulator/reset").json() == {"status": "success"}
        assert anonymous.get("/_simulator/faults").json()["fail_next"] == 0


def test_a_refused_fault_update_changes_nothing(sim: Simulator) -> None:
    with api(sim) as c:
        before = c.get("/_simulator/faults").json()
        bad = c.post("/_simulator/faults", json={"stuck": True, "fail_next": -1})
        assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_params"
        listed = c.post("/_simulator/faults", json=[{"stuck": True}])
        assert listed.status_code == 400 and listed.json()["error"]["type"] == "invalid_json"
        assert c.get("/_simulator/faults").json() == before
    assert before["stuck"] is False and sim.faults() == before


def test_reset_ends_event_streams_and_the_generations_in_flight() -> None:
    with run(generation_seconds=1.0) as sim, api(sim) as c:
        before = Reader(sim)
        (forgotten,) = enqueue(c, prompt="a", duration=3)
        assert c.get("/_simulator/stats").json()["active_event_connections"] == 1
        assert c.post("/_simulator/reset").json() == {"status": "success"}
        assert before.closed.wait(5)
        before.close()
        assert c.get("/_simulator/stats").json()["active_event_connections"] == 0
        assert c.get(f"/api/ai/queue/{forgotten}").status_code == 404
        with reading(sim) as after:
            (later,) = enqueue(c, prompt="b", duration=3)
            after.wait_for(1)
    # The forgotten generation, had it run on, would have finished before the later one.
    assert [e["generation_id"] for e in after.completions()] == [later]
