"""The API key never shows: not in an error body a hostile server echoes it in (cut or whole), and
not in the ``repr`` of any object that holds it.

The hostile server is a tiny real HTTP server on loopback that answers every call with an error
whose body echoes the ``Authorization`` header, placed so that the key straddles the 500th
character, where error messages are cut.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from _policies import FAST

from kling_nb.client import Client
from kling_nb.errors import APIStatusError, error_for_status, extract_message, redact
from kling_nb.requests import VideoRequest
from kling_nb.widgets import JobView

KEY = "sk-live-Q7zX9pL2mN4vB8cR1tY6wE3k"
# One retry and a short wait for the stream: each hostile answer shows at once.
QUICK = replace(FAST, max_retries=1, events_connect_wait=0.5)
CUT = 500  # where error messages are cut


def fragments(text: str, size: int = 6) -> list[str]:
    """Every run of ``size`` characters of the key that ``text`` contains."""
    windows = {KEY[i : i + size] for i in range(len(KEY) - size + 1)}
    return sorted(w for w in windows if w in text)


Echo = Callable[[str], tuple[str, str]]


def text_echo(straddle: int) -> Echo:
    """A plain-text body in which the key starts ``straddle`` characters before the cut."""

    def body(authorization: str) -> tuple[str, str]:
        head = "Your request: Authorization: "
        pad = "x" * (CUT - straddle - len(head) - len("Bearer "))
        return "text/plain", f"{pad}{head}{authorization} was refused"

    return body


def json_echo(straddle: int) -> Echo:
    """A JSON body of no known shape (so the whole of it is the message), key across the cut."""

    def body(authorization: str) -> tuple[str, str]:
        empty = json.dumps({"pad": "", "headers": {"authorization": "Bearer "}})
        pad = "x" * (CUT - straddle - empty.index("Bearer ") - len("Bearer "))
        return "application/json", json.dumps(
            {"pad": pad, "headers": {"authorization": authorization}}
        )

    return body


@pytest.fixture
def hostile(request: pytest.FixtureRequest) -> Iterator[str]:
    """The base URL of a server answering every call 400 with the body ``request.param`` makes."""
    echo: Echo = request.param

    class Handler(BaseHTTPRequestHandler):
        def answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            kind, text = echo(self.headers.get("Authorization", ""))
            data = text.encode()
            status = 404 if self.path.startswith("/api/events") else 400
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


ECHOES = [
    pytest.param(make(straddle), id=f"{make.__name__}-{straddle}")
    for make in (text_echo, json_echo)
    for straddle in (1, 4, 9, 18, len(KEY) - 1)
]


@pytest.mark.parametrize("hostile", ECHOES, indirect=True)
def test_a_key_echoed_across_the_cut_shows_nowhere(hostile: str, tmp_path: Path) -> None:
    texts: list[str] = []
    with Client(KEY, hostile, tmp_path, policy=QUICK) as client:
        job = client.submit(VideoRequest(prompt="A red fox runs through fresh snow"))
        job.wait(30)
        assert job.status == "error"
        assert job.error is not None and "HTTP 400" in job.error
        view = JobView(job)
        bundle = view._repr_mimebundle_()
        assert bundle is not None
        texts += [job.error, repr(job), json.dumps(view.state()), bundle[0]["text/html"]]
        texts += [str(g.error) for g in job.generations]
        with pytest.raises(APIStatusError) as info:
            client.models()
        texts += [str(info.value), repr(info.value.body), repr(info.value.args)]
    texts += [p.read_text() for p in tmp_path.glob("*.jsonl")]
    assert "HTTP 400" in texts[-1]  # the ledger recorded the error
    for text in texts:
        assert fragments(text) == [], text


@pytest.mark.parametrize("straddle", range(1, len(KEY)))
def test_error_for_status_redacts_before_cutting(straddle: int) -> None:
    Client(KEY, "http://127.0.0.1:9")  # registers the key (no connection is made)
    for make in (text_echo, json_echo):
        kind, text = make(straddle)(f"Bearer {KEY}")
        body = text.encode() if kind == "text/plain" else json.loads(text)
        exc = error_for_status(400, body)
        assert fragments(str(exc)) == fragments(extract_message(body)) == []
        assert fragments(repr(exc.body)) == []


def test_a_long_start_of_the_key_is_redacted_anywhere_and_a_short_one_at_the_end() -> None:
    Client(KEY, "http://127.0.0.1:9")
    assert redact(f"Bearer {KEY[:12]}... was refused") == "Bearer ***... was refused"
    assert redact(f"Bearer {KEY[:8]} and {KEY}") == "Bearer *** and ***"
    assert redact(f"key: {KEY[:5]}") == "key: ***"
    assert redact(f"{KEY[:5]} is not at the end") == f"{KEY[:5]} is not at the end"
    assert redact("sk-l") == "***"
    assert redact("sk-") == "sk-"  # too short to mean anything
    other = KEY[:8] + "Zz9Yy8Xx7Ww6Vv5Uu4"  # another key of the same kind
    Client(other, "http://127.0.0.1:9")
    assert redact(f"{other} {KEY} {other[:12]}") == "*** *** ***"
    nested = APIStatusError("x", status_code=400, body={"a": [f"Bearer {KEY}"], KEY: 1})
    assert nested.body == {"a": ["Bearer ***"], "***": 1}


# -- repr ------------------------------------------------------------------------------------


def kling_objects(*roots: object) -> Iterator[object]:
    """Every kling_nb object reachable from ``roots`` through attributes, dataclass fields and
    containers (other libraries' objects are not entered)."""
    seen: set[int] = set()
    todo = list(roots)
    while todo:
        obj = todo.pop()
        if id(obj) in seen or isinstance(obj, str | bytes | int | float | bool | type(None)):
            continue
        seen.add(id(obj))
        if isinstance(obj, dict):
            todo += [*obj.keys(), *obj.values()]
            continue
        if isinstance(obj, list | tuple | set | frozenset):
            todo += list(obj)
            continue
        if not type(obj).__module__.startswith("kling_nb"):
            continue
        yield obj
        todo += list(getattr(obj, "__dict__", {}).values())
        todo += [getattr(obj, n) for n in getattr(type(obj), "__slots__", ()) if hasattr(obj, n)]


def test_no_object_that_holds_the_key_shows_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kling_nb.session import KlingSettings, Session
    from kling_nb.simulator import run

    with run(api_key=KEY, keepalive_seconds=0.5) as sim:
        monkeypatch.setenv("OXEN_API_KEY", KEY)
        monkeypatch.setenv("KLING_NB_BASE_URL", sim.base_url)
        session = Session(KlingSettings(outputs_dir=str(tmp_path)), out=lambda _: None)
        try:
            client = session.client()
            job = client.submit(VideoRequest(prompt="A red fox runs through fresh snow"))
            assert job.wait(30).status == "succeeded"  # the key was the one the server wants
            objects = list(kling_objects(session, client, job, sim))
            holders = {type(o).__name__ for o in objects if KEY in vars(o).values()}
            assert {"Client", "Api", "_Target", "Config"} <= holders
            for obj in objects:
                assert fragments(repr(obj)) == [], type(obj)
            assert fragments(repr(list(session._clients))) == []
        finally:
            session.close()


def test_a_refused_key_is_one_line_even_with_verbose_tracebacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    spaced = f"{KEY[:14]} {KEY[14:]}"
    monkeypatch.setenv("OXEN_API_KEY", spaced)
    monkeypatch.setenv("KLING_NB_BASE_URL", "http://127.0.0.1:9")  # never reached
    monkeypatch.setenv("KLING_NB_OUTPUTS", str(tmp_path))
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "kling_nb")
    mode = shell.InteractiveTB.mode
    try:
        shell.run_line_magic("xmode", "Verbose")
        capsys.readouterr()
        result = shell.run_cell("%%kling\nA red fox runs through fresh snow")
        out = capsys.readouterr()
    finally:
        shell.InteractiveTB.set_mode(mode)
        shell.run_line_magic("unload_ext", "kling_nb")
    assert result.error_in_exec is not None
    text = out.out + out.err
    assert "Traceback" not in text
    assert text.strip().splitlines() == [
        "UsageError: The API key contains a space or a control character (a stray newline, say), "
        "so it cannot be sent in a header. Check OXEN_API_KEY or the api_key given."
    ]
    assert not [w for w in {spaced[i : i + 6] for i in range(len(spaced) - 5)} if w in text]
