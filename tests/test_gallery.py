"""Gallery: the ledger's saved results as cards, from the files alone, with filters and bytes on
demand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import kling_nb
from kling_nb.client import Client
from kling_nb.requests import VideoRequest
from kling_nb.simulator import Simulator
from kling_nb.widgets.gallery import Gallery


@pytest.fixture
def made(sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Three jobs (five takes) in a ledger whose client is closed: as after a restart."""
    monkeypatch.chdir(tmp_path)
    with Client(api_key="sk-test", base_url=sim.base_url, outputs_dir="out") as client:
        jobs = [
            client.submit(VideoRequest(prompt="A lighthouse at dusk", duration=3)),
            client.submit(VideoRequest(prompt="A red fox in snow", duration=4), 3),
            client.submit(VideoRequest(model="o3-4k", prompt="A LIGHTHOUSE by day", duration=3)),
        ]
        return [job.wait(timeout=30) for job in jobs]


def test_cards_come_from_the_ledger_latest_first(made: list[Any]) -> None:
    lighthouse, fox, day = made
    view = kling_nb.gallery("out")
    assert isinstance(view, Gallery)
    keys = [c["key"] for c in view.cards]
    assert keys == [
        f"{day.id}-1",
        f"{fox.id}-1",
        f"{fox.id}-2",
        f"{fox.id}-3",
        f"{lighthouse.id}-1",
    ]
    card = view.cards[1]
    assert card["prompt"] == "A red fox in snow" and card["model"] == "o3-pro"
    assert (card["take"], card["takes"], card["seconds"]) == (1, 3, 4)
    assert card["cost"] == "$0.90" and card["created"][:2] == "20"
    assert card["path"] == str(Path("out") / fox.results[0].path.name)
    assert card["magic"].startswith("%%kling") and "A red fox in snow" in card["magic"]
    assert view.heading.startswith("5 saved results")


def test_filters_last_model_and_search(made: list[Any]) -> None:
    lighthouse, fox, day = made
    assert [c["job_id"] for c in kling_nb.gallery("out", last=2).cards] == [day.id, fox.id]
    four_k = kling_nb.gallery("out", model="kling-video-o3-4k-reference-to-video")
    assert [c["job_id"] for c in four_k.cards] == [day.id]
    found = kling_nb.gallery("out", search="lighthouse")  # any case
    assert [c["job_id"] for c in found.cards] == [day.id, lighthouse.id]
    assert "matching 'lighthouse'" in found.heading
    assert kling_nb.gallery("out", search="nothing like it").cards == []
    with pytest.raises(ValueError, match="o3-pro"):
        kling_nb.gallery("out", model="o3-prro")
    with pytest.raises(ValueError, match=r"^last is 0; give a number of results, 1 or more\.$"):
        kling_nb.gallery("out", last=0)


def test_a_video_is_sent_as_bytes_only_when_asked(
    made: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    view = kling_nb.gallery("out")
    sent: list[tuple[dict[str, Any], list[bytes]]] = []
    monkeypatch.setattr(view, "send", lambda msg, buffers=None: sent.append((msg, buffers or [])))
    key = view.cards[0]["key"]
    view._on_msg(view, {"kind": "video", "key": key, "id": "r1"}, [])
    [(msg, buffers)] = sent
    assert msg == {"kind": "video-response", "id": "r1", "key": key, "mime": "video/mp4"}
    assert buffers == [made[2].results[0].path.read_bytes()]
    view._on_msg(view, {"kind": "video", "key": "nope", "id": "r2"}, [])
    assert sent[-1][0]["error"] == "No such result in this gallery."
    made[2].results[0].path.unlink()
    view._on_msg(view, {"kind": "video", "key": key, "id": "r3"}, [])
    assert sent[-1][0]["error"].startswith("Cannot read ")


def test_the_front_end_loads_lazily() -> None:
    module = Gallery._esm  # plain files: common.js then gallery.js
    assert "IntersectionObserver" in module and 'preload = "none"' in module
    assert "MAX_COMPARE = 4" in module
