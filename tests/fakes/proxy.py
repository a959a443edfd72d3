"""Proxies on 127.0.0.1 that record what went through them.

``ForwardProxy`` is a tiny HTTP forward proxy.

Two ways through it, as a real HTTP proxy offers:
- plain-HTTP proxying (absolute-form request targets, ``GET http://host:port/path``): the
  request head is rewritten to origin form, with ``Connection: close`` so that each connection
  carries one request, and sent to the target;
- tunnels (``CONNECT host:port``, what aiohttp-socks asks an HTTP proxy for): ``200`` once the
  target is connected;
then bytes are piped both ways until either side closes. ``requests`` holds each request
line as the client sent it. With ``allow=n`` it serves the first ``n`` requests and refuses
every later one with ``403`` (a proxy whose policy changed under a running client).

``Socks5Proxy`` speaks SOCKS5 (RFC 1928): no authentication or username/password (RFC 1929),
``CONNECT`` only; ``requests`` holds ``"CONNECT host:port"`` and ``logins`` the credentials
it was given.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Self
from urllib.parse import urlsplit

__all__ = ["ForwardProxy", "Socks5Proxy"]


class _ProxyServer:
    scheme = ""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            await self._handle(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()
            self._tasks.discard(task)
            self._writers.discard(writer)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def _connect(
        self, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection to the target, closed with the proxy."""
        up_reader, up_writer = await asyncio.open_connection(host, port)
        self._writers.add(up_writer)
        return up_reader, up_writer


class ForwardProxy(_ProxyServer):
    scheme = "http"

    def __init__(self, *, allow: int | None = None) -> None:
        super().__init__()
        self.allow = allow

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        line, _, rest = head.partition(b"\r\n")
        method, target, version = line.decode("latin-1").split(" ", 2)
        self.requests.append(line.decode("latin-1"))
        if self.allow is not None and len(self.requests) > self.allow:
            writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            up_reader, up_writer = await self._connect(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            return
        parts = urlsplit(target)
        if parts.scheme != "http" or not parts.hostname:
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        headers = [
            header
            for header in rest.split(b"\r\n")
            if header
            and header.split(b":", 1)[0].strip().lower()
            not in {b"connection", b"proxy-connection", b"keep-alive"}
        ]
        head_out = f"{method} {path} {version}\r\n".encode("latin-1")
        head_out += b"".join(h + b"\r\n" for h in headers) + b"Connection: close\r\n\r\n"
        up_reader, up_writer = await self._connect(parts.hostname, parts.port or 80)
        up_writer.write(head_out)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


class Socks5Proxy(_ProxyServer):
    scheme = "socks5"

    def __init__(self) -> None:
        super().__init__()
        self.logins: list[tuple[str, str]] = []

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        version, count = await reader.readexactly(2)
        methods = await reader.readexactly(count)
        if version != 5:
            return
        if 2 in methods:  # username/password, offered when the client has credentials
            writer.write(b"\x05\x02")
            _, size = await reader.readexactly(2)
            user = (await reader.readexactly(size)).decode()
            size = (await reader.readexactly(1))[0]
            self.logins.append((user, (await reader.readexactly(size)).decode()))
            writer.write(b"\x01\x00")
        else:
            writer.write(b"\x05\x00")
        _, command, _, kind = await reader.readexactly(4)
        if kind == 1:
            host = ".".join(str(b) for b in await reader.readexactly(4))
        elif kind == 3:
            host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
        else:
            host = ":".join(
                (await reader.readexactly(16)).hex()[i : i + 4] for i in range(0, 32, 4)
            )
        port = int.from_bytes(await reader.readexactly(2), "big")
        self.requests.append(f"CONNECT {host}:{port}")
        if command != 1:
            writer.write(b"\x05\x07\x00\x01" + bytes(6))  # command not supported
            return
        up_reader, up_writer = await self._connect(host, port)
        writer.write(b"\x05\x00\x00\x01" + bytes(6))
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()
