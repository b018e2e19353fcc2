"""The seed documents' own Python and cURL examples, run against the simulator.

The examples are real clients of the Oxen.ai API that no one here wrote, so they test the
simulator's fidelity. They are read from the seed files at test time; only the API host, the key
and the placeholder generation id (``4ef840a4-...``) are replaced, the poll loops' sleep interval
is shortened, and ``awk`` becomes ``gawk`` (Debian's mawk buffers piped input, so the docs' SSE
pipeline would hang). Known traps, asserted as such: the 4K page's examples send no prompt, so a
faithful server refuses them; its "All parameters" Python examples write JSON ``false`` and stop
with a NameError before sending anything.
"""

from __future__ import annotations

import ast
import base64
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from kling_nb.simulator import Simulator, run
from tests._simulator import MODEL, api
from tests._simulator import enqueue as enqueue_via
from tests._simulator import wait_final as wait_final_via

KEY = "seed-example-key"
NO_PROMPT = "Either 'prompt' or 'multi_prompt' must be provided."
NO_PROMPT_ERROR = f"Getting model response error: 422 - Value error, {NO_PROMPT}"


def seeds_dir() -> Path:
    """``$KLING_NB_SEEDS``, else ``../shared/seeds`` beside the repo, else ``tests/seeds``."""
    candidates = [
        Path(os.environ["KLING_NB_SEEDS"]) if os.environ.get("KLING_NB_SEEDS") else None,
        Path(__file__).resolve().parents[2] / "shared" / "seeds",
        Path(__file__).resolve().parent / "seeds",
    ]
    for path in candidates:
        if path is not None and any(path.glob("*.txt")):
            return path
    raise AssertionError(
        "No seed documents found: set KLING_NB_SEEDS to the folder holding the seed .txt files"
    )


@dataclass(frozen=True)
class Example:
    seed: str
    number: int
    language: str  # "python" or "bash"
    code: str

    @property
    def kind(self) -> str:
        code = self.code
        if "/api/events" in code:
            return "sse"
        if "/api/ai/videos/generate" in code:
            return "sync"
        if "requests.delete" in code or "-X DELETE" in code:
            return "cancel"
        if "/api/ai/models/" in code:
            return "model"
        if "4ef840a4-" in code:
            return "poll"
        if "while True" in code or "while true" in code:
            return "enqueue_poll"
        return "enqueue"

    @property
    def sends_prompt(self) -> bool:
        return '"prompt"' in self.code or '"multi_prompt"' in self.code

    @property
    def has_json_false(self) -> bool:
        return self.language == "python" and re.search(r":\s*false\b", self.code) is not None

    @property
    def id(self) -> str:
        lang = "py" if self.language == "python" else "curl"
        return f"{self.seed[:3]}-{self.number:02d}-{self.kind}-{lang}"


_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>python|bash)\b[^\n]*\n", re.MULTILINE)


def extract_examples(text: str, seed: str) -> list[Example]:
    """Every ```python / ```bash block of a seed, dedented."""
    out: list[Example] = []
    for match in _FENCE.finditer(text):
        indent = match.group("indent")
        end = text.index(f"\n{indent}```", match.end() - 1)
        lines = text[match.end() : end + 1].splitlines()
        code = "\n".join(line.removeprefix(indent) for line in lines) + "\n"
        out.append(Example(seed, len(out) + 1, match.group("lang"), code))
    return out


def all_examples() -> list[Example]:
    found: list[Example] = []
    for path in sorted(seeds_dir().glob("*.txt")):
        found += extract_examples(path.read_text(encoding="utf-8"), path.name)
    return found


EXAMPLES = all_examples()


def adapt(example: Example, base_url: str, generation_id: str | None = None) -> str:
    """Replace only the API host, the key, the placeholder id, the poll sleep and awk."""
    code = example.code
    code = code.replace("https://hub.oxen.ai/api/ai/", f"{base_url}/api/ai/")
    code = code.replace("https://hub.oxen.ai/api/events", f"{base_url}/api/events")
    code = code.replace("YOUR_API_KEY", KEY)
    if generation_id is not None:
        code = code.replace("4ef840a4-...", generation_id)
    code = re.sub(r"time\.sleep\(\d+\)", "time.sleep(0.1)", code)
    code = re.sub(r"^(\s*)sleep \d+$", r"\1sleep 0.1", code, flags=re.MULTILINE)
    code = re.sub(r"\|\s*awk\b", "| gawk", code)
    return code


