"""HTTP/1.1 through the standard library's ``http.client``, on worker threads, with keep-alive.

Why not httpx here: on this project's 2-core test machine one async httpx request costs 1.5 to
2 ms of CPU (anyio, httpcore's pool, h11), and ``many_jobs.py`` needs an enqueue and a download
per generation within 2 ms in all. A keep-alive ``http.client`` request costs about 0.2 ms, and
0.4 ms with the hop to a worker thread; urllib3's pool, measured the same way, 0.55 ms. For a
200 MB result, ``http.client`` also reads straight into our buffers (``readinto``), where httpx
parses 64 KiB at a time in Python (0.4 to 0.6 of curl's speed; this path: 1.1 to 1.9).

Only the plain case comes here (``Pool.split``): an ``http(s)`` URL of printable ASCII, no user
info, and no proxy configured for its host (checked once per host). Everything else returns
``None`` and the caller uses httpx. TLS uses the client's context: certificates and host names
are checked as httpx checks them.

Errors are raised as httpx's exception types, so the retry rules apply unchanged:
``ConnectError``/``ConnectTimeout`` only when no byte of the request was sent (a new connection
failed), any other ``TransportError`` once it may have been. An idle connection is reused only
if its socket is not readable (the server has not closed it) and it has been idle less than
``idle_seconds`` (below the common 5 s keep-alive of servers such as uvicorn), the checks
httpcore makes too.
"""

from __future__ import annotations

import contextlib
import email.parser
import http.client
import re
import select
import socket
import ssl
import threading
import time
import types
import urllib.request
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

import httpx

__all__ = ["Answer", "Pool", "ShortBody", "Stream"]

P = ParamSpec("P")
T = TypeVar("T")
Origin = tuple[str, str, int]  # scheme, host, port
_BASE_HEADERS = {"Accept": "*/*", "Accept-Encoding": "identity"}


class ShortBody(httpx.RemoteProtocolError):
    """The server closed the connection before the body's ``Content-Length``; ``got`` bytes
    of it were read."""

    def __init__(self, message: str, got: int) -> None:
        super().__init__(message)
        self.got = got


@dataclass(frozen=True)
class Answer:
    """A whole answer: its status, headers (lower-case names) and body."""

    status: int
    headers: dict[str, str]
    content: bytes


@dataclass
class Stream:
    """An answer whose body is still to be read: status, headers (lower-case names)."""

    status: int
    headers: dict[str, str]
    response: http.client.HTTPResponse
    _release: Callable[[bool], None]
    closed: bool = field(default=False)
    cut: bool = field(default=False)  # the server closed the connection before the end

    def body(self, batch: int, length: int) -> Iterator[bytearray]:
        """The body in buffers of up to ``batch`` bytes, ``length`` at most; stops early at EOF
        (the caller compares what it got with the ``Content-Length``)."""
        got = 0
        while got < length:
            buffer = bytearray(min(batch, length - got))
            try:
                filled = _after_send(self.response.readinto, buffer)
            except ShortBody as short:  # the server closed early: the caller sees the length
                self.cut = True
                if short.got:
                    yield buffer[: short.got]
                return
            if not filled:
                return
            got += filled
            yield buffer if filled == len(buffer) else buffer[:filled]

    def close(self) -> None:
        """Give the connection back for reuse if the body was read to its end, else close it."""
        if not self.closed:
            self.closed = True
            ended = self.response.isclosed() and not self.cut
            self._release(ended and not self.response.will_close)


