"""A plain HTTP/1.1 GET on a socket, for the body of a large result.

httpx parses a body 64 KiB at a time through h11 in Python: reading 200 MB cost 0.45 s of CPU
here, against 0.08 s for ``recv_into`` on the socket, which left downloads at half of curl's
speed. ``open_get`` is used only in the plain case: an ``http(s)`` URL of printable ASCII, no
user info, no proxy configured for it. It sends one GET (``Connection: close``, no compression)
and hands back the answer only if it is a ``200`` with a ``Content-Length`` and neither chunked
nor encoded, or an error status; anything else (a redirect, say) returns ``None`` and the caller
uses httpx. TLS uses the client's context (certificates and host name checked as httpx does).
"""

from __future__ import annotations

import socket
import ssl
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import ParamSpec, TypeVar
from urllib.parse import urlsplit

import httpx

__all__ = ["PlainAnswer", "open_get"]

_HEAD_LIMIT = 64 * 1024
P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class PlainAnswer:
    """The status and headers (lower-case names) of a GET, and its open socket."""

    status: int
    headers: dict[str, str]
    sock: socket.socket
    first: bytes = b""  # body bytes read together with the headers
    closed: bool = field(default=False)

    def body(self, batch: int, length: int) -> Iterator[bytearray]:
        """The body in buffers of up to ``batch`` bytes, ``length`` at most; stops early at EOF."""
        got = len(self.first)
        if self.first:
            yield bytearray(self.first[:length])
        while got < length:
            buffer = bytearray(min(batch, length - got))
            view, filled = memoryview(buffer), 0
            while filled < len(buffer):
                n = _io(self.sock.recv_into, view[filled:])
                if not n:
                    break
                filled += n
            if not filled:
                return
            got += filled
            yield buffer if filled == len(buffer) else buffer[:filled]
            if filled < len(view):
                return

    def close(self) -> None:
        """Close the socket."""
        if not self.closed:
            self.closed = True
            self.sock.close()


def open_get(
    url: str,
    headers: dict[str, str],
    tls: ssl.SSLContext,
    connect_timeout: float,
    read_timeout: float,
) -> PlainAnswer | None:
    """Send the GET and read the head; ``None`` when this is not a case for the plain path."""
    if not url.isascii() or not url.isprintable() or " " in url:
        return None
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), parts.hostname
    if scheme not in ("http", "https") or not host or "@" in parts.netloc:
        return None
    proxies = urllib.request.getproxies()
    if (scheme in proxies or "all" in proxies) and not urllib.request.proxy_bypass(host):
        return None
    port = parts.port or (443 if scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}", "Accept: */*"]
    lines += ["Accept-Encoding: identity", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    sock = _io(socket.create_connection, (host, port), connect_timeout)
    try:
        if scheme == "https":
            sock = _io(tls.wrap_socket, sock, server_hostname=host)
        sock.settimeout(read_timeout)
        _io(sock.sendall, request)
        head = b""
        while b"\r\n\r\n" not in head:
            data = _io(sock.recv, 65536)
            if not data or len(head) > _HEAD_LIMIT:
                raise httpx.RemoteProtocolError("the result server sent no complete answer")
            head += data
        raw, _, first = head.partition(b"\r\n\r\n")
        status_line, *header_lines = raw.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        fields: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
    except BaseException:
        sock.close()
        raise
    answer = PlainAnswer(status, fields, sock, first)
    plain = (
        fields.get("content-length", "").isdigit()
        and fields.get("transfer-encoding", "identity").lower() == "identity"
        and fields.get("content-encoding", "identity").lower() in ("", "identity")
    )
    if status >= 400 or (status == 200 and plain):
        return answer
    answer.close()
    return None


def _io(call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a socket call; its errors as httpx's, so the download retry rules apply unchanged."""
    try:
        return call(*args, **kwargs)
    except TimeoutError as exc:
        raise httpx.ReadTimeout(f"the result server timed out ({exc})") from None
    except ssl.SSLError as exc:
        raise httpx.ConnectError(f"TLS with the result server failed ({exc})") from None
    except OSError as exc:
        raise httpx.NetworkError(f"the result server connection failed ({exc})") from None
