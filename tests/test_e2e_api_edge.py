"""``python -m api`` as a process against slow and hostile clients, over raw sockets: slow
heads and silent bodies are cut off after API_CLIENT_TIMEOUT, a bad key is refused before
the body is read, and nothing a client sends can forge a log line or write a traceback."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import urlsplit

import pytest

from tests.e2e_helpers import start_api

TIMEOUT = "1"  # API_CLIENT_TIMEOUT for these tests, in seconds
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [A-Z]+ ")


@pytest.fixture
async def gateway(tmp_path, upstream):
    proc, url = await start_api(tmp_path, upstream.url, API_CLIENT_TIMEOUT=TIMEOUT)
    try:
        yield proc, url
    finally:
        assert await proc.stop() == 0
    assert "Traceback" not in proc.stderr
    assert "unhandled" not in proc.stderr
    assert not [x for x in proc.stderr_lines if re.match(r"\S+ \S+ (ERROR|CRITICAL) ", x)]


async def connect(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    parts = urlsplit(url)
    return await asyncio.open_connection(parts.hostname, parts.port)


async def read_until_closed(reader: asyncio.StreamReader, within: float = 15.0) -> bytes:
    """Everything the server sends until it closes the connection (fails after ``within``
    seconds: a generous bound, not a speed check)."""
    data = b""
    async with asyncio.timeout(within):
        while chunk := await reader.read(65536):
            data += chunk
    return data


async def test_a_slow_request_head_is_cut_off(gateway):
    proc, url = gateway
    reader, writer = await connect(url)
    writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
    await writer.drain()
    for _ in range(3):  # a header byte now and then does not keep it open
        await asyncio.sleep(0.4)
        if writer.is_closing():
            break
        writer.write(b"X")
    assert await read_until_closed(reader) == b""
    writer.close()
    await proc.wait_for_log("no complete request head in 1 s")


async def test_an_idle_new_connection_is_cut_off(gateway):
    _proc, url = gateway
    reader, writer = await connect(url)
    assert await read_until_closed(reader) == b""
    writer.close()


async def test_a_body_that_never_comes_is_a_408_and_a_close(gateway):
    proc, url = gateway
    reader, writer = await connect(url)
    writer.write(
        b"POST /sd HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 200\r\n\r\n{"
    )
    await writer.drain()
    answer = await read_until_closed(reader)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"request_timeout" in answer
    await proc.wait_for_log("gave up on a slow client")


async def test_a_bad_key_is_401_before_a_big_body_is_sent(gateway):
    _proc, url = gateway
    reader, writer = await connect(url)
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer vc_nope\r\n"
        b"Content-Type: application/json\r\nContent-Length: 5000000\r\n\r\n"
    )
    await writer.drain()
    answer = await read_until_closed(reader)  # answered, then closed: no 5 MB read
    writer.close()
    assert answer.startswith(b"HTTP/1.1 401 ")
    assert b"invalid_api_key" in answer


async def test_a_client_leaving_mid_upload_is_an_info_line(gateway):
    proc, url = gateway
    _reader, writer = await connect(url)
    writer.write(
        b"POST /sd HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 5000\r\n\r\n{"token": "vc_'
    )
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.close()
    await proc.wait_for_log("went away while sending its request")
    line = next(x for x in proc.stderr_lines if "went away" in x)
    assert " INFO " in line


async def test_request_text_cannot_forge_a_log_line(gateway):
    proc, url = gateway
    reader, writer = await connect(url)
    writer.write(
        b"GET /x%0a2026-01-01%2000:00:00%20ERROR%20api%20[-]:%20INJECTED%1b[31m HTTP/1.1\r\n"
        b"Host: x\r\nConnection: close\r\n\r\n"
    )
    await writer.drain()
    answer = await read_until_closed(reader)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 404 ")
    await proc.wait_for_log("INJECTED")
    lines = [x for x in proc.stderr_lines if "INJECTED" in x]
    assert len(lines) == 1
    assert LOG_LINE.match(lines[0]) and " INFO api.access " in lines[0]
    assert "\\n2026-01-01 00:00:00 ERROR api [-]: INJECTED\\x1b[31m" in lines[0]
    assert all(LOG_LINE.match(x) or x.startswith(" ") for x in proc.stderr_lines)


async def test_requests_aiohttp_cannot_parse_are_one_info_line(gateway):
    proc, url = gateway
    reader, writer = await connect(url)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\nInjected: 1\r\n\r\n")
    await writer.drain()
    answer = await read_until_closed(reader)
    writer.close()
    assert re.match(rb"HTTP/1\.[01] 400 ", answer)
    await proc.wait_for_log("Error handling request")
    line = next(x for x in proc.stderr_lines if "Error handling request" in x)
    assert " INFO api.http " in line


async def test_deep_json_is_a_400_without_a_traceback(gateway):
    _proc, url = gateway
    body = b"[" * 60_000
    reader, writer = await connect(url)
    writer.write(
        b"POST /sd HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    answer = await read_until_closed(reader)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"invalid_json" in answer


async def test_keep_alive_serves_several_requests_then_times_only_new_heads(gateway):
    proc, url = gateway
    reader, writer = await connect(url)
    for _ in range(3):  # more than API_CLIENT_TIMEOUT in all: only heads are timed
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        length = int(re.search(rb"Content-Length: (\d+)", head).group(1))
        await reader.readexactly(length)
        await asyncio.sleep(0.4)
    writer.write(b"GET /health HTTP/1.1\r\n")  # and then nothing more
    await writer.drain()
    assert await read_until_closed(reader) == b""
    writer.close()
    await proc.wait_for_log("no complete request head")
