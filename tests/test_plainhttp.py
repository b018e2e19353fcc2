"""The http.client path (``plainhttp``): which answers it takes and which it leaves to httpx,
keep-alive reuse, errors as httpx's "sent or not" types, and the download paths around it (a
short body is redone, an async-only transport still works)."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import http.client
import io
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kling_nb import plainhttp
from kling_nb.api import Api, ExpiredURLError
from kling_nb.plainhttp import Pool
from kling_nb.retry import Policy, should_retry

BODY = bytes(range(256)) * 40
TLS = ssl.create_default_context()

FAST = Policy(backoff_initial=0.001, backoff_max=0.002, download_chunk_bytes=1000)


@pytest.fixture
def pool() -> Iterator[Pool]:
    connections = Pool(TLS)
    yield connections
    connections.close()


@contextlib.contextmanager
def accepting(on_connection: Callable[[socket.socket, int], None]) -> Iterator[str]:
    """A loopback listener handing each connection (and its number, from 1) to
    ``on_connection`` on the accepting thread; yields the base URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def run() -> None:
        listener.settimeout(0.1)
        number = 0
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            number += 1
            on_connection(conn, number)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(2)
        listener.close()


@pytest.fixture
def serve() -> Iterator[tuple[list[bytes], list[bytes], str]]:
    """A one-answer-per-connection HTTP server: answers to send, requests received, base URL."""
    answers: list[bytes] = []
    received: list[bytes] = []

    def answer_once(conn: socket.socket, number: int) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                head += conn.recv(65536)
            received.append(head)
            conn.sendall(answers.pop(0) if answers else b"HTTP/1.1 500 X\r\n\r\n")

    with accepting(answer_once) as base:
        yield answers, received, base


def ok(body: bytes = BODY, length: int | None = None, extra: str = "") -> bytes:
    size = len(body) if length is None else length
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nContent-Type: video/mp4\r\n{extra}\r\n"
    return head.encode() + body


def test_a_plain_answer_is_read_to_its_length(
    pool: Pool, serve: tuple[list[bytes], list[bytes], str]
) -> None:
    answers, received, base = serve
    answers.append(ok(BODY + b"extra bytes past the length"))
    answer = pool.open_get(base + "/r/x.mp4?sig=a%2Fb", {"Authorization": "Bearer k"}, 5, 5)
    assert answer is not None and answer.status == 200
    body = b"".join(answer.body(1000, len(BODY)))
    answer.close()
    assert body == BODY
    request = received[0].decode()
    assert request.startswith("GET /r/x.mp4?sig=a%2Fb HTTP/1.1\r\n")
    assert "Authorization: Bearer k" in request and "Accept-Encoding: identity" in request


def test_a_short_body_ends_early(pool: Pool, serve: tuple[list[bytes], list[bytes], str]) -> None:
    answers, _, base = serve
    answers.append(ok(BODY[:100], length=len(BODY)))
    answer = pool.open_get(base + "/r", {}, 5, 5)
    assert answer is not None
    assert b"".join(answer.body(64, len(BODY))) == BODY[:100]
    answer.close()


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        ok(extra="Content-Encoding: gzip\r\n"),
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + BODY,
    ],
    ids=["redirect", "chunked", "encoded", "no-length"],
)
def test_other_answers_are_left_to_httpx(
    pool: Pool, serve: tuple[list[bytes], list[bytes], str], reply: bytes
) -> None:
    answers, _, base = serve
    answers.append(reply)
    assert pool.open_get(base + "/r", {}, 5, 5) is None


