"""The HTTP layer, ``Api``: where the key goes, the retry rules of a call per ``Safety``, its total
time limit, how a failure becomes an error (``maybe_sent`` included), and a result's download (the
schemes it fetches, what a failed one says may help, the size and time caps, a redirect, the
reading thread). Direct tests drive an ``Api`` over ``httpx.MockTransport`` or a raw loopback
server; the rest run a client against the fake hub or the simulator."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import re
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from _core import request, until
from _hub import BASE, KEY, VIDEO, Handler, Hub
from _policies import FAST

from kling_nb.api import WIDE_READ, Api, WideStream
from kling_nb.client import Client
from kling_nb.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    DownloadError,
    NotFoundError,
    ServerError,
    register_secret,
)
from kling_nb.files import file_sha256
from kling_nb.retry import Policy
from kling_nb.simulator import run

T = TypeVar("T")
CDN = "https://cdn.test/results/gen-1.mp4"
OK = {"generations": []}


def with_api(
    handler: Callable[[httpx.Request], Any],
    use: Callable[[Api], Awaitable[T]],
    policy: Policy = FAST,
) -> T:
    """``use`` an ``Api`` of ``BASE`` whose calls go to ``handler``, on a loop of its own."""
    return closing(Api(BASE, KEY, policy, transport=httpx.MockTransport(handler)), use)


def closing(api: Api, use: Callable[[Api], Awaitable[T]]) -> T:
    """``use`` ``api`` on a loop of its own, then close it: a connection its pools keep alive
    would otherwise be an unclosed socket, a ResourceWarning wherever it is collected."""

    async def main() -> T:
        try:
            return await use(api)
        finally:
            await api.aclose()

    return asyncio.run(main())


class Answers:
    """A handler giving ``answers`` in turn (the last one for ever), recording each request."""

    def __init__(self, *answers: Handler) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, r: httpx.Request) -> httpx.Response:
        self.requests.append(r)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return answer(r)


def status(code: int, **kwargs: Any) -> Handler:
    return lambda r: httpx.Response(code, **kwargs)


def raises(error: type[httpx.TransportError]) -> Handler:
    def handler(r: httpx.Request) -> httpx.Response:
        raise error("lost", request=r)

    return handler


# -- the key ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "gets_key"),
    [
        (f"{BASE}/api/ai/queue", True),
        (f"{BASE}?x=1", True),
        (BASE, True),
        (f"{BASE}.evil.test/api", False),
        (f"{BASE}@evil.test/api", False),
        (f"{BASE}:8443/api", False),
        ("https://cdn.test/hub.test/x.mp4", False),
        ("http://hub.test/api", False),
    ],
)
def test_the_key_goes_only_under_the_base_url(url: str, gets_key: bool) -> None:
    api = Api(BASE, KEY, FAST)
    assert ("Authorization" in api.auth_headers(url)) is gets_key


def test_user_agent_and_the_key_only_goes_to_the_base_host(hub: Hub, mock_client: Client) -> None:
    job = mock_client.submit(request()).wait(10)
    assert job.status == "succeeded"
    assert job.results[0].path.read_bytes() == VIDEO
    assert job.results[0].url == hub.result_url
    for sent in hub.requests:
        agent = sent.headers["user-agent"]
        assert re.fullmatch(r"kling-nb/\S+ httpx/\S+", agent)
        assert "oxen" not in agent.lower()
        if sent.url.host == "hub.test":
            assert sent.headers["authorization"] == f"Bearer {KEY}"
        else:
            assert "authorization" not in sent.headers
    assert any(r.url.host == "cdn.test" for r in hub.requests)


def test_a_call_carries_the_key_its_query_and_its_own_read_timeout() -> None:
    answers = Answers(status(200, json=OK))
    got = with_api(
        answers,
        lambda api: api.request(
            "GET", "/api/ai/queue?a=1", safety="safe", params={"b": "x y"}, timeout=7.0
        ),
    )
    assert got == OK
    (sent,) = answers.requests
    assert str(sent.url) == f"{BASE}/api/ai/queue?a=1&b=x+y"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.extensions["timeout"]["read"] == 7.0
    assert sent.extensions["timeout"]["connect"] == FAST.connect_timeout


# -- the retry rules ----------------------------------------------------------------------------
def test_a_safe_call_is_resent_on_408_429_5xx_and_a_broken_connection() -> None:
    answers = Answers(
        status(503),
        status(408),
        status(429, headers={"retry-after": "0.01"}),
        raises(httpx.ReadError),
        status(200, json=OK),
    )
    got = with_api(answers, lambda api: api.request("GET", "/api/ai/queue", safety="safe"))
    assert got == OK
    assert len(answers.requests) == 5


def test_a_safe_call_gives_up_after_max_retries() -> None:
    answers = Answers(status(502, text="<html>bad gateway</html>"))
    with pytest.raises(ServerError, match=r"GET /api/ai/queue: HTTP 502"):
        with_api(
            answers,
            lambda api: api.request("GET", "/api/ai/queue", safety="safe"),
            replace(FAST, max_retries=2),
        )
    assert len(answers.requests) == 3


def test_an_unsafe_call_is_resent_on_429_and_when_nothing_was_sent() -> None:
    answers = Answers(
        status(429, headers={"retry-after": "0.01"}),
        raises(httpx.ConnectError),
        raises(httpx.PoolTimeout),
        status(200, json=OK),
    )
    got = with_api(answers, lambda api: api.request("POST", "/api/ai/queue", safety="unsafe"))
    assert got == OK
    assert len(answers.requests) == 4


@pytest.mark.parametrize(
    ("answer", "error", "maybe_sent"),
    [
        (status(500), ServerError, None),
        (status(502), ServerError, None),
        (status(408), APIStatusError, None),
        (raises(httpx.ReadTimeout), APITimeoutError, True),
        (raises(httpx.WriteTimeout), APITimeoutError, True),
        (raises(httpx.ReadError), APIConnectionError, True),
        (raises(httpx.RemoteProtocolError), APIConnectionError, True),
    ],
    ids=["500", "502", "408", "ReadTimeout", "WriteTimeout", "ReadError", "RemoteProtocolError"],
)
def test_an_unsafe_call_that_may_have_arrived_is_never_resent(
    answer: Handler, error: type[Exception], maybe_sent: bool | None
) -> None:
    answers = Answers(answer)
    with pytest.raises(error) as caught:
        with_api(answers, lambda api: api.request("POST", "/api/ai/queue", safety="unsafe"))
    assert type(caught.value) is error
    assert len(answers.requests) == 1
    if maybe_sent is not None:
        assert isinstance(caught.value, APIConnectionError)
        assert caught.value.maybe_sent is maybe_sent


def test_a_connect_error_on_enqueue_is_resent(hub: Hub, mock_client: Client) -> None:
    def refused(r: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=r)

    hub.enqueue = [refused, refused]
    assert mock_client.submit(request()).wait(10).status == "succeeded"
    assert len(hub.sent("POST", "/api/ai/queue")) == 3


def test_gets_retry_server_errors_and_429(hub: Hub, mock_client: Client) -> None:
    hub.polls = [
        lambda r: httpx.Response(503),
        lambda r: httpx.Response(429, headers={"retry-after": "0.01"}),
        lambda r: httpx.Response(502, text="<html>bad gateway</html>"),
    ]
    assert mock_client.submit(request()).wait(10).status == "succeeded"
    assert len(hub.sent("GET", "/api/ai/queue")) >= 4


# -- how a failure becomes an error -------------------------------------------------------------
@pytest.mark.parametrize(
    ("failure", "error", "maybe_sent"),
    [
        (httpx.ConnectError, APIConnectionError, False),
        (httpx.ConnectTimeout, APITimeoutError, False),
        (httpx.PoolTimeout, APITimeoutError, False),
        (httpx.ReadTimeout, APITimeoutError, True),
        (httpx.ReadError, APIConnectionError, True),
        (httpx.RemoteProtocolError, APIConnectionError, True),
    ],
)
def test_a_network_failure_is_a_connection_error_saying_whether_it_may_have_arrived(
    failure: type[httpx.TransportError], error: type[APIConnectionError], maybe_sent: bool
) -> None:
    answers = Answers(raises(failure))
    with pytest.raises(error) as caught:
        with_api(
            answers,
            lambda api: api.request("POST", "/api/ai/queue", safety="unsafe"),
            replace(FAST, max_retries=0),
        )
    assert type(caught.value) is error
    assert caught.value.maybe_sent is maybe_sent
    message = str(caught.value)
    assert message.startswith("POST /api/ai/queue: could not reach the Oxen API")
    assert failure.__name__ in message and "KLING_NB_BASE_URL" in message


def test_an_error_status_becomes_its_class_with_the_call_named() -> None:
    answers = Answers(status(404, json={"error": {"title": "No such generation"}}))
    with pytest.raises(NotFoundError) as caught:
        with_api(answers, lambda api: api.request("GET", "/api/ai/queue/g1", safety="safe"))
    assert caught.value.status_code == 404
    assert str(caught.value).startswith("GET /api/ai/queue/g1: HTTP 404: No such generation.")
    assert len(answers.requests) == 1  # a 404 is an answer, not a failure


def test_an_empty_answer_is_an_empty_object() -> None:
    answers = Answers(status(200, content=b" \n"))
    assert with_api(answers, lambda api: api.request("DELETE", "/x", safety="safe")) == {}


def test_an_unreadable_answer_is_a_server_error_whose_body_is_cut_and_redacted() -> None:
    register_secret(KEY)  # as the client does with its key
    text = f"<html>proxy error for Bearer {KEY}" + "x" * 1000
    answers = Answers(status(200, text=text))
    with pytest.raises(ServerError, match="POST /x: HTTP 200 with an unreadable body") as caught:
        with_api(answers, lambda api: api.request("POST", "/x", safety="unsafe"))
    assert caught.value.status_code == 200
    assert caught.value.body == ("<html>proxy error for Bearer ***" + "x" * 1000)[:500]
    assert len(answers.requests) == 1


# -- the total time limit -----------------------------------------------------------------------
@contextlib.contextmanager
def hostile_server(answer: Callable[[socket.socket], None]) -> Iterator[str]:
    """A raw HTTP server on loopback that answers every connection with ``answer``."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    conns: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conns.append(conn)
            conn.recv(65536)
            threading.Thread(target=answer, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        server.close()
        for conn in conns:
            conn.close()


def endless_chunks(conn: socket.socket) -> None:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: video/mp4\r\ntransfer-encoding: chunked\r\n\r\n"
    chunk = b"x" * 65536
    with contextlib.suppress(OSError):
        conn.sendall(head)
        while True:
            conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))


