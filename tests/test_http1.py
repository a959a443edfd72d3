"""The small HTTP/1.1 client (bot/clients/http1.py) against raw servers on 127.0.0.1 that
answer exactly what each test scripts, well-formed or not."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import trustme

from bot.clients import http1

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


class RawServer:
    """Runs ``script(reader, writer, connection_number)`` for each connection and keeps
    every request it read (head and body)."""

    def __init__(self, script: Script, ssl_context: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.ssl_context = ssl_context
        self.connections = 0
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.closed_by_client = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.ssl_context)
        return self

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    def url(self, path: str = "/v1/chat/completions", scheme: str = "http") -> str:
        host = "localhost" if scheme == "https" else "127.0.0.1"
        return f"{scheme}://{host}:{self.port}{path}"

    async def read_request(self, reader: asyncio.StreamReader) -> bool:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            self.closed_by_client.set()
            return False
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.requests.append((lines[0], headers, body))
        return True

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self.script(reader, writer, self.connections)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def ok(body: bytes = b'{"ok":true}', extra: str = "") -> bytes:
    return (
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate for ``localhost`` from a throwaway CA, and a
    client context that trusts that CA."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    return server_context, client_context


@pytest.fixture
async def pools() -> AsyncIterator[list[http1.Pool]]:
    made: list[http1.Pool] = []
    yield made
    for pool in made:
        await pool.close()


def new_pool(pools: list[http1.Pool], **options: object) -> http1.Pool:
    pool = http1.Pool(**options)  # type: ignore[arg-type]
    pools.append(pool)
    return pool


async def keep_alive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
    server = keep_alive.server  # type: ignore[attr-defined]
    while await server.read_request(reader):
        writer.write(ok(b'{"n":%d}' % len(server.requests)))
        await writer.drain()


async def test_requests_reuse_one_keep_alive_connection(pools: list[http1.Pool]) -> None:
    server = await RawServer(keep_alive).start()
    keep_alive.server = server  # type: ignore[attr-defined]
    pool = new_pool(pools, headers={"User-Agent": "test/1"})
    try:
        for i in range(1, 6):
            async with await pool.post(
                server.url(), b'{"q":1}', {"Authorization": "Bearer k"}
            ) as response:
                assert response.status == 200
                assert response.headers["content-type"] == "application/json"
                assert await response.read() == b'{"n":%d}' % i
        assert server.connections == 1
        line, headers, body = server.requests[0]
        assert line == "POST /v1/chat/completions HTTP/1.1"
        assert headers["host"] == f"127.0.0.1:{server.port}"
        assert headers["authorization"] == "Bearer k"
        assert headers["user-agent"] == "test/1"
        assert headers["accept-encoding"] == "identity"
        assert headers["content-length"] == "7" and body == b'{"q":1}'
    finally:
        await server.stop()


async def test_concurrent_requests_open_more_connections_up_to_the_limit(
    pools: list[http1.Pool],
) -> None:
    gate = asyncio.Event()

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        while await server.read_request(reader):
            await gate.wait()
            writer.write(ok())
            await writer.drain()

    server = await RawServer(slow).start()
    pool = new_pool(pools, limit=2)
    try:
        calls = [asyncio.create_task(pool.post(server.url(), b"{}")) for _ in range(3)]
        await asyncio.sleep(0.2)
        assert server.connections == 2  # the third waits for a free slot
        gate.set()
        for call in calls:
            async with await call as response:
                assert await response.read() == b'{"ok":true}'
        assert server.connections == 2
    finally:
        await server.stop()


async def test_chunked_body_arrives_piece_by_piece(pools: list[http1.Pool]) -> None:
    second = asyncio.Event()

    async def sse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.read_request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + b"8\r\ndata: a\n\r\n"
        )
        await writer.drain()
        await second.wait()
        writer.write(b"8\r\ndata: b\n\r\n0\r\n\r\n")
        await writer.drain()
        await server.read_request(reader)  # keep-alive: the next request may come

    server = await RawServer(sse).start()
    pool = new_pool(pools)
    try:
        response = await pool.post(server.url(), b"{}")
        pieces = []
        async for chunk in response.iter_chunks():
            pieces.append(chunk)
            second.set()  # the second piece is sent only after the first was read
        response.release()
        assert pieces == [b"data: a\n", b"data: b\n"]
        assert response.complete
    finally:
        await server.stop()


async def test_body_ended_by_closing_the_connection(pools: list[http1.Pool]) -> None:
    async def until_close(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int
    ) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it")
        await writer.drain()

    server = await RawServer(until_close).start()
    pool = new_pool(pools)
    try:
        for _ in range(2):
            async with await pool.post(server.url(), b"{}") as response:
                assert await response.read() == b"all of it"
        assert server.connections == 2  # not reused
    finally:
        await server.stop()


async def test_a_connection_the_server_closed_while_idle_is_replaced(
    pools: list[http1.Pool],
) -> None:
    async def one_and_close(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int
    ) -> None:
        await server.read_request(reader)
        writer.write(ok(b'{"conn":%d}' % n))  # says keep-alive, then hangs up anyway
        await writer.drain()
        await asyncio.sleep(0.05)

    server = await RawServer(one_and_close).start()
    pool = new_pool(pools)
    try:
        async with await pool.post(server.url(), b"{}") as response:
            assert await response.read() == b'{"conn":1}'
        await asyncio.sleep(0.2)  # the server has closed it by now
        async with await pool.post(server.url(), b"{}") as response:
            assert await response.read() == b'{"conn":2}'
    finally:
        await server.stop()


async def test_idle_connections_older_than_keepalive_are_not_used(
    pools: list[http1.Pool],
) -> None:
    server = await RawServer(keep_alive).start()
    keep_alive.server = server  # type: ignore[attr-defined]
    pool = new_pool(pools, keepalive=0.1)
    try:
        async with await pool.post(server.url(), b"{}") as response:
            await response.read()
        await asyncio.sleep(0.25)
        async with await pool.post(server.url(), b"{}") as response:
            await response.read()
        assert server.connections == 2
    finally:
        await server.stop()


async def test_refused_connection_is_a_connect_error(pools: list[http1.Pool]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    pool = new_pool(pools)
    with pytest.raises(http1.ConnectError, match="cannot connect"):
        await pool.post(f"http://127.0.0.1:{port}/x", b"{}")
    # The slot came back: a limit of one still lets the next call through.
    pool = new_pool(pools, limit=1)
    for _ in range(3):
        with pytest.raises(http1.ConnectError):
            await pool.post(f"http://127.0.0.1:{port}/x", b"{}")


async def test_no_answer_is_a_read_timeout(pools: list[http1.Pool]) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.read_request(reader)
        await asyncio.sleep(10)

    server = await RawServer(silent).start()
    pool = new_pool(pools, read_timeout=0.2, limit=1)
    try:
        with pytest.raises(http1.ReadTimeout):
            await pool.post(server.url(), b"{}")
        with pytest.raises(TimeoutError):  # ReadTimeout is a TimeoutError; the slot is free
            await pool.post(server.url(), b"{}")
    finally:
        await server.stop()


async def test_silence_inside_the_body_is_a_read_timeout_and_not_reused(
    pools: list[http1.Pool],
) -> None:
    async def stalls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf")
        await writer.drain()
        await asyncio.sleep(10)

    server = await RawServer(stalls).start()
    pool = new_pool(pools, read_timeout=0.2)
    try:
        response = await pool.post(server.url(), b"{}")
        received = []
        with pytest.raises(http1.ReadTimeout):
            async for chunk in response.iter_chunks():
                received.append(chunk)
        response.release()
        assert received == [b"half"]
        response = await pool.post(server.url(), b"{}")
        response.release()
        assert server.connections == 2
    finally:
        await server.stop()


async def test_connection_closed_mid_body_is_a_protocol_error(pools: list[http1.Pool]) -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten..")
        await writer.drain()

    server = await RawServer(cut).start()
    pool = new_pool(pools)
    try:
        async with await pool.post(server.url(), b"{}") as response:
            with pytest.raises(http1.ProtocolError, match="closed"):
                await response.read()
    finally:
        await server.stop()


@pytest.mark.parametrize(
    "answer",
    [
        b"hello there\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
    ],
)
async def test_garbage_is_a_protocol_error(pools: list[http1.Pool], answer: bytes) -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.read_request(reader)
        writer.write(answer)
        await writer.drain()
        await asyncio.sleep(1)

    server = await RawServer(garbage).start()
    pool = new_pool(pools)
    try:
        with pytest.raises(http1.ProtocolError, match="malformed"):
            await pool.post(server.url(), b"{}")
    finally:
        await server.stop()


async def test_closed_before_answering_on_a_new_connection_is_an_error(
    pools: list[http1.Pool],
) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.read_request(reader)

    server = await RawServer(hang_up).start()
    pool = new_pool(pools)
    try:
        with pytest.raises(http1.ProtocolError):
            await pool.post(server.url(), b"{}")
        assert server.connections == 1  # a fresh connection is not retried: it was delivered
    finally:
        await server.stop()


async def test_informational_response_is_skipped(pools: list[http1.Pool]) -> None:
    async def cont(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" + ok(extra="X-A: 1\r\nX-A: 2\r\n"))
        await writer.drain()
        await server.read_request(reader)

    server = await RawServer(cont).start()
    pool = new_pool(pools)
    try:
        async with await pool.post(server.url(), b"{}") as response:
            assert response.status == 200
            assert response.headers["x-a"] == "1, 2"
            assert await response.read() == b'{"ok":true}'
    finally:
        await server.stop()


async def test_large_body_arrives_whole_through_back_pressure(pools: list[http1.Pool]) -> None:
    payload = bytes(range(256)) * 8192  # 2 MiB, well over the high-water mark

    async def big(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.read_request(reader)
        writer.write(ok(payload))
        await writer.drain()
        await server.read_request(reader)

    server = await RawServer(big).start()
    pool = new_pool(pools)
    try:
        async with await pool.post(server.url(), b"{}") as response:
            first = await anext(response.iter_chunks())
            await asyncio.sleep(0.1)  # the server keeps sending while nobody reads
            rest = await response.read()
        assert first + rest == payload
        assert await response.read(limit=10) == b""
    finally:
        await server.stop()


async def test_read_with_a_limit_stops_early(pools: list[http1.Pool]) -> None:
    server = await RawServer(keep_alive).start()
    keep_alive.server = server  # type: ignore[attr-defined]
    pool = new_pool(pools)
    try:
        async with await pool.post(server.url(), b"{}") as response:
            assert await response.read(limit=3) == b'{"n'
    finally:
        await server.stop()


@pytest.mark.parametrize(
    "headers",
    [{"X-Evil": "a\r\nInjected: yes"}, {"Bad\nName": "v"}, {"X-Name": "naïve"}],
)
async def test_headers_that_would_break_the_request_are_refused(
    pools: list[http1.Pool], headers: dict[str, str]
) -> None:
    pool = new_pool(pools)
    with pytest.raises(ValueError):
        await pool.post("http://127.0.0.1:9/x", b"{}", headers)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "http:///nohost", "not a url"])
async def test_only_http_urls(pools: list[http1.Pool], url: str) -> None:
    pool = new_pool(pools)
    with pytest.raises(ValueError):
        await pool.post(url, b"{}")


async def test_https_with_a_trusted_certificate(pools: list[http1.Pool]) -> None:
    server_context, client_context = tls_contexts()
    server = await RawServer(keep_alive, ssl_context=server_context).start()
    keep_alive.server = server  # type: ignore[attr-defined]
    pool = new_pool(pools, ssl_context=client_context)
    untrusting = new_pool(pools)  # the system's CAs do not know the test CA
    try:
        for i in (1, 2):
            async with await pool.post(server.url(scheme="https"), b"{}") as response:
                assert await response.read() == b'{"n":%d}' % i
        assert server.connections == 1
        with pytest.raises(http1.ConnectError):
            await untrusting.post(server.url(scheme="https"), b"{}")
    finally:
        await server.stop()


async def test_close_closes_idle_connections(pools: list[http1.Pool]) -> None:
    server = await RawServer(keep_alive).start()
    keep_alive.server = server  # type: ignore[attr-defined]
    pool = http1.Pool()
    try:
        async with await pool.post(server.url(), b"{}") as response:
            await response.read()
        await pool.close()
        async with asyncio.timeout(2):
            await server.closed_by_client.wait()
        with pytest.raises(RuntimeError):
            await pool.post(server.url(), b"{}")
    finally:
        await server.stop()


def test_the_pool_on_uvloop_which_both_fronts_run_on() -> None:
    """uvloop's transports differ from asyncio's (not subclasses; connection_made timing):
    the same exchanges, plain and over TLS, on a uvloop loop."""
    uvloop = pytest.importorskip("uvloop")  # installed everywhere but Windows

    async def scenario() -> None:
        server_context, client_context = tls_contexts()
        for context, scheme in ((None, "http"), (server_context, "https")):
            server = await RawServer(keep_alive, ssl_context=context).start()
            keep_alive.server = server  # type: ignore[attr-defined]
            pool = http1.Pool(ssl_context=client_context)
            try:
                for i in (1, 2, 3):
                    async with await pool.post(server.url(scheme=scheme), b"{}") as response:
                        assert response.status == 200
                        assert await response.read() == b'{"n":%d}' % i
                assert server.connections == 1
            finally:
                await pool.close()
                await server.stop()

    uvloop.run(scenario())
