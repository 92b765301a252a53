"""Low-level control of an asyncua server's TCP side, used to inject network faults.

asyncua has no public API to drop connections or stop listening while keeping the address
space alive, so this module touches a few private attributes (``Server.bserver``,
``BinaryServer._server``/``_make_protocol``, ``InternalServer._external_sessions``). They are kept
here in one place; asyncua is pinned below 3 in pyproject.toml.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from asyncua.server.server import Server

log = logging.getLogger(__name__)


def _bserver(server: Server) -> Any:
    bserver = server.bserver
    if bserver is None:
        raise RuntimeError("server not started")
    return bserver


def is_listening(server: Server) -> bool:
    return _bserver(server)._server is not None


def close_listener(server: Server) -> None:
    """Stop accepting new connections; established connections are left alone."""
    bserver = _bserver(server)
    if bserver._server is not None:
        bserver._server.close()
        bserver._server = None


async def open_listener(server: Server, host: str, port: int) -> None:
    """Accept OPC UA connections again on the same address (the port is reusable at once)."""
    bserver = _bserver(server)
    if bserver._server is None:
        loop = asyncio.get_running_loop()
        bserver._server = await loop.create_server(bserver._make_protocol, host, port)


def transports(server: Server) -> list[asyncio.Transport]:
    return list(server.iserver.asyncio_transports)


async def close_sessions(server: Server) -> None:
    """Close every client session, including ones asyncua keeps for reactivation after a drop."""
    for session in list(server.iserver._external_sessions.values()):
        try:
            await session.close_session(True)
        except Exception:  # a half-closed session must not stop the others from closing
            log.exception("closing session failed")


async def drop_all(server: Server) -> int:
    """Close every client channel and session; returns the number of connections closed."""
    conns = transports(server)
    for t in conns:
        t.abort()
    await close_sessions(server)
    return len(conns)


def pause_publishing(server: Server) -> list[Any]:
    """Stop the publishing loop of every client subscription: no data and no keep-alive goes out,
    while the session and every other service keep answering. Returns what `resume_publishing`
    restarts (subscriptions created later are not affected)."""
    paused = []
    for sub in server.iserver.subscription_service.subscriptions.values():
        task = sub._task
        if task is None or sub.pub_request_callback is None:  # stopped, or one of the server's own
            continue
        sub._task = None
        task.cancel()
        paused.append(sub)
    return paused


async def resume_publishing(subscriptions: list[Any]) -> None:
    for sub in subscriptions:
        if sub._task is None and not sub._closing:
            await sub.start()


class _Silent(asyncio.Protocol):
    """Accepts a TCP connection and never answers (a hung device)."""

    def __init__(self, owner: SilentListener) -> None:
        self._owner = owner
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._owner.conns.add(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._owner.conns.discard(self._transport)


class SilentListener:
    """A raw TCP listener that accepts and then ignores everything the peer sends."""

    def __init__(self) -> None:
        self.conns: set[asyncio.BaseTransport] = set()
        self._server: asyncio.AbstractServer | None = None

    async def start(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Silent(self), host, port)

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for t in list(self.conns):
            t.close()
        self.conns.clear()