class Pool:
    """Keep-alive connections by origin, shared by the worker threads of one client."""

    def __init__(
        self, tls: ssl.SSLContext, *, max_idle: int = 8, idle_seconds: float = 4.0
    ) -> None:
        self._tls = tls
        self._max_idle = max_idle
        self._idle_seconds = idle_seconds
        self._idle: dict[Origin, list[tuple[float, http.client.HTTPConnection]]] = {}
        self._direct: dict[tuple[str, str], bool] = {}  # (scheme, host) -> no proxy for it
        # "scheme://netloc/" of URLs split before, with their origin (a few, reused a lot)
        self._prefixes: list[tuple[str, Origin]] = []
        # In use by a thread, with its socket (http.client drops its own reference to it after an
        # answer with "Connection: close", while the answer is still being read).
        self._active: dict[http.client.HTTPConnection, socket.socket | None] = {}
        self._lock = threading.Lock()
        self._closed = False

    def split(self, url: str) -> tuple[Origin, str] | None:
        """The origin and request target of a plain URL, or ``None`` (leave it to httpx)."""
        if not url.isascii() or not url.isprintable() or " " in url:
            return None
        for prefix, origin in self._prefixes:  # an origin seen before: no parsing
            if url.startswith(prefix):
                target = url[len(prefix) - 1 :].partition("#")[0]
                return origin, target[:-1] if target.endswith("?") else target
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), parts.hostname
        if scheme not in ("http", "https") or not host or "@" in parts.netloc:
            return None
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError:
            return None
        direct = self._direct.get((scheme, host))
        if direct is None:
            proxies = urllib.request.getproxies()
            proxied = scheme in proxies or "all" in proxies
            direct = not proxied or bool(urllib.request.proxy_bypass(host))
            self._direct[(scheme, host)] = direct
        if not direct:
            return None
        origin = (scheme, host, port)
        if len(self._prefixes) < 16 and parts.path.startswith("/"):
            self._prefixes.append((f"{parts.scheme}://{parts.netloc}/", origin))
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return origin, target

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        connect_timeout: float,
        read_timeout: float,
    ) -> Answer | None:
        """Send one request and read the whole answer; ``None`` if the URL is not plain."""
        sent = self._exchange(method, url, headers, body, connect_timeout, read_timeout)
        if sent is None:
            return None
        origin, connection, response = sent
        try:
            content = _after_send(response.read)
        except BaseException:
            self._release(origin, connection, reuse=False)
            raise
        fields = {name.lower(): value for name, value in response.getheaders()}
        self._release(origin, connection, reuse=not response.will_close)
        return Answer(response.status, fields, _decoded(content, fields))

    def open_get(
        self, url: str, headers: Mapping[str, str], connect_timeout: float, read_timeout: float
    ) -> Stream | None:
        """Send a GET and read the head, for a body read in pieces (``Stream.body``).

        ``None`` when the URL is not plain, or the answer is not one this path reads: it
        takes an error status, or a ``200`` with a ``Content-Length`` and neither chunked nor
        encoded (anything else, such as a redirect, is left to httpx).
        """
        sent = self._exchange("GET", url, headers, None, connect_timeout, read_timeout)
        if sent is None:
            return None
        origin, connection, response = sent
        fields = {name.lower(): value for name, value in response.getheaders()}

        def release(reuse: bool) -> None:
            response.close()
            self._release(origin, connection, reuse)

        stream = Stream(response.status, fields, response, release)
        plain = (
            fields.get("content-length", "").isdigit()
            and fields.get("transfer-encoding", "identity").lower() == "identity"
            and fields.get("content-encoding", "identity").lower() in ("", "identity")
        )
        if response.status >= 400 or (response.status == 200 and plain):
            return stream
        stream.close()
        return None

    def _exchange(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        connect_timeout: float,
        read_timeout: float,
    ) -> tuple[Origin, http.client.HTTPConnection, http.client.HTTPResponse] | None:
        """Send the request and read the answer's head (``None`` if the URL is not plain); the
        connection stays in use until ``_release``."""
        where = self.split(url)
        if where is None:
            return None
        origin, target = where
        connection = self._connect(origin, connect_timeout)
        try:
            _settimeout(connection, read_timeout)
            _after_send(
                connection.request, method, target, body, headers={**_BASE_HEADERS, **headers}
            )
            response = _after_send(connection.getresponse)
        except BaseException:
            self._release(origin, connection, reuse=False)
            raise
        return origin, connection, response

    def close(self) -> None:
        """Close every idle connection, and end the reads of those in use at once (their
        threads get an error); connections given back later are closed too."""
        with self._lock:
            self._closed = True
            idle = [c for entries in self._idle.values() for _, c in entries]
            self._idle.clear()
            active = list(self._active.values())
        for connection in idle:
            connection.close()
        for sock in active:
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def idle_count(self) -> int:
        """Connections waiting for reuse (for tests)."""
        with self._lock:
            return sum(len(entries) for entries in self._idle.values())

    def _connect(self, origin: Origin, timeout: float) -> http.client.HTTPConnection:
        """An idle connection still open, else a new one (its errors: nothing was sent)."""
        now = time.monotonic()
        while True:
            with self._lock:
                entries = self._idle.get(origin)
                if not entries:
                    break
                since, connection = entries.pop()
            sock = connection.sock
            if now - since < self._idle_seconds and sock is not None and not _readable(sock):
                return self._in_use(connection)
            connection.close()
        scheme, host, port = origin
        if scheme == "https":
            connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=self._tls)
        else:
            connection = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            connection.connect()
        except TimeoutError as exc:
            connection.close()
            raise httpx.ConnectTimeout(f"connecting to {host} timed out ({exc})") from None
        except (OSError, ssl.SSLError) as exc:
            connection.close()
            raise httpx.ConnectError(f"connecting to {host} failed ({exc})") from None
        if connection.sock is not None:
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection.response_class = _Response
        return self._in_use(connection)

    def _in_use(self, connection: http.client.HTTPConnection) -> http.client.HTTPConnection:
        with self._lock:
            closed = self._closed
            if not closed:
                self._active[connection] = connection.sock
        if closed:
            connection.close()
            raise httpx.ConnectError("the client is closed")
        return connection

    def _release(self, origin: Origin, connection: http.client.HTTPConnection, reuse: bool) -> None:
        with self._lock:
            self._active.pop(connection, None)
        if reuse and connection.sock is not None:
            with self._lock:
                entries = self._idle.setdefault(origin, [])
                if not self._closed and len(entries) < self._max_idle:
                    entries.append((time.monotonic(), connection))
                    return
        connection.close()