def trickle(conn: socket.socket) -> None:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n"
    with contextlib.suppress(OSError):
        conn.sendall(head)
        while True:
            conn.sendall(b" ")
            time.sleep(0.2)


def test_a_trickling_enqueue_answer_ends_at_the_call_time_limit_as_maybe_sent() -> None:
    policy = replace(FAST, request_total_timeout=1.0, read_timeout=1.0)
    with hostile_server(trickle) as base:
        api = Api(base, KEY, policy)
        with pytest.raises(APITimeoutError) as caught:
            closing(
                api,
                lambda api: api.request(
                    "POST", "/api/ai/queue", safety="unsafe", json={"prompt": "x"}
                ),
            )
    assert caught.value.maybe_sent  # so the job is adopted, never resent


async def slow_answer(r: httpx.Request) -> httpx.Response:
    await asyncio.sleep(0.5)
    return httpx.Response(200, json=OK)


def test_a_longer_read_timeout_given_to_a_call_lengthens_its_time_limit() -> None:
    policy = replace(FAST, request_total_timeout=0.2, read_timeout=0.2)
    with pytest.raises(APITimeoutError, match=r"no whole answer within 0\.2 s") as caught:
        with_api(slow_answer, lambda api: api.request("GET", "/slow", safety="safe"), policy)
    assert caught.value.maybe_sent
    got = with_api(
        slow_answer, lambda api: api.request("GET", "/slow", safety="safe", timeout=5), policy
    )
    assert got == OK


