"""A small HTTP/1.1 client for one hot path: POSTing chat requests to the upstreams.

Why not aiohttp's or httpx's client: per request they cost 0.2-0.3 ms (aiohttp) and about
three times that (httpx) of CPU in request objects, header multidicts, URL parsing and
timers; a plain protocol costs about 0.05 ms (measured: ``bench/gateway.py``, where the
aiohttp client was over half of the gateway's CPU per forwarded request). The wire format
is the hard part and is not written here: responses are parsed by ``httptools`` (llhttp,
the parser of Node.js, by uvloop's authors).

What it does: POST a body to an ``http``/``https`` URL; keep-alive connections pooled per
origin and reused newest-first; responses with ``Content-Length``, chunked or
close-delimited bodies, read whole (:meth:`Response.read`) or as they arrive
(:meth:`Response.iter_chunks`, with back-pressure: reading pauses while much is buffered).
A pooled connection that the server had closed while idle is replaced once, since nothing
of the request was answered. What it leaves out (the upstream APIs need none of it):
redirects, proxies, compression (``Accept-Encoding: identity`` is sent), cookies, HTTP/2.

Errors: :class:`ConnectError` (no connection: nothing was sent, safe to retry),
:class:`ReadTimeout` (no byte for ``read_timeout`` seconds: before the status line, or
between two pieces of the body), :class:`ProtocolError` (the connection broke or the
response is not HTTP).
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, cast
from urllib.parse import urlsplit

import httptools

__all__ = [
    "ConnectError",
    "HTTPError",
    "HttpxPool",
    "HttpxResponse",
    "Pool",
    "ProtocolError",
    "ReadTimeout",
    "Response",
    "header_block",
]

HIGH_WATER = 256 * 1024  # body bytes buffered before the connection stops reading
LOW_WATER = 64 * 1024  # ... and starts again


class HTTPError(Exception):
    """Any failure of a request."""


class ConnectError(HTTPError):
    """No connection could be opened (refused, unreachable, TLS failed, timed out): nothing
    of the request was sent."""


class ReadTimeout(HTTPError, TimeoutError):
    """The server sent nothing for ``read_timeout`` seconds."""


class ProtocolError(HTTPError):
    """The connection closed early, or what came back is not an HTTP response."""

    def __init__(self, message: str, *, nothing_received: bool = False) -> None:
        super().__init__(message)
        self.nothing_received = nothing_received


@dataclass(frozen=True, slots=True)
class _Target:
    key: tuple[str, str, int]  # the origin: scheme, host, port
    host: str
    port: int
    tls: bool
    head: bytes  # request line and Host header


def _target(url: str) -> _Target:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    host_header = parts.netloc.rpartition("@")[2]
    head = f"POST {path} HTTP/1.1\r\nHost: {host_header}\r\n"
    return _Target((parts.scheme, parts.hostname, port), parts.hostname, port, tls, _ascii(head))


def _ascii(text: str) -> bytes:
    try:
        return text.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError("HTTP request lines and headers must be ASCII") from None


def header_block(headers: Mapping[str, str]) -> bytes:
    """``headers`` as request header lines, checked; :meth:`Pool.post` takes either."""
    lines = []
    for name, value in headers.items():
        if any(c in name or c in value for c in "\r\n") or ":" in name:
            raise ValueError(f"invalid header {name!r}")
        lines.append(f"{name}: {value}\r\n")
    return _ascii("".join(lines))


def _expire(waiter: asyncio.Future[None], seconds: float) -> None:
    if not waiter.done():
        waiter.set_exception(ReadTimeout(f"no data from the server in {seconds:g} s"))


def _merged(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Header names lower-cased; a repeated header's values joined with ``", "``."""
    headers: dict[str, str] = {}
    for name, value in pairs:
        name = name.lower()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


