"""The aiohttp-backed httpx transport against a real local server (tests/fakes/upstream.py)."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket

import httpx
import pytest
from aiohttp import web

from bot.clients.transport import AiohttpTransport


@pytest.fixture
async def http():
    client = httpx.AsyncClient(transport=AiohttpTransport(limit=10), timeout=5)
    try:
        yield client
    finally:
        await client.aclose()


async def test_json_request_and_response(upstream, http):
    upstream.reply = "pong"
    response = await http.post(
        f"{upstream.url}/v1/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "ping"}]},
        headers={"Authorization": "Bearer k1"},
    )
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "pong"
    [recorded] = upstream.requests
    assert recorded.headers["Authorization"] == "Bearer k1"
    assert recorded.headers["Content-Type"] == "application/json"
    assert recorded.json_body["messages"][0]["content"] == "ping"


async def test_stream_is_read_as_it_arrives_and_connection_is_reused(upstream, http):
    upstream.stream_chunks = ["a", "b", "c"]
    for _ in range(3):
        async with http.stream(
            "POST", f"{upstream.url}/chat/completions", json={"stream": True, "messages": []}
        ) as response:
            lines = [line async for line in response.aiter_lines() if line.startswith("data:")]
        assert lines[-1] == "data: [DONE]"
        assert len(lines) == 6  # role, a, b, c, stop, [DONE]
    transport = http._transport
    assert isinstance(transport, AiohttpTransport) and transport._session is not None
    # Three requests, each read to the end: one kept-alive connection served them all.
    connector = transport._session.connector
    assert connector is not None
    assert sum(len(conns) for conns in connector._conns.values()) == 1


async def test_error_status_and_binary_body(upstream, http):
    upstream.fail("/sd", status=503, body={"detail": "overloaded"}, times=1)
    failed = await http.post(f"{upstream.url}/sd", json={"prompt": "x"})
    assert failed.status_code == 503 and failed.json() == {"detail": "overloaded"}
    ok = await http.post(f"{upstream.url}/sd", json={"prompt": "x"})
    assert ok.status_code == 200 and ok.headers["content-type"] == "image/png"
    assert ok.content.startswith(b"\x89PNG")


async def test_gzip_is_decoded_once():
    payload = {"hello": "world" * 50}

    async def handler(request: web.Request) -> web.Response:
        body = gzip.compress(json.dumps(payload).encode())
        return web.Response(
            body=body, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with httpx.AsyncClient(transport=AiohttpTransport()) as client:
            response = await client.get(f"http://127.0.0.1:{port}/")
        assert response.json() == payload
    finally:
        await runner.cleanup()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_refused_connection_is_a_connect_error(http):
    with pytest.raises(httpx.ConnectError):
        await http.get(f"http://127.0.0.1:{_closed_port()}/")


async def test_silence_is_a_read_timeout(upstream):
    upstream.hang("/models-llm", 30)
    async with httpx.AsyncClient(transport=AiohttpTransport()) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get(f"{upstream.url}/models-llm", timeout=httpx.Timeout(5, read=0.3))


async def test_stall_mid_stream_is_a_read_timeout(upstream):
    upstream.stream_chunks = ["a", "b", "c"]
    upstream.stall_stream_after = 1
    async with (
        httpx.AsyncClient(transport=AiohttpTransport()) as client,
        client.stream(
            "POST",
            f"{upstream.url}/chat/completions",
            json={"stream": True},
            timeout=httpx.Timeout(5, read=0.3),
        ) as response,
    ):
        with pytest.raises(httpx.ReadTimeout):
            async for _ in response.aiter_lines():
                pass


async def test_stream_cut_half_way_is_a_protocol_error(upstream, http):
    upstream.stream_chunks = ["a", "b", "c", "d"]
    upstream.break_stream_after = 2
    received = []
    async with http.stream(
        "POST", f"{upstream.url}/chat/completions", json={"stream": True}
    ) as response:
        with pytest.raises(httpx.HTTPError):
            async for line in response.aiter_lines():
                received.append(line)
    assert any('"a"' in line for line in received)
    assert not any("[DONE]" in line for line in received)


async def test_closing_the_client_closes_the_session(upstream):
    transport = AiohttpTransport()
    client = httpx.AsyncClient(transport=transport)
    await client.get(f"{upstream.url}/models-llm")
    session = transport._session
    assert session is not None
    await client.aclose()
    assert session.closed
    await asyncio.sleep(0)