def test_the_time_limit_counts_from_a_free_connection_not_the_wait_for_one() -> None:
    """One connection for calls (the other is the event stream's): a call waiting behind a long
    one longer than its limit still gets its whole limit once it is sent."""
    policy = replace(FAST, max_connections=2, request_total_timeout=1.0, read_timeout=1.0)
    entered, release = asyncio.Event(), asyncio.Event()

    async def handler(r: httpx.Request) -> httpx.Response:
        if r.url.path == "/held":
            entered.set()
            await release.wait()
        return httpx.Response(200, json=OK)

    async def use(api: Api) -> tuple[bool, Any]:
        held = asyncio.create_task(api.request("GET", "/held", safety="safe", timeout=30))
        await entered.wait()
        waiting = asyncio.create_task(api.request("GET", "/quick", safety="safe"))
        await asyncio.sleep(1.5)  # past the waiting call's limit
        done_early = waiting.done()
        release.set()
        await held
        return done_early, await waiting

    done_early, got = with_api(handler, use, policy)
    assert not done_early and got == OK


# -- downloads ----------------------------------------------------------------------------------
def download(handler: Handler, url: str, folder: Path, policy: Policy = FAST) -> Any:
    return with_api(handler, lambda api: api.download(url, folder, "gen"), policy)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://cdn.test/gen-1.mp4",
        "javascript:alert(1)",
        "data:video/mp4;base64,AAAA",
        "cdn.test/gen-1.mp4",
        "",
    ],
)
def test_only_http_and_https_urls_are_downloaded(url: str, tmp_path: Path) -> None:
    answers = Answers(status(200, content=VIDEO))
    with pytest.raises(DownloadError, match=r"non-HTTP\(S\)") as caught:
        download(answers, url, tmp_path)
    assert caught.value.retry == "stop"
    assert answers.requests == [] and list(tmp_path.iterdir()) == []


