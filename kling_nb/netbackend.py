"""A cheaper keep-alive check for httpx's default async transport.

Before every request httpcore's pool asks each idle connection whether its socket is readable (a
server that closed it). Through anyio that query rebuilds a dict of socket attributes and calls
``getpeername`` each time: with a few pooled connections and hundreds of requests it was the
largest single cost of the client apart from the requests themselves. This wraps the network
backend so each stream looks its socket up once and answers the same question with one ``poll``.
Everything else is passed through unchanged.
"""

from __future__ import annotations

import select
import socket
import ssl
from typing import Any

import httpcore
import httpx

__all__ = ["async_transport"]


def async_transport(
    limits: httpx.Limits, verify: ssl.SSLContext | bool = True
) -> httpx.AsyncHTTPTransport:
    """``httpx.AsyncHTTPTransport(verify, limits=limits)`` with the cheaper check (when it can be
    fitted: httpcore keeps its backend in a private attribute; an httpx that moved it gets none).
    """
    transport = httpx.AsyncHTTPTransport(verify=verify, limits=limits)
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if isinstance(backend, httpcore.AsyncNetworkBackend):
        pool._network_backend = _Backend(backend)  # type: ignore[union-attr]
    return transport


class _Stream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket: socket.socket | None = None

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.start_tls(*args, **kwargs))

    def get_extra_info(self, info: str) -> Any:
        if info != "is_readable":
            return self._inner.get_extra_info(info)
        if self._socket is None:
            self._socket = self._inner.get_extra_info("socket")
            if self._socket is None:  # no socket to look at: ask the stream itself
                return self._inner.get_extra_info(info)
        return _readable(self._socket)


class _Backend(httpcore.AsyncNetworkBackend):
    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.connect_tcp(*args, **kwargs))

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.connect_unix_socket(*args, **kwargs))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _readable(sock: socket.socket) -> bool:
    """Whether a read would not block (data, or the server's close); a closed socket counts."""
    fd = sock.fileno()
    if fd < 0:
        return True
    if not hasattr(select, "poll"):  # Windows
        return bool(select.select([fd], [], [], 0)[0])
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))