def execute(example: Example, code: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OXEN_API_KEY": KEY}
    argv = [sys.executable, "-c", code] if example.language == "python" else ["bash", "-c", code]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def seed_sim() -> Iterator[Simulator]:
    with run(generation_seconds=0.2, keepalive_seconds=0.3) as sim:
        yield sim


@pytest.fixture(scope="module")
def slow_sim() -> Iterator[Simulator]:
    """For the examples that must act while a generation is still under way, even on a busy
    machine. The event-stream examples enqueue first and connect second, and their request,
    refused, fails as it leaves the queue (a quarter of the generation time: 3 s here); an event
    sent before they connect is lost (no replay), and the example would wait for ever. They end
    on that event, so they take those 3 s, not the whole 12."""
    with run(generation_seconds=12.0, keepalive_seconds=0.3) as sim:
        yield sim


def enqueue(sim: Simulator, **body: Any) -> str:
    with api(sim, KEY) as client:
        return enqueue_via(client, **body)[0]


def poll(sim: Simulator, generation_id: str) -> dict[str, Any]:
    with api(sim, KEY) as client:
        row: dict[str, Any] = client.get(f"/api/ai/queue/{generation_id}").json()
    return row


def wait_final(sim: Simulator, generation_id: str) -> dict[str, Any]:
    with api(sim, KEY) as client:
        return wait_final_via(client, generation_id)


def result_url_pattern(sim: Simulator) -> str:
    return re.escape(sim.base_url) + r"/_simulator/results/[0-9a-f-]+\.mp4\?expires="


def requests_seen(sim: Simulator) -> int:
    return sum(sim.stats()["requests_by_path"].values())


def stopped_by_json_false(example: Example, sim: Simulator) -> bool:
    """The 4K "All parameters" Python examples write JSON ``false``: a NameError, nothing sent."""
    if not example.has_json_false:
        return False
    before = requests_seen(sim)
    out = execute(example, adapt(example, sim.base_url))
    assert out.returncode == 1
    assert "NameError: name 'false' is not defined" in out.stderr
    assert requests_seen(sim) == before
    return True


def test_the_seeds_hold_the_examples_we_expect() -> None:
    kinds = [(e.seed[:3], e.kind, e.language) for e in EXAMPLES]
    for language in ("python", "bash"):
        assert kinds.count(("003", "sync", language)) == 4
        for kind in ("enqueue", "poll", "cancel"):
            assert kinds.count(("003", kind, language)) == 1
        for kind in ("sync", "enqueue_poll", "sse"):
            assert kinds.count(("000", kind, language)) == 3
    assert ("000", "model", "bash") in kinds
    assert any("awk" in e.code for e in EXAMPLES if e.kind == "sse")


def by_kind(*kinds: str) -> list[Any]:
    return [pytest.param(e, id=e.id) for e in EXAMPLES if e.kind in kinds]


@pytest.mark.parametrize("example", by_kind("sync"))
def test_sync_examples(example: Example, seed_sim: Simulator) -> None:
    if stopped_by_json_false(example, seed_sim):
        return
    out = execute(example, adapt(example, seed_sim.base_url))
    if not example.sends_prompt:  # the 4K examples: refused at once, with the seed's message
        if example.language == "python":
            assert out.returncode == 1
            assert "HTTPError: 422" in out.stderr
        else:
            body = json.loads(out.stdout)
            assert body["error"]["detail"] == NO_PROMPT_ERROR
        return
    assert out.returncode == 0, out.stderr
    if example.language == "python":
        match = re.fullmatch(f"Video URL: ({result_url_pattern(seed_sim)}.*)\n", out.stdout)
        assert match, out.stdout
        url = match.group(1)
    else:
        body = json.loads(out.stdout)
        assert body["model"] == MODEL
        url = body["videos"][0]["url"]
    assert httpx.get(url).content[4:8] == b"ftyp"


def test_sync_b64_json_as_the_seed_documents_it(seed_sim: Simulator) -> None:
    """The seed shows the b64_json response but no example asks for it: add the documented
    ``response_format`` to its minimal Python example."""
    minimal = next(
        e for e in EXAMPLES if e.kind == "sync" and e.language == "python" and "puppy" in e.code
    )
    code = adapt(minimal, seed_sim.base_url)
    code = code.replace(
        '"prompt": "A puppy runs through a park",',
        '"prompt": "A puppy runs through a park", "response_format": "b64_json",',
    )
    code = code.replace('data["videos"][0]["url"]', 'data["videos"][0]["b64_json"]')
    assert "b64_json" in code
    out = execute(minimal, code)
    assert out.returncode == 0, out.stderr
    video = base64.b64decode(out.stdout.removeprefix("Video URL: ").strip())
    assert video[4:8] == b"ftyp"


@pytest.mark.parametrize("example", by_kind("enqueue"))
def test_enqueue_examples(example: Example, seed_sim: Simulator) -> None:
    out = execute(example, adapt(example, seed_sim.base_url))
    assert out.returncode == 0, out.stderr
    if example.language == "python":
        lines = out.stdout.splitlines()
        assert len(lines) == 2  # num_generations: 2
        ids = [re.fullmatch(r"ID: ([0-9a-f-]{36}), Status: queued", line) for line in lines]
        assert all(ids), lines
        generation_ids = [m.group(1) for m in ids if m]
    else:
        rows = json.loads(out.stdout)["generations"]
        assert [r["status"] for r in rows] == ["queued", "queued"]
        generation_ids = [r["generation_id"] for r in rows]
    for gid in generation_ids:
        row = wait_final(seed_sim, gid)
        assert row["status"] == "succeeded"
        assert row["generate_audio"] is True and row["multi_prompt"][0]["duration"] == 5


@pytest.mark.parametrize("example", by_kind("poll"))
def test_poll_examples(example: Example, seed_sim: Simulator, slow_sim: Simulator) -> None:
    # The Python example polls to the end; the cURL one polls once, which must find the
    # generation still under way: a generation of 0.2 s could end before curl starts.
    sim = seed_sim if example.language == "python" else slow_sim
    gid = enqueue(sim, prompt="A dog runs across a sunny field", duration=3)
    out = execute(example, adapt(example, sim.base_url, gid))
    assert out.returncode == 0, out.stderr
    if example.language == "python":
        assert re.fullmatch(f"Result: {result_url_pattern(sim)}.*\n", out.stdout), out.stdout
    else:
        row = json.loads(out.stdout)  # one poll, right after enqueueing
        assert row["generation_id"] == gid
        assert row["status"] in {"queued", "processing"}


@pytest.mark.parametrize("example", by_kind("cancel"))
def test_cancel_examples(example: Example, slow_sim: Simulator) -> None:
    gid = enqueue(slow_sim, prompt="A dog runs across a sunny field", duration=3)
    out = execute(example, adapt(example, slow_sim.base_url, gid))
    assert out.returncode == 0, out.stderr
    expected = {"status": "success", "generation_id": gid}
    if example.language == "python":
        assert out.stdout.strip() == repr(expected)
    else:
        assert json.loads(out.stdout) == expected
    assert poll(slow_sim, gid)["status"] == "cancelled"


@pytest.mark.parametrize("example", by_kind("enqueue_poll"))
def test_enqueue_and_poll_examples(example: Example, seed_sim: Simulator) -> None:
    if stopped_by_json_false(example, seed_sim):
        return
    out = execute(example, adapt(example, seed_sim.base_url))
    assert out.returncode == 0, out.stderr
    # no prompt: the queue accepts the job, which then fails with the seed's wording
    if example.language == "python":
        assert out.stdout == f"Generation failed: {NO_PROMPT_ERROR}\n"
    else:
        assert "Status: failed" in out.stdout
        final = json.loads(out.stdout[out.stdout.index("{") :])
        assert final["status"] == "failed"
        assert final["error_message"] == NO_PROMPT_ERROR
        assert final["model_name"] == "kling-video-o3-4k-reference-to-video"


@pytest.mark.parametrize("example", by_kind("sse"))
def test_enqueue_and_event_stream_examples(example: Example, slow_sim: Simulator) -> None:
    if stopped_by_json_false(example, slow_sim):
        return
    out = execute(example, adapt(example, slow_sim.base_url))
    assert out.returncode == 0, out.stderr
    # Python prints the dict; the cURL pipeline pretty-prints the data line with jq
    event = ast.literal_eval(out.stdout) if example.language == "python" else json.loads(out.stdout)
    assert set(event) == {"generation_id", "status", "media_type", "error"}
    assert event["status"] == "failed" and event["media_type"] == "video"
    assert event["error"] == NO_PROMPT_ERROR
    assert poll(slow_sim, event["generation_id"])["status"] == "failed"


@pytest.mark.parametrize("example", by_kind("model"))
def test_model_details_example(example: Example, seed_sim: Simulator) -> None:
    out = execute(example, adapt(example, seed_sim.base_url))
    assert out.returncode == 0, out.stderr
    model = json.loads(out.stdout)
    assert model["id"] == "kling-video-o3-4k-reference-to-video"
    properties = model["json_request_schema"]["properties"]
    for name in ("start_image_url", "tail_image_url", "input_image", "elements"):
        assert name in properties
    assert properties["aspect_ratio"]["default"] == "16:9"