def test_the_scheme_is_read_in_any_case(tmp_path: Path) -> None:
    answers = Answers(status(200, content=VIDEO, headers={"content-type": "video/mp4"}))
    saved = download(answers, "HTTPS://cdn.test/results/gen-1.mp4", tmp_path)
    assert saved.path == tmp_path / "gen.mp4" and saved.path.read_bytes() == VIDEO


def test_non_http_result_urls_are_refused(hub: Hub, mock_client: Client) -> None:
    hub.result_url = "file:///etc/passwd"
    job = mock_client.submit(request()).wait(10)
    assert job.status == "failed"
    assert "non-HTTP(S)" in (job.generations[0].error or "")
    assert not list(mock_client.outputs_dir.glob("*.mp4"))


@pytest.mark.parametrize(
    ("code", "retry"),
    [
        *[(code, "fresh_url") for code in (401, 403, 404, 410)],
        *[(code, "same_url") for code in (408, 429, 500, 502, 503)],
        *[(code, "stop") for code in (400, 405, 451)],
    ],
)
def test_a_refused_download_says_what_may_help(code: int, retry: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=f"HTTP {code}") as caught:
        download(Answers(status(code)), CDN, tmp_path)
    assert caught.value.retry == retry
    assert list(tmp_path.iterdir()) == []


def test_a_saved_result_has_its_size_and_hash_and_no_key_went_to_the_cdn(tmp_path: Path) -> None:
    answers = Answers(status(200, content=VIDEO, headers={"content-type": "video/mp4"}))
    saved = download(answers, CDN, tmp_path)
    assert saved.path == tmp_path / "gen.mp4" and saved.path.read_bytes() == VIDEO
    assert saved.size == len(VIDEO) and saved.sha256 == file_sha256(saved.path)
    assert [f.name for f in tmp_path.iterdir()] == ["gen.mp4"]
    (sent,) = answers.requests
    assert "authorization" not in sent.headers