def _parse_headers(
    fp: Any, _class: type[http.client.HTTPMessage] = http.client.HTTPMessage
) -> http.client.HTTPMessage:
    """``http.client.parse_headers`` without the email parser for plain ``Name: value`` lines
    (4 us instead of 37 us for five headers); any other block (a folded line, a line that is
    not a header) goes through the email parser as before. The same limits apply."""
    lines: list[bytes] = []
    plain = True
    while True:
        line = fp.readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE:
            raise http.client.LineTooLong("header line")
        if line in (b"\r\n", b"\n", b""):
            break
        lines.append(line)
        if len(lines) > _MAX_HEADERS:
            raise http.client.HTTPException(f"got more than {_MAX_HEADERS} headers")
        if plain and not _PLAIN_FIELD.match(line):
            plain = False
    if not plain:
        text = b"".join(lines).decode("iso-8859-1")
        return email.parser.Parser(_class=_class).parsestr(text)
    message = _class()
    for line in lines:  # as the email parser's compat32 policy splits a line
        name, _, value = line.decode("iso-8859-1").partition(":")
        message[name] = value.lstrip(" \t").rstrip("\r\n")
    return message


_MAX_LINE = 65536  # http.client's limits
# A line the email parser reads as one header: a name of printable ASCII without space or
# colon, then a colon (its ``headerRE``, less the mbox "From " case).
_PLAIN_FIELD = re.compile(rb"[!-9;-~]+:")
_MAX_HEADERS = 100


class _Response(http.client.HTTPResponse):
    """``http.client.HTTPResponse`` whose ``begin`` is the standard library's own code, run
    with ``_parse_headers`` in place of ``parse_headers``; a Python whose ``begin`` no longer
    calls ``parse_headers`` simply parses headers the usual way."""

    begin = types.FunctionType(
        http.client.HTTPResponse.begin.__code__,
        {**vars(http.client), "parse_headers": _parse_headers},
        "begin",
        http.client.HTTPResponse.begin.__defaults__,
        http.client.HTTPResponse.begin.__closure__,
    )


def _settimeout(connection: http.client.HTTPConnection, timeout: float) -> None:
    if connection.sock is not None:
        connection.sock.settimeout(timeout)


def _readable(sock: socket.socket) -> bool:
    """Whether a read would not block: the server closed the connection (or sent something
    unasked); either way it is not reused. A closed socket counts as readable."""
    fd = sock.fileno()
    if fd < 0:
        return True
    if not hasattr(select, "poll"):  # Windows
        return bool(select.select([fd], [], [], 0)[0])
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


def _decoded(content: bytes, fields: Mapping[str, str]) -> bytes:
    """The body without a gzip or deflate encoding (sent although ``identity`` was asked); a
    body that does not decode is returned as it came (and read as an unreadable answer)."""
    encoding = fields.get("content-encoding", "").lower().strip()
    if encoding in ("gzip", "x-gzip", "deflate") and content:
        for wbits in (zlib.MAX_WBITS | 32, -zlib.MAX_WBITS):  # gzip or zlib header; raw deflate
            try:
                return zlib.decompress(content, wbits)
            except zlib.error:
                continue
    return content


def _after_send(call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a call made once the request may have been (partly) sent: its errors as httpx's
    errors of that stage (``ReadTimeout``, ``ReadError``, ``RemoteProtocolError``), which the
    retry rules treat as "maybe sent"."""
    try:
        return call(*args, **kwargs)
    except http.client.IncompleteRead as exc:  # the server closed before the body's end
        got = len(exc.partial) if isinstance(exc.partial, bytes) else 0
        raise ShortBody(f"the answer ended after {got} bytes ({exc!r})", got) from None
    except TimeoutError as exc:
        raise httpx.ReadTimeout(f"the server timed out ({exc})") from None
    except http.client.RemoteDisconnected as exc:
        raise httpx.RemoteProtocolError(f"the server closed the connection ({exc})") from None
    except http.client.HTTPException as exc:
        raise httpx.RemoteProtocolError(f"the server's answer is malformed ({exc!r})") from None
    except (OSError, ssl.SSLError) as exc:
        raise httpx.ReadError(f"the connection failed ({exc})") from None