def test_an_error_status_is_returned(
    pool: Pool, serve: tuple[list[bytes], list[bytes], str]
) -> None:
    answers, _, base = serve
    answers.append(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 7\r\n\r\nexpired")
    answer = pool.open_get(base + "/r", {}, 5, 5)
    assert answer is not None and answer.status == 403
    answer.close()


@pytest.mark.parametrize(
    "url",
    [
        "http://u:p@127.0.0.1:9/r",
        "http://127.0.0.1:9/a b",
        "http://127.0.0.1:9/\r\nX: y",
        "ftp://h/r",
    ],
)
def test_unusual_urls_are_left_to_httpx(pool: Pool, url: str) -> None:
    assert pool.open_get(url, {}, 5, 5) is None  # nothing listens on port 9: never connected


def test_a_configured_proxy_is_left_to_httpx(pool: Pool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.test:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert pool.open_get("https://cdn.test/r.mp4", {}, 5, 5) is None


def test_a_refused_connection_is_an_error_before_sending(pool: Pool) -> None:
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    for call in (
        lambda: pool.open_get(f"http://127.0.0.1:{port}/r", {}, 5, 5),
        lambda: pool.request("POST", f"http://127.0.0.1:{port}/q", {}, b"{}", 5, 5),
    ):
        with pytest.raises(httpx.ConnectError) as caught:
            call()
        # Nothing was sent: even an enqueue may be sent again.
        assert should_retry("unsafe", error=caught.value)


Served = tuple[list[bytes | str], list[tuple[int, bytes]], str]


@pytest.fixture
def keepalive() -> Iterator[Served]:
    """A keep-alive HTTP/1.1 server: answers to send in order (``b""`` closes the connection
    without answering, ``"hang"`` never answers), and each request received with the number of
    the connection it came on."""
    answers: list[bytes | str] = []
    received: list[tuple[int, bytes]] = []
    stop = threading.Event()

    def handle(conn: socket.socket, number: int) -> None:
        with contextlib.suppress(OSError):  # the client closed the connection
            serve_one(conn, number)

    def serve_one(conn: socket.socket, number: int) -> None:
        buffer = b""
        with conn:
            while not stop.is_set():
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buffer) < length:
                    buffer += conn.recv(65536)
                received.append((number, head + b"\r\n\r\n" + buffer[:length]))
                buffer = buffer[length:]
                answer = answers.pop(0) if answers else b"HTTP/1.1 500 X\r\n\r\n"
                if answer == "hang":
                    stop.wait(10)
                    return
                if not answer:
                    return
                assert isinstance(answer, bytes)
                conn.sendall(answer)
                if b"Connection: close" in answer:
                    return

    def start(conn: socket.socket, number: int) -> None:
        threading.Thread(target=handle, args=(conn, number), daemon=True).start()

    try:
        with accepting(start) as base:
            yield answers, received, base
    finally:
        stop.set()


def json_answer(body: bytes = b'{"ok":true}', extra: str = "") -> bytes:
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{extra}"
    return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


def test_requests_reuse_one_connection_and_send_what_they_are_given(
    pool: Pool, keepalive: Served
) -> None:
    answers, received, base = keepalive
    answers += [json_answer(), json_answer(b"[1]"), ok()]
    first = pool.request("POST", base + "/api/ai/queue", {"X-A": "1"}, b'{"m":1}', 5, 5)
    second = pool.request("GET", base + "/api/ai/queue?status=failed", {}, None, 5, 5)
    stream = pool.open_get(base + "/r.mp4", {}, 5, 5)
    assert stream is not None
    assert b"".join(stream.body(4096, len(BODY))) == BODY
    stream.close()
    assert first is not None and (first.status, first.content) == (200, b'{"ok":true}')
    assert first.headers["content-type"] == "application/json"
    assert second is not None and second.content == b"[1]"
    assert [number for number, _ in received] == [1, 1, 1]  # one connection for all three
    post = received[0][1].decode()
    assert post.startswith("POST /api/ai/queue HTTP/1.1\r\n") and post.endswith('{"m":1}')
    assert "X-A: 1" in post and "Content-Length: 7" in post
    assert received[1][1].startswith(b"GET /api/ai/queue?status=failed HTTP/1.1\r\n")
    assert pool.idle_count() == 1


def test_a_connection_is_not_reused_when_closed_stale_or_cut_short(
    keepalive: Served,
) -> None:
    answers, received, base = keepalive
    pool = Pool(TLS, idle_seconds=0.3)
    try:
        answers += [json_answer(extra="Connection: close\r\n"), json_answer(), json_answer()]
        pool.request("GET", base + "/a", {}, None, 5, 5)  # the server closes: not kept
        pool.request("GET", base + "/b", {}, None, 5, 5)  # a new one, kept
        time.sleep(0.4)  # idle too long: not reused
        pool.request("GET", base + "/c", {}, None, 5, 5)
        answers.append(ok())
        stream = pool.open_get(base + "/r.mp4", {}, 5, 5)
        assert stream is not None
        next(iter(stream.body(100, len(BODY))))
        stream.close()  # the body was not read to its end: the connection is closed
        assert pool.idle_count() == 0
    finally:
        pool.close()
    assert [number for number, _ in received] == [1, 2, 3, 3]


def test_an_answer_lost_after_sending_is_not_sent_again(pool: Pool, keepalive: Served) -> None:
    answers, received, base = keepalive
    answers.append(b"")  # the server reads the request and closes without answering
    with pytest.raises(httpx.TransportError) as caught:
        pool.request("POST", base + "/api/ai/queue", {}, b"{}", 5, 5)
    assert not isinstance(caught.value, httpx.ConnectError | httpx.ConnectTimeout)
    assert not should_retry("unsafe", error=caught.value)  # it may have been queued
    assert should_retry("safe", error=caught.value)
    assert len(received) == 1


def test_a_silent_server_is_a_read_timeout(pool: Pool, keepalive: Served) -> None:
    answers, _, base = keepalive
    answers.append("hang")
    with pytest.raises(httpx.ReadTimeout):
        pool.request("GET", base + "/slow", {}, None, 5, 0.2)


def test_chunked_and_gzip_answers_are_decoded(pool: Pool, keepalive: Served) -> None:
    answers, _, base = keepalive
    packed = gzip.compress(b'{"a":1}')
    answers += [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[1,\r\n2\r\n2]\r\n0\r\n\r\n",
        json_answer(packed, extra="Content-Encoding: gzip\r\n"),
    ]
    chunked = pool.request("GET", base + "/a", {}, None, 5, 5)
    packed_answer = pool.request("GET", base + "/b", {}, None, 5, 5)
    assert chunked is not None and chunked.content == b"[1,2]"
    assert packed_answer is not None and packed_answer.content == b'{"a":1}'


def test_download_redoes_a_short_body_on_the_plain_path(
    serve: tuple[list[bytes], list[bytes], str], tmp_path: Path
) -> None:
    answers, received, base = serve
    answers += [ok(BODY[:500], length=len(BODY)), ok()]

    async def main() -> None:
        api = Api(base, "k", FAST)
        try:
            saved = await api.download(base + "/r/g1.mp4", tmp_path, "g1")
        finally:
            await api.aclose()
        assert saved.size == len(BODY) and saved.path.read_bytes() == BODY
        assert saved.sha256 == hashlib.sha256(BODY).hexdigest()

    asyncio.run(main())
    assert len(received) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["g1.mp4"]


class AsyncOnly(httpx.AsyncBaseTransport):
    """A transport that cannot be used by a sync client."""

    def __init__(self, replies: list[httpx.Response]) -> None:
        self.replies = replies

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return self.replies.pop(0)


def test_an_async_only_transport_downloads_on_the_loop(tmp_path: Path) -> None:
    short = httpx.Response(200, content=BODY[:10], headers={"content-length": str(len(BODY))})
    replies = [short, httpx.Response(200, content=BODY), httpx.Response(410)]

    async def main() -> None:
        api = Api("https://hub.test", "k", FAST, AsyncOnly(replies))
        try:
            saved = await api.download("https://cdn.test/g1.mp4", tmp_path, "g1")
            assert saved.path.read_bytes() == BODY
            assert saved.sha256 == hashlib.sha256(BODY).hexdigest()
            with pytest.raises(ExpiredURLError):
                await api.download("https://cdn.test/g2.mp4", tmp_path, "g2")
        finally:
            await api.aclose()

    asyncio.run(main())
    assert [p.name for p in tmp_path.iterdir()] == ["g1.mp4"]


def test_closing_the_pool_ends_a_read_in_progress_at_once(keepalive: Served) -> None:
    answers, _, base = keepalive
    answers.append("hang")
    pool = Pool(TLS)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            pool.request("POST", base + "/api/ai/videos/generate", {}, b"{}", 5, 600)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    deadline = time.monotonic() + 5
    while not pool._active and time.monotonic() < deadline:  # the request is being read
        time.sleep(0.01)
    time.sleep(0.05)
    started = time.monotonic()
    pool.close()
    thread.join(5)
    assert not thread.is_alive() and time.monotonic() - started < 2  # not the 600 s timeout
    assert len(errors) == 1 and isinstance(errors[0], httpx.TransportError)
    with pytest.raises(httpx.ConnectError):  # a closed pool sends nothing more
        pool.request("GET", base + "/a", {}, None, 5, 5)


HEADER_BLOCKS = [
    b"Content-Length: 3\r\nContent-Type: application/json\r\n\r\nabc",
    b"content-length: 0\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Empty:\r\n\r\n",
    b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    b"X-Folded: one\r\n  two\r\nContent-Length: 0\r\n\r\n",
    b"Not a header line\r\nContent-Length: 0\r\n\r\n",
    b"Content-Length: 2\n\nok",
    b"Date:Mon, 23 Nov 2026 18:00:00 GMT\r\nServer:  uvicorn \t\r\nX-Odd : v\r\n\r\n",
]


@pytest.mark.parametrize("block", HEADER_BLOCKS)
def test_the_fast_header_parse_reads_what_http_client_reads(
    block: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    original = plainhttp._parse_headers

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setitem(plainhttp._Response.begin.__globals__, "parse_headers", counted)

    class FakeSocket:
        def makefile(self, mode: str) -> io.BytesIO:
            return io.BytesIO(b"HTTP/1.1 200 OK\r\n" + block)

    ours = plainhttp._Response(FakeSocket())  # type: ignore[arg-type]
    standard = http.client.HTTPResponse(FakeSocket())  # type: ignore[arg-type]
    ours.begin()
    standard.begin()
    assert calls == [1]  # the standard library's begin() ran with our parser
    assert ours.getheaders() == standard.getheaders()
    assert (ours.status, ours.will_close, ours.length, ours.chunked) == (
        standard.status,
        standard.will_close,
        standard.length,
        standard.chunked,
    )
    assert ours.read() == standard.read()


def test_the_fast_header_parse_keeps_http_clients_limits() -> None:
    too_many = b"".join(b"X-%d: v\r\n" % i for i in range(101)) + b"\r\n"
    with pytest.raises(http.client.HTTPException, match="more than 100 headers"):
        plainhttp._parse_headers(io.BytesIO(too_many))
    with pytest.raises(http.client.LineTooLong):
        plainhttp._parse_headers(io.BytesIO(b"X: " + b"v" * 70000 + b"\r\n\r\n"))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.text(alphabet="Ab-: \t\x7f\xe9=\"',;", max_size=12).map(lambda t: t.encode("latin-1")),
        max_size=8,
    )
)
def test_any_header_block_reads_as_http_client_reads_it(lines: list[bytes]) -> None:
    block = b"".join(line.replace(b"\r", b"").replace(b"\n", b"") + b"\r\n" for line in lines)
    block = block.replace(b"\r\n\r\n", b"\r\nX: y\r\n") + b"\r\n"
    ours = plainhttp._parse_headers(io.BytesIO(block))
    standard = http.client.parse_headers(io.BytesIO(block))
    assert ours.items() == standard.items()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/api/ai/queue",
        "http://127.0.0.1:8000/api/ai/queue?status=failed",
        "http://127.0.0.1:8000/r/x.mp4?sig=a%2Fb&e=1#frag",
        "http://127.0.0.1:8000/r?",
        "http://127.0.0.1:8000/",
        "HTTPS://Hub.Test/api/x",
    ],
)
def test_a_url_splits_the_same_the_first_time_and_after(pool: Pool, url: str) -> None:
    first = pool.split(url)
    pool.split("http://127.0.0.1:8000/warm")  # the origin is known from now on
    pool.split("HTTPS://Hub.Test/warm")
    assert pool.split(url) == first
    parts = urlsplit(url)
    assert first is not None
    assert first[1] == (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def test_an_answer_cut_short_is_a_maybe_sent_transport_error(
    pool: Pool, serve: tuple[list[bytes], list[bytes], str]
) -> None:
    answers, received, base = serve
    answers.append(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"gen')
    with pytest.raises(httpx.TransportError) as caught:
        pool.request("POST", base + "/api/ai/queue", {}, b"{}", 5, 5)
    assert not isinstance(caught.value, httpx.ConnectError | httpx.ConnectTimeout)
    assert not should_retry("unsafe", error=caught.value)  # the enqueue may have run
    assert should_retry("safe", error=caught.value)
    assert pool.idle_count() == 0 and len(received) == 1