class _Body:
    """Reading a body, for any response that can give its next chunk."""

    __slots__ = ()

    async def _next_chunk(self) -> bytes | None:
        raise NotImplementedError

    async def read(self, limit: int | None = None) -> bytes:
        """The body (its first ``limit`` bytes, when given: the rest is not waited for)."""
        parts: list[bytes] = []
        size = 0
        while limit is None or size < limit:
            chunk = await self._next_chunk()
            if chunk is None:
                break
            parts.append(chunk)
            size += len(chunk)
        body = b"".join(parts)
        return body if limit is None else body[:limit]

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        """The body in pieces, each as soon as it arrived."""
        while (chunk := await self._next_chunk()) is not None:
            yield chunk


class Response(_Body):
    """One response. ``status`` and ``headers`` (lower-case names; a repeated header's values
    joined with ``", "``) are known when :meth:`Pool.post` returns; then read the body and
    :meth:`release` the connection (``async with response:`` does that)."""

    __slots__ = (
        "_buffered",
        "_chunks",
        "_complete",
        "_conn",
        "_error",
        "_headers_done",
        "_read_timeout",
        "_received",
        "_released",
        "_waiter",
        "headers",
        "status",
    )

    def __init__(self, conn: _Connection, read_timeout: float) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self._conn = conn
        self._read_timeout = read_timeout
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._headers_done = False
        self._complete = False
        self._error: HTTPError | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._received = False
        self._released = False

    @property
    def complete(self) -> bool:
        """The whole body has arrived."""
        return self._complete

    def release(self) -> None:
        """Give the connection back (reused only after a complete, keep-alive response)."""
        if self._released:
            return
        self._released = True
        conn = self._conn
        conn.pool._release(conn, self._complete and self._error is None and conn.keep_alive)

    async def aclose(self) -> None:
        """:meth:`release`, for code written for any response with an async close."""
        self.release()

    async def __aenter__(self) -> Response:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    # -- the reading side ----------------------------------------------------------------------

    async def _next_chunk(self) -> bytes | None:
        while True:
            if self._chunks:
                chunk = self._chunks.popleft()
                self._buffered -= len(chunk)
                if self._buffered < LOW_WATER:
                    self._conn.resume()
                return chunk
            if self._complete:
                return None
            if self._error is not None:
                raise self._error
            await self._wait()

    async def _wait_headers(self) -> None:
        while not self._headers_done:
            if self._error is not None:
                raise self._error
            await self._wait()

    async def _wait(self) -> None:
        loop = self._conn.loop
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(self._read_timeout, _expire, waiter, self._read_timeout)
        try:
            await waiter
        except ReadTimeout as exc:
            self._error = exc  # the rest of this response is unknown: never reused
            raise
        finally:
            timer.cancel()
            self._waiter = None

    # -- the protocol's side -------------------------------------------------------------------

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: HTTPError) -> None:
        if self._error is None and not self._complete:
            self._error = error
        self._wake()


