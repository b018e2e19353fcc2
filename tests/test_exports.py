from __future__ import annotations

import json
import re
import subprocess
import types
from typing import Any

import pytest
from _seeds import (
    O3_PRO_SEED,
    balanced_braces,
    from_queue_body,
    python_dict,
    request_examples,
    seed_text,
)
from _strategies import padded, valid_requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kling_nb.exports import BASE_URL, ENDPOINTS, all_exports, body_for
from kling_nb.requests import VideoRequest

FAKE_KEY = "sk-fake-DO-NOT-LEAK-5f3a9c"
PRO_EXAMPLES = request_examples(O3_PRO_SEED)


def examples(count: int) -> settings:
    """Hypothesis settings for properties that run subprocesses or use fixtures."""
    return settings(
        max_examples=count,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )


@pytest.fixture(autouse=True)
def fake_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("OXEN_API_KEY", FAKE_KEY)
    return FAKE_KEY


def seed_request(example: Any) -> tuple[VideoRequest, str, int]:
    request, count = from_queue_body(example.body)
    return request, example.endpoint or "sync", count


def strip_space(text: str) -> str:
    return re.sub(r"\s+", "", text)


# ----- cURL -----


def seed_curl_commands() -> list[str]:
    """The seed's commands, from ``curl -X POST`` to the body's closing quote."""
    text = seed_text(O3_PRO_SEED)
    return re.findall(r"curl -X POST .*?-d '\{.*?\}'", text, re.DOTALL)


def test_to_curl_matches_the_seed_commands_but_for_whitespace():
    commands = seed_curl_commands()
    examples = [e for e in PRO_EXAMPLES if e.kind == "curl"]
    assert len(commands) == len(examples) == 5
    for command, example in zip(commands, examples, strict=True):
        request, endpoint, count = seed_request(example)
        assert strip_space(request.to_curl(endpoint, count)) == strip_space(command)


def run_curl(script: str) -> list[str]:
    """Run an exported command with ``curl`` replaced by a function that prints its arguments."""
    fake = 'curl() { for arg in "$@"; do printf "%s\\0" "$arg"; done; }\n'
    out = subprocess.run(
        ["bash", "-c", fake + script], capture_output=True, check=True, timeout=10
    ).stdout
    return out.decode("utf-8", "surrogateescape").split("\0")[:-1]


def check_curl(request: VideoRequest, endpoint: str, count: int) -> None:
    script = request.to_curl(endpoint, count)  # type: ignore[arg-type]
    subprocess.run(["bash", "-n"], input=script.encode(), check=True, timeout=10)
    assert FAKE_KEY not in script and '"Authorization: Bearer $OXEN_API_KEY"' in script
    args = run_curl(script)
    assert args[:8] == [
        "-X",
        "POST",
        BASE_URL + ENDPOINTS[endpoint],
        "-H",
        f"Authorization: Bearer {FAKE_KEY}",  # the shell reads the key when it runs
        "-H",
        "Content-Type: application/json",
        "-d",
    ]
    assert json.loads(args[8]) == body_for(request, endpoint, count)  # type: ignore[arg-type]
    assert len(args) == 9


@pytest.mark.parametrize("example", PRO_EXAMPLES, ids=lambda e: e.id)
def test_to_curl_of_every_seed_example_sends_its_body(example):
    check_curl(*seed_request(example))


@examples(40)
@given(valid_requests(), st.sampled_from(["queue", "sync"]), st.integers(1, 4))
def test_to_curl_sends_the_body_of_any_request(request, endpoint, count):
    check_curl(request, endpoint, count if endpoint == "queue" else 1)


# ----- Python -----


class FakeResponse:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def raise_for_status(self) -> None:
        return None

    def json(self) -> dict[str, Any]:
        return self.data