PAGE = b"<!DOCTYPE html><html><body>Sign in to continue</body></html>"


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (PAGE, "text/html; charset=utf-8"),
        (PAGE, "application/octet-stream"),  # a page under a generic type
        (b"  \n" + PAGE, ""),
        (b'{"error": "the link has expired"}', "application/json"),
    ],
)
def test_a_page_instead_of_a_video_is_not_saved_and_asks_for_a_fresh_url(
    content: bytes, kind: str, tmp_path: Path
) -> None:
    headers = {"content-type": kind} if kind else {}
    with pytest.raises(DownloadError, match="instead of a video") as caught:
        download(Answers(status(200, content=content, headers=headers)), CDN, tmp_path)
    assert caught.value.retry == "fresh_url"
    assert list(tmp_path.iterdir()) == []


def test_a_video_under_a_wrong_type_is_still_saved(tmp_path: Path) -> None:
    answers = Answers(status(200, content=VIDEO, headers={"content-type": "text/plain"}))
    assert download(answers, CDN, tmp_path).path.read_bytes() == VIDEO


def test_a_page_given_for_a_result_is_never_recorded_as_it(hub: Hub, mock_client: Client) -> None:
    hub.downloads = [
        lambda r: httpx.Response(200, content=PAGE, headers={"content-type": "text/html"})
    ]
    job = mock_client.submit(request()).wait(10)
    assert job.status == "succeeded", job.summary()
    assert job.results[0].path.read_bytes() == VIDEO  # from the fresh URL asked for next
    assert len(hub.sent("GET", "/api/ai/queue/gen-1")) >= 2


def test_a_body_shorter_than_its_length_is_truncated_and_may_be_fetched_again(
    tmp_path: Path,
) -> None:
    short = status(200, content=VIDEO[:10], headers={"content-length": str(len(VIDEO))})
    with pytest.raises(DownloadError, match=f"truncated: got 10 of {len(VIDEO)}") as caught:
        download(Answers(short), CDN, tmp_path)
    assert caught.value.retry == "same_url"
    assert list(tmp_path.iterdir()) == []


def test_a_compressed_body_is_not_held_to_its_compressed_length(tmp_path: Path) -> None:
    packed = gzip.compress(VIDEO)
    headers = {"content-encoding": "gzip", "content-type": "video/mp4"}
    saved = download(Answers(status(200, content=packed, headers=headers)), CDN, tmp_path)
    assert len(packed) != len(VIDEO)
    assert saved.size == len(VIDEO) and saved.path.read_bytes() == VIDEO


def test_an_endless_result_body_stops_at_the_size_cap_and_asks_for_a_fresh_url(
    tmp_path: Path,
) -> None:
    policy = replace(FAST, max_download_bytes=4 << 20)
    with hostile_server(endless_chunks) as base:
        api = Api(base, KEY, policy)
        with pytest.raises(DownloadError, match="size cap") as caught:
            closing(api, lambda api: api.download(f"{base}/result.mp4", tmp_path, "gen"))
    assert caught.value.retry == "fresh_url"
    assert list(tmp_path.iterdir()) == []  # no .part file left behind


def test_a_trickling_result_body_ends_at_the_download_time_limit(tmp_path: Path) -> None:
    policy = replace(FAST, download_total_timeout=1.0, read_timeout=30)
    with hostile_server(trickle) as base:
        api = Api(base, KEY, policy)
        with pytest.raises(DownloadError, match="did not arrive within 1 s") as caught:
            closing(api, lambda api: api.download(f"{base}/result.mp4", tmp_path, "gen"))
    assert caught.value.retry == "fresh_url"
    assert list(tmp_path.iterdir()) == []


