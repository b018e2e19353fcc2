"""Every fault the simulator can inject, set through run(), set_faults() and the HTTP endpoint."""

from __future__ import annotations

import socket
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from kling_nb.simulator import Simulator, run
from kling_nb.simulator.faults import DEFAULT_FAIL_MESSAGE, ErrorSpec, FaultError, Faults
from kling_nb.simulator.worker import pad_target
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


def test_result_urls_expire_and_forged_ones_are_refused() -> None:
    with run(result_url_ttl_seconds=0.5) as sim, api(sim) as c:
        gid = c.post("/api/ai/queue", json=BODY).json()["generations"][0]["generation_id"]
        url = wait_final(c, gid)["result_url"]
        assert httpx.get(url).status_code == 200
        forged = url.replace("signature=", "signature=0")
        assert httpx.get(forged).status_code == 403
        longer = url.replace("expires=", "expires=9")  # a later expiry breaks the signature
        assert httpx.get(longer).status_code == 403
        time.sleep(0.6)
        expired = httpx.get(url)
        assert expired.status_code == 403 and "expired" in expired.text
        fresh = c.get(f"/api/ai/queue/{gid}").json()["result_url"]  # polling again re-signs
        assert fresh != url and httpx.get(fresh).status_code == 200


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
    assert time.monotonic() - started >= 0.25


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


def test_a_payload_the_renderer_cannot_draw_fails_the_generation(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> bytes:
        raise ValueError("cannot draw this")

    monkeypatch.setattr("kling_nb.simulator.worker.render_video", refuse)
    with api(sim) as c:
        gid = c.post("/api/ai/queue", json=BODY).json()["generations"][0]["generation_id"]
        row = wait_final(c, gid)
    assert row["status"] == "failed"
    assert row["error_message"] == "Getting model response error: 500 - cannot draw this"


def test_padding_targets_leave_room_for_a_free_box() -> None:
    assert pad_target(1000, None) is None
    assert pad_target(1000, 900) is None
    assert pad_target(1000, 1003) == 1008
    assert pad_target(1000, 5000) == 5000
