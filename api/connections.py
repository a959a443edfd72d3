"""A deadline for request heads, which aiohttp's server does not have.

aiohttp waits for a request head for as long as the client keeps the connection open, so a
client that sends a header byte now and then holds a connection (and its buffers) forever.
:class:`HeadDeadlines` wraps the server's protocol factory: every connection gets a timer when
it opens and whenever a new request starts to arrive after the previous one was answered; the
request reaching the application (``request_started``, called by the request middleware)
stops it. A timer that runs out closes the connection.

Bodies are the application's business (``api.routes.read_body`` reads them chunk by chunk
under the same timeout), and idle keep-alive connections aiohttp's ``keepalive_timeout``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, cast

logger = logging.getLogger("api.http")


class HeadDeadlines:
    """The registry of open connections and their head timers."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._guards: dict[asyncio.BaseTransport, _Guard] = {}

    def factory(self, make: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        """A protocol factory for ``loop.create_server`` around aiohttp's ``make``."""

        def build() -> asyncio.Protocol:
            return _Guard(make(), self)

        return build

    def request_started(self, transport: asyncio.BaseTransport | None) -> None:
        guard = self._guards.get(transport) if transport is not None else None
        if guard is not None:
            guard.in_app = True
            guard.disarm()

    def request_finished(self, transport: asyncio.BaseTransport | None) -> None:
        guard = self._guards.get(transport) if transport is not None else None
        if guard is not None:
            guard.in_app = False

    def opened(self, transport: asyncio.BaseTransport, guard: _Guard) -> None:
        self._guards[transport] = guard

    def closed(self, transport: asyncio.BaseTransport) -> None:
        self._guards.pop(transport, None)

    @property
    def open_connections(self) -> int:
        return len(self._guards)


class _Guard(asyncio.Protocol):
    """Passes every event on to aiohttp's protocol, timing the request heads on the way."""

    def __init__(self, inner: asyncio.Protocol, registry: HeadDeadlines) -> None:
        self.inner = inner
        self.registry = registry
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.in_app = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self.transport = cast(asyncio.Transport, transport)
        self.registry.opened(transport, self)
        self.arm()
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        # The first bytes after an answer begin the next request head.
        if self.timer is None and not self.in_app:
            self.arm()
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.disarm()
        if self.transport is not None:
            self.registry.closed(self.transport)
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def arm(self) -> None:
        self.disarm()
        loop = asyncio.get_running_loop()
        self.timer = loop.call_later(self.registry.timeout, self.expired)

    def disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def expired(self) -> None:
        self.timer = None
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        peer: Any = transport.get_extra_info("peername")
        where = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else "?"
        logger.info(
            "closed a connection from %s: no complete request head in %g s",
            where,
            self.registry.timeout,
        )
        transport.abort()