def test_a_result_under_the_base_url_loses_the_key_when_redirected_elsewhere(
    tmp_path: Path,
) -> None:
    def handler(r: httpx.Request) -> httpx.Response:
        if r.url.host == "hub.test":
            return httpx.Response(302, headers={"location": CDN})
        return httpx.Response(200, content=VIDEO, headers={"content-type": "video/mp4"})

    answers = Answers(handler)
    saved = download(answers, f"{BASE}/results/gen-1", tmp_path)
    assert saved.path.read_bytes() == VIDEO
    first, moved = answers.requests
    assert first.headers["authorization"] == f"Bearer {KEY}"
    assert str(moved.url) == CDN and "authorization" not in moved.headers


def test_a_redirected_result_is_fetched_once_without_the_key(hub: Hub, mock_client: Client) -> None:
    moved = "https://cdn.test/moved/gen-1.mp4"
    hub.downloads = [lambda r: httpx.Response(302, headers={"location": moved})]
    job = mock_client.submit(request()).wait(10)
    assert job.status == "succeeded" and job.results[0].path.read_bytes() == VIDEO
    fetched = [str(r.url) for r in hub.requests if r.url.host == "cdn.test"]
    assert fetched == [hub.result_url, moved]
    assert all("authorization" not in r.headers for r in hub.requests if r.url.host == "cdn.test")


def test_a_result_is_read_on_a_daemon_thread_that_never_holds_up_exit(tmp_path: Path) -> None:
    slow = {"result_size_bytes": 8_000_000, "download_bytes_per_second": 2_000_000}
    with run(generation_seconds=0.2, **slow) as sim, Client(KEY, sim.base_url, tmp_path) as c:
        job = c.submit(request())
        until(lambda: job.generations[0].status == "downloading")
        readers: list[threading.Thread] = []

        def reading() -> bool:  # one look at the threads: a reader may end between two
            readers[:] = [t for t in threading.enumerate() if t.name == "AnyIO worker thread"]
            return bool(readers)

        until(reading)
        assert readers and all(t.daemon for t in readers)
        assert job.wait(30).status == "succeeded"


@contextlib.contextmanager
def plain_server(body: bytes) -> Iterator[tuple[str, list[bytes]]]:
    """A raw HTTP server on loopback answering each request with ``body``; yields its URL and the
    requests' heads as received (a proxy sees absolute URLs in them)."""
    heads: list[bytes] = []

    def answer(conn: socket.socket, head: bytes) -> None:
        heads.append(head)
        with contextlib.suppress(OSError):
            conn.sendall(
                b"HTTP/1.1 200 OK\r\ncontent-type: video/mp4\r\n"
                b"content-length: %d\r\n\r\n%s" % (len(body), body)
            )

    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                answer(conn, conn.recv(65536))

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}", heads
    finally:
        server.close()


def test_a_result_body_is_received_in_wide_pieces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[int] = []

    class Recorder:  # the socket's stream under the wide one: what is asked of it
        def __init__(self, stream: Any) -> None:
            self.stream = stream

        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            asked.append(max_bytes)
            data: bytes = self.stream.read(max_bytes, timeout)
            return data

        def __getattr__(self, name: str) -> Any:
            return getattr(self.stream, name)

    wrap = WideStream.__init__
    monkeypatch.setattr(WideStream, "__init__", lambda self, s: wrap(self, Recorder(s)))
    body = bytes(range(256)) * (24 << 12)  # 6 MiB
    with plain_server(body) as (base, _):
        api = Api(base, KEY, FAST)
        saved = closing(api, lambda api: api.download(f"{base}/r.mp4", tmp_path, "gen"))
    assert saved.path.read_bytes() == body
    # httpcore alone asks for 64 KiB at a time.
    assert asked and set(asked) == {WIDE_READ}


def test_result_downloads_go_through_the_proxy_of_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with plain_server(VIDEO) as (proxy, heads):
        monkeypatch.setenv("HTTP_PROXY", proxy)
        api = Api(BASE, KEY, FAST)  # httpx reads the environment when a client is made
        url = "http://cdn.test/results/gen-1.mp4"
        saved = closing(api, lambda api: api.download(url, tmp_path, "gen"))
    assert saved.path.read_bytes() == VIDEO
    assert heads and heads[0].startswith(f"GET {url} HTTP/1.1".encode())
