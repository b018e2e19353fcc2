"""The http.client GET used for result bodies: which answers it takes, which it leaves to httpx,
and the download paths around it (a short body is redone, an async-only transport still works)."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kling_nb.api import Api, ExpiredURLError
from kling_nb.plainget import open_get
from kling_nb.retry import Policy

BODY = bytes(range(256)) * 40
TLS = ssl.create_default_context()
FAST = Policy(backoff_initial=0.001, backoff_max=0.002, download_chunk_bytes=1000)


@pytest.fixture
def serve() -> Iterator[tuple[list[bytes], list[bytes], str]]:
    """A one-answer-per-connection HTTP server: answers to send, requests received, base URL."""
    answers: list[bytes] = []
    received: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def run() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                head = b""
                while b"\r\n\r\n" not in head:
                    head += conn.recv(65536)
                received.append(head)
                conn.sendall(answers.pop(0) if answers else b"HTTP/1.1 500 X\r\n\r\n")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield answers, received, f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(2)
    listener.close()


def ok(body: bytes = BODY, length: int | None = None, extra: str = "") -> bytes:
    size = len(body) if length is None else length
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nContent-Type: video/mp4\r\n{extra}\r\n"
    return head.encode() + body


def test_a_plain_answer_is_read_to_its_length(serve: tuple[list[bytes], list[bytes], str]) -> None:
    answers, received, base = serve
    answers.append(ok(BODY + b"extra bytes past the length"))
    answer = open_get(base + "/r/x.mp4?sig=a%2Fb", {"Authorization": "Bearer k"}, TLS, 5, 5)
    assert answer is not None and answer.status == 200
    body = b"".join(answer.body(1000, len(BODY)))
    answer.close()
    assert body == BODY
    request = received[0].decode()
    assert request.startswith("GET /r/x.mp4?sig=a%2Fb HTTP/1.1\r\n")
    assert "Authorization: Bearer k" in request and "Accept-Encoding: identity" in request


def test_a_short_body_ends_early(serve: tuple[list[bytes], list[bytes], str]) -> None:
    answers, _, base = serve
    answers.append(ok(BODY[:100], length=len(BODY)))
    answer = open_get(base + "/r", {}, TLS, 5, 5)
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
    serve: tuple[list[bytes], list[bytes], str], reply: bytes
) -> None:
    answers, _, base = serve
    answers.append(reply)
    assert open_get(base + "/r", {}, TLS, 5, 5) is None


def test_an_error_status_is_returned(serve: tuple[list[bytes], list[bytes], str]) -> None:
    answers, _, base = serve
    answers.append(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 7\r\n\r\nexpired")
    answer = open_get(base + "/r", {}, TLS, 5, 5)
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
def test_unusual_urls_are_left_to_httpx(url: str) -> None:
    assert open_get(url, {}, TLS, 5, 5) is None  # nothing listens on port 9: never connected


def test_a_configured_proxy_is_left_to_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.test:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert open_get("https://cdn.test/r.mp4", {}, TLS, 5, 5) is None


def test_a_refused_connection_is_an_httpx_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    with pytest.raises(httpx.TransportError):
        open_get(f"http://127.0.0.1:{port}/r", {}, TLS, 5, 5)


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