def run_python(script: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Exec an exported script with ``requests.post`` replaced; returns what it was called with."""
    import requests

    sent: dict[str, Any] = {}
    video = {"url": "https://example.com/v.mp4", "b64_json": "AAAA"}

    def post(url: str, **kwargs: Any) -> FakeResponse:
        sent.update(kwargs, url=url)
        return FakeResponse(
            {"generations": [{"generation_id": "g1", "status": "queued"}], "videos": [video]}
        )

    monkeypatch.setattr(requests, "post", post)
    compile(script, "<export>", "exec")
    exec(script, {"__name__": "__export__"})
    return sent


def check_python(
    request: VideoRequest, endpoint: str, count: int, monkeypatch: pytest.MonkeyPatch
) -> str:
    script = request.to_python(endpoint, count)  # type: ignore[arg-type]
    assert FAKE_KEY not in script
    assert "os.environ['OXEN_API_KEY']" in script
    sent = run_python(script, monkeypatch)
    assert sent["url"] == BASE_URL + ENDPOINTS[endpoint]
    assert sent["json"] == body_for(request, endpoint, count)  # type: ignore[arg-type]
    assert sent["headers"] == {
        "Authorization": f"Bearer {FAKE_KEY}",
        "Content-Type": "application/json",
    }
    return script


@pytest.mark.parametrize("example", PRO_EXAMPLES, ids=lambda e: e.id)
def test_to_python_of_every_seed_example_sends_its_body(example, monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)
    request, endpoint, count = seed_request(example)
    script = check_python(request, endpoint, count, monkeypatch)
    out = capsys.readouterr().out
    if endpoint == "queue":
        assert out == "ID: g1, Status: queued\n"
    else:
        assert out == "Video URL: https://example.com/v.mp4\n"
    # Like the seed's own Python example: the same json= literal.
    start = script.index("json={") + len("json=")
    assert python_dict(balanced_braces(script, start)) == {
        **example.body,
        **({"num_generations": count} if count != 1 else {}),
    }


def test_to_python_sync_b64_json_saves_the_video(monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)
    request = VideoRequest(prompt="x", response_format="b64_json")
    check_python(request, "sync", 1, monkeypatch)
    assert (tmp_path / "video.mp4").read_bytes() == b"\0\0\0"
    assert capsys.readouterr().out == "Saved video.mp4\n"


@examples(60)
@given(
    request=valid_requests(), endpoint=st.sampled_from(["queue", "sync"]), count=st.integers(1, 4)
)
def test_to_python_sends_the_body_of_any_request(request, endpoint, count, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    check_python(request, endpoint, count if endpoint == "queue" else 1, monkeypatch)


def test_the_sync_endpoint_makes_one_video():
    request = VideoRequest(prompt="x")
    for export in (request.to_python, request.to_curl):
        with pytest.raises(ValueError, match="use endpoint='queue'"):
            export("sync", 2)
    with pytest.raises(ValueError, match="between 1 and 4"):
        request.to_curl("queue", 5)
    with pytest.raises(ValueError, match="endpoint must be 'queue' or 'sync'"):
        body_for(request, "batch")  # type: ignore[arg-type]
    assert "num_generations" not in body_for(request, "queue", 1)


def test_no_export_contains_the_key():
    request, _ = from_queue_body(PRO_EXAMPLES[-1].body)
    texts = [
        request.to_magic(2),
        request.to_python("queue", 2),
        request.to_python("sync"),
        request.to_curl("queue", 3),
        request.to_curl("sync"),
    ]
    for text in texts:
        assert FAKE_KEY not in text
        assert "Bearer sk-" not in text


# ----- %%kling -----


def test_to_magic_single_prompt():
    request = VideoRequest(prompt="A puppy runs through a park")
    assert request.to_magic() == "%%kling -m o3-pro\nA puppy runs through a park\n"
    request = VideoRequest.model_validate(
        {
            "model": "o3-4k",
            "prompt": "@Image1 waves",
            "duration": 10,
            "aspect_ratio": "9:16",
            "generate_audio": True,
            "input_image": ["https://e.com/a.jpg", "https://e.com/b.jpg"],
            "negative_prompt": "blur, low quality",
        }
    )
    assert request.to_magic(3) == (
        "%%kling -m o3-4k -d 10 -a 9:16 --audio -i https://e.com/a.jpg -i https://e.com/b.jpg "
        "--negative='blur, low quality' -n 3\n@Image1 waves\n"
    )


def test_to_magic_of_the_seed_multi_shot_example_with_elements():
    (example,) = [e for e in PRO_EXAMPLES if e.kind == "python" and "elements" in e.body]
    assert VideoRequest.model_validate(example.body).to_magic() == (
        "%%kling -m o3-pro -a 16:9 --audio "
        "--element=https://example.com/character-front.jpg,https://example.com/character-side.jpg "
        "--start=https://example.com/first-frame.jpg --end=https://example.com/last-frame.jpg\n"
        "[5s] @Element1 picks up a coffee cup from the table\n"
    )
    (example,) = [
        e
        for e in PRO_EXAMPLES
        if e.kind == "python" and {"multi_prompt", "input_image"} <= set(e.body)
    ]
    assert VideoRequest.model_validate(example.body).to_magic() == (
        "%%kling -m o3-pro -i https://example.com/reference-face.jpg\n"
        "[5s] A woman walks toward the camera smiling, cinematic lighting\n"
        "[5s] She turns and looks out a window, soft focus background\n"
    )


def test_to_magic_escapes_braces_dollars_quotes_and_dashes():
    request = VideoRequest(
        multi_prompt=[{"prompt": "a {red} ball"}, {"prompt": "line one\nline two", "duration": 3}],
        negative_prompt="-it's $HOME {x}",
    )
    assert request.to_magic() == (
        "%%kling -m o3-pro --negative='-it'\"'\"'s $''HOME {{x}}'\n"
        "[5s] a {{red}} ball\n"
        "[3s] line one\n"
        "line two\n"
    )


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"model": "v2.6-t2v", "prompt": "x", "cfg_scale": 0.5}, "no option for 'cfg_scale'"),
        ({"prompt": "x", "target_namespace": "org"}, "no option for 'target_namespace'"),
        ({"prompt": "x", "response_format": "b64_json"}, "no option for 'response_format'"),
        ({"prompt": " \xa0\n"}, "a blank prompt"),
        ({"multi_prompt": [{"prompt": "x"}, {"prompt": "\u3000"}]}, "a blank prompt"),
        ({"prompt": "[5s] x"}, "starts like a shot header"),
        ({"prompt": "x\n [ 3 s ] y"}, "starts like a shot header"),
        ({"multi_prompt": [{"prompt": "x\n[2s] y"}]}, "starts like a shot header"),
        ({"prompt": "x", "negative_prompt": "a\nb"}, "--negative takes one line"),
        ({"prompt": "x", "negative_prompt": "a\u2028b"}, "--negative takes one line"),
        (
            {"prompt": "x", "elements": [{"frontal_image_url": "https://e.com/a,b.jpg"}]},
            "contains one",
        ),
    ],
)
def test_to_magic_refuses_what_the_magic_cannot_say(body, problem):
    with pytest.raises(ValueError, match=re.escape(problem)):
        VideoRequest.model_validate(body).to_magic()


WORDS = (
    st.text(st.sampled_from("abcXYZ019 ,.;:!?'\"{}$-_[]()\\/#%&*+=<>|~`^\u00e9\u4e00"), max_size=30)
    .map(lambda text: " ".join(text.split()))
    .filter(bool)
)


def read_back(cell: str) -> VideoRequest:
    """Read a cell the way IPython and %%kling do: IPython expands the line ($name, {name}; any
    expansion would raise NameError here), the magic splits it the shell's way and parses it."""
    from IPython.utils.text import DollarFormatter

    from kling_nb.body import parse_body
    from kling_nb.magics import KlingMagics, _parse_options, build_request

    head, _, body = cell.partition("\n")
    assert head.startswith("%%kling ")
    line = DollarFormatter().vformat(head.removeprefix("%%kling "), [], {})
    options = _parse_options(KlingMagics.kling, line)  # the magic's own option reading
    defaults = types.SimpleNamespace(default_model="o3-pro", aspect_ratio="16:9")
    return build_request(options, parse_body(body, {}), defaults)  # type: ignore[arg-type]


@pytest.mark.parametrize("example", PRO_EXAMPLES, ids=lambda e: e.id)
def test_to_magic_of_every_seed_example_reads_back_as_the_same_request(example):
    request, _, count = seed_request(example)
    again = read_back(request.to_magic(count))
    assert again.payload() == {**request.payload(), "aspect_ratio": "16:9"}
    assert again.request_hash == request.request_hash


@examples(150)
@given(valid_requests(padded(WORDS)), WORDS)
def test_to_magic_of_any_request_reads_back_with_the_same_hash(request, negative):
    """Prompts with blank space around them too, which the magic cannot write: it means
    nothing, so the canonical form leaves it out (as the magic's parser does)."""
    body = request.payload()
    body.pop("response_format", None)
    body.pop("target_namespace", None)
    body["negative_prompt"] = negative
    request = VideoRequest.model_validate(body)
    try:
        cell = request.to_magic()
    except ValueError as exc:  # a prompt line that looks like "[5s] "
        assert "shot header" in str(exc)
        return
    again = read_back(cell)
    assert again.canonical() == request.canonical()
    assert again.request_hash == request.request_hash


def test_all_exports_gives_three_texts_and_says_why_a_cell_is_impossible():
    request = VideoRequest(prompt="x")
    texts = all_exports(request, 2)
    assert texts == {
        "magic": request.to_magic(2),
        "python": request.to_python("queue", 2),
        "curl": request.to_curl("queue", 2),
    }
    texts = all_exports(VideoRequest(prompt="x", target_namespace="org"), endpoint="sync")
    assert texts["magic"] == (
        "# Not expressible as a %%kling cell: %%kling has no option for 'target_namespace': "
        "use to_python() or to_curl() for this request.\n"
    )
    assert '"target_namespace": "org"' in texts["python"]
    assert "/api/ai/videos/generate" in texts["curl"]


def test_exports_keep_non_ascii_text_readable_and_send_it(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    request = VideoRequest(prompt="caf\u00e9 \u4e00 \U0001f98a")
    check_python(request, "queue", 1, monkeypatch)
    script = request.to_curl()
    assert "caf\u00e9 \u4e00 \U0001f98a" in script
    assert json.loads(run_curl(script)[8]) == request.payload()