class _Connection(asyncio.Protocol):
    """One connection: llhttp's callbacks feed the current :class:`Response`."""

    def __init__(self, pool: Pool, key: tuple[str, str, int], loop: asyncio.AbstractEventLoop):
        self.pool = pool
        self.key = key
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.response: Response | None = None
        self.keep_alive = False
        self.closed = False
        self.idle_since = 0.0
        self._paused = False
        self._informational = False
        self._length_known = False
        self._headers: list[tuple[str, str]] = []

    # -- asyncio -------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.keep_alive = False
        response = self.response
        if response is not None and not response._complete:
            if response._headers_done and not self._length_known:
                response._complete = True  # a body that ends with the connection
                response._wake()
            else:
                response._fail(
                    ProtocolError(
                        "the server closed the connection before the response ended",
                        nothing_received=not response._received,
                    )
                )
        self.pool._forget(self)

    def data_received(self, data: bytes) -> None:
        response = self.response
        if response is None or response._complete:
            self.close()  # bytes nobody asked for: the connection can't be trusted any more
            return
        response._received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            response._fail(ProtocolError("the server switched protocols"))
            self.close()
        except httptools.HttpParserError as exc:
            response._fail(ProtocolError(f"malformed response ({exc})"))
            self.close()

    # -- llhttp --------------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._headers = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        response = self.response
        assert response is not None
        status = self.parser.get_status_code()
        if 100 <= status < 200:
            self._informational = True  # "100 Continue" and the like: the answer follows
            return
        headers = _merged(self._headers)
        response.status = status
        response.headers = headers
        response._headers_done = True
        self._length_known = (
            "content-length" in headers
            or "chunked" in headers.get("transfer-encoding", "").lower()
            or status in (204, 304)
        )
        response._wake()

    def on_body(self, body: bytes) -> None:
        response = self.response
        assert response is not None
        response._chunks.append(bytes(body))
        response._buffered += len(body)
        if response._buffered > HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        response._wake()

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        response = self.response
        assert response is not None
        self.keep_alive = self.parser.should_keep_alive()
        response._complete = True
        response._wake()

    # -- the pool's side -----------------------------------------------------------------------

    def send(self, request: bytes, read_timeout: float) -> Response:
        assert self.transport is not None
        response = self.response = Response(self, read_timeout)
        self.transport.write(request)
        return response

    def resume(self) -> None:
        if self._paused and self.transport is not None and not self.closed:
            self._paused = False
            self.transport.resume_reading()

    def usable(self) -> bool:
        return not self.closed and self.transport is not None and not self.transport.is_closing()

    def close(self) -> None:
        self.keep_alive = False
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


class Pool:
    """Connections to any number of origins; at most ``limit`` requests at once (more wait)."""

    def __init__(
        self,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        keepalive: float = 30.0,
        limit: int = 256,
        headers: Mapping[str, str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.keepalive = keepalive
        self._headers = header_block({"Accept-Encoding": "identity", **(headers or {})})
        self._ssl = ssl_context
        self._slots = asyncio.Semaphore(limit)
        self._idle: dict[tuple[str, str, int], deque[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._targets: dict[str, _Target] = {}
        self._closed = False

    async def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str] | bytes | None = None,
        *,
        read_timeout: float | None = None,
    ) -> Response:
        """Send ``body``; returns once the status line and headers are in. ``headers``: a
        mapping, or the same made once with :func:`header_block` (for a hot path).
        ``read_timeout``: this request's, instead of the pool's."""
        if self._closed:
            raise RuntimeError("the pool is closed")
        target = self._targets.get(url)
        if target is None:
            target = self._targets[url] = _target(url)
        request = b"".join(
            (
                target.head,
                self._headers,
                b""
                if not headers
                else headers
                if isinstance(headers, bytes)
                else header_block(headers),
                b"Content-Length: %d\r\n\r\n" % len(body),
                body,
            )
        )
        if read_timeout is None:
            read_timeout = self.read_timeout
        await self._slots.acquire()
        response: Response | None = None
        try:
            conn = self._take_idle(target.key)
            if conn is not None:
                response = conn.send(request, read_timeout)
                try:
                    await response._wait_headers()
                    return response
                except ProtocolError as exc:
                    if not exc.nothing_received:
                        raise
                # The server had closed it while it was idle: a new connection, once.
                conn.close()
                response = None
            conn = await self._connect(target)
            response = conn.send(request, read_timeout)
            await response._wait_headers()
            return response
        except BaseException:
            if response is not None:
                response._conn.close()
                response.release()  # gives the slot back
            else:
                self._slots.release()
            raise

    async def close(self) -> None:
        """Close every connection; requests in flight fail."""
        self._closed = True
        self._idle.clear()
        for conn in list(self._open):
            conn.close()
        await asyncio.sleep(0)  # let the transports finish closing

    # -- internals -----------------------------------------------------------------------------

    def _take_idle(self, key: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        if not idle:
            return None
        now = asyncio.get_running_loop().time()
        while idle:
            conn = idle.pop()  # the most recently used
            if conn.usable() and now - conn.idle_since < self.keepalive:
                return conn
            conn.close()
        return None

    async def _connect(self, target: _Target) -> _Connection:
        loop = asyncio.get_running_loop()
        context: ssl.SSLContext | None = None
        if target.tls:
            context = self._ssl or ssl.create_default_context()
            self._ssl = context
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await loop.create_connection(
                    lambda: _Connection(self, target.key, loop),
                    target.host,
                    target.port,
                    ssl=context,
                    server_hostname=target.host if context is not None else None,
                )
        except TimeoutError:
            raise ConnectError(
                f"no connection to {target.host}:{target.port} in {self.connect_timeout:g} s"
            ) from None
        except OSError as exc:
            raise ConnectError(
                f"cannot connect to {target.host}:{target.port}: {exc.strerror or exc}"
            ) from None
        self._open.add(conn)
        return conn

    def _release(self, conn: _Connection, reusable: bool) -> None:
        self._slots.release()
        conn.response = None
        transport = conn.transport
        if (
            reusable
            and not self._closed
            and conn.usable()
            and transport is not None
            and not transport.get_write_buffer_size()
        ):
            conn.idle_since = conn.loop.time()
            idle = self._idle.setdefault(conn.key, deque())
            idle.append(conn)
            # The oldest idle connection goes once it outlived the keep-alive time.
            if len(idle) > 1 and conn.idle_since - idle[0].idle_since >= self.keepalive:
                idle.popleft().close()
        else:
            conn.close()

    def _forget(self, conn: _Connection) -> None:
        self._open.discard(conn)


# -- the same interface over httpx ------------------------------------------------------------


class HttpxPool:
    """:class:`Pool`'s interface over an ``httpx.AsyncClient``: how the chat client is driven
    through ``httpx.MockTransport`` in tests (no sockets), and an escape hatch to anything
    httpx can reach. httpx's errors come out as this module's."""

    def __init__(
        self, client: Any, *, connect_timeout: float = 10.0, read_timeout: float = 60.0
    ) -> None:
        self.client = client
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout

    async def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        *,
        read_timeout: float | None = None,
    ) -> HttpxResponse:
        import httpx

        timeout = httpx.Timeout(
            connect=self.connect_timeout,
            read=self.read_timeout if read_timeout is None else read_timeout,
            write=self.connect_timeout,
            pool=self.connect_timeout,
        )
        request = self.client.build_request(
            "POST", url, content=body, headers=dict(headers or {}), timeout=timeout
        )
        try:
            response = await self.client.send(request, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise ConnectError(f"cannot connect ({type(exc).__name__})") from exc
        except httpx.TimeoutException as exc:
            raise ReadTimeout(f"no answer in time ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise ProtocolError(f"request failed ({type(exc).__name__})") from exc
        return HttpxResponse(response)

    async def close(self) -> None:
        await self.client.aclose()


class HttpxResponse(_Body):
    """:class:`Response`'s interface over an httpx streaming response."""

    def __init__(self, response: Any) -> None:
        self._response = response
        self._chunks = response.aiter_bytes()
        self.status: int = response.status_code
        self.headers = _merged(response.headers.multi_items())
        self.complete = False

    async def _next_chunk(self) -> bytes | None:
        import httpx

        while True:
            try:
                chunk = await anext(self._chunks)
            except StopAsyncIteration:
                self.complete = True
                return None
            except httpx.TimeoutException as exc:
                raise ReadTimeout(f"no data in time ({type(exc).__name__})") from exc
            except httpx.HTTPError as exc:
                raise ProtocolError(f"broken response ({type(exc).__name__})") from exc
            if chunk:
                return chunk

    async def aclose(self) -> None:
        await self._response.aclose()
