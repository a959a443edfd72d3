"""The shared upstream plumbing (bot/clients/upstream.py) and misbehaving upstreams, through
every client of the project: the bot's chat and image clients and the gateway's chat and
image endpoints, all on the production HTTP client against servers on 127.0.0.1."""

from __future__ import annotations

import json
import socket
from contextlib import aclosing
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from bot.clients.openai_compat import ChatClient, Provider, RetryPolicy
from bot.clients.upstream import (
    MAX_BODY_BYTES,
    MAX_RETRY_AFTER,
    MAX_SSE_LINE_BYTES,
    LineTooLong,
    SseReader,
    new_http_client,
    parse_retry_after,
    retry_after_seconds,
    stream_format,
)
from bot.clients.visioncraft import ImageClient
from bot.services.errors import UpstreamBusy, UpstreamError
from tests.fakes.proxy import ForwardProxy
from tests.fakes.upstream import HTML_ERROR_PAGE, FakeUpstream, ScriptedUpstream
from tests.gateway_helpers import http_client, running_gateway, seed_key

NOW = 1_800_000_000.0
VC_MODEL = "Llama-3.1-70B-Instruct"
MESSAGES = [{"role": "user", "content": "hi"}]


def http_date(year: int) -> str:
    return format_datetime(datetime(year, 1, 1, tzinfo=UTC), usegmt=True)


# Every form of Retry-After an upstream might send, and the whole seconds a caller is told.
RETRY_AFTER_FORMS = [
    ("12", 12),
    ("  3.2 ", 4),
    ("0", 1),
    ("-5", 1),
    ("inf", MAX_RETRY_AFTER),
    ("-inf", 1),
    ("Infinity", MAX_RETRY_AFTER),
    ("1e400", MAX_RETRY_AFTER),
    ("99999999999999999999999999", MAX_RETRY_AFTER),
    ("nan", 30),
    ("junk", 30),
    ("", 30),
    ("Wed, 21 Oct 2099 07:28:00 GMT", MAX_RETRY_AFTER),
    ("Wed, 21 Oct 2015 07:28:00 GMT", 1),  # in the past
    ("Mon, 99 Foo 2099 99:99:99 GMT", 30),  # looks like a date, is not one
]


# -- the parser ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "seconds"), RETRY_AFTER_FORMS)
def test_retry_after_is_always_a_bounded_whole_number(value: str, seconds: int) -> None:
    assert retry_after_seconds(value) == seconds


def test_retry_after_dates_count_from_now() -> None:
    in_two_minutes = format_datetime(datetime.fromtimestamp(NOW + 120, UTC), usegmt=True)
    assert parse_retry_after(in_two_minutes, now=NOW) == pytest.approx(120)
    assert parse_retry_after(http_date(2099), now=NOW) == MAX_RETRY_AFTER
    assert parse_retry_after(http_date(2000), now=NOW) == 0.0
    naive = "Thu, 15 Jan 2027 08:00:00 -0000"  # no zone: taken as UTC, not local time
    expected = datetime(2027, 1, 15, 8, tzinfo=UTC).timestamp() - NOW
    assert parse_retry_after(naive, now=NOW) == pytest.approx(min(expected, MAX_RETRY_AFTER))


@pytest.mark.parametrize("value", [None, "", "nan", "junk", "x" * 10_000, "1" * 5000 + "junk"])
def test_meaningless_retry_after_is_none(value: str | None) -> None:
    assert parse_retry_after(value) is None


# -- the event-stream reader ---------------------------------------------------------------------


def test_sse_reader_splits_events_across_any_chunking() -> None:
    raw = (
        b": keep-alive\r\n\r\n"
        b'data: {"a": "\xc3\xa9t\xc3\xa9"}\r\n\r\n'
        b"event: x\nid: 1\ndata: one\ndata: two\n\n"
        b"data:[DONE]\n\n"
    )
    for size in (1, 2, 3, 7, len(raw)):
        reader = SseReader()
        events: list[str] = []
        for i in range(0, len(raw), size):
            events += reader.feed(raw[i : i + size])
        events += reader.close()
        assert events == ['{"a": "été"}', "one\ntwo", "[DONE]"], size


def test_sse_reader_flushes_an_event_without_its_blank_line() -> None:
    reader = SseReader()
    assert reader.feed(b"data: last") == []
    assert reader.close() == ["last"]


@pytest.mark.parametrize("chunk", [1000, 10])
def test_sse_reader_caps_one_line(chunk: int) -> None:
    reader = SseReader(max_line=100)
    raw = b"data: " + b"x" * 200 + b"\n\n"
    with pytest.raises(LineTooLong):
        for i in range(0, len(raw), chunk):
            reader.feed(raw[i : i + chunk])
    ok = SseReader(max_line=100)
    assert ok.feed(b"data: " + b"y" * 90 + b"\n\n") == ["y" * 90]


@pytest.mark.parametrize(
    ("content_type", "kind"),
    [
        ("text/event-stream", "sse"),
        ("text/event-stream; charset=utf-8", "sse"),
        ("application/json", "json"),
        ("Application/JSON; charset=utf-8", "json"),
        ("text/html", None),
        ("text/plain", None),
        ("", None),
        (None, None),
    ],
)
def test_stream_format(content_type: str | None, kind: str | None) -> None:
    assert stream_format(content_type) == kind


# -- the bot's clients ---------------------------------------------------------------------------


def chat_client(http: httpx.AsyncClient, url: str, *, attempts: int = 1) -> ChatClient:
    provider = Provider("visioncraft", "VisionCraft", url + "/v1/chat/completions", "vk")

    async def no_sleep(seconds: float) -> None:
        return None

    return ChatClient(http, provider, retry=RetryPolicy(attempts=attempts), sleep=no_sleep)


async def collect(client: ChatClient) -> list[str]:
    async with aclosing(client.stream("m", MESSAGES)) as pieces:
        return [piece async for piece in pieces]


def busy(value: str):
    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": value}, json={"error": "slow"})

    return respond


@pytest.mark.parametrize(("value", "seconds"), RETRY_AFTER_FORMS)
async def test_chat_client_busy_with_any_retry_after(
    scripted: ScriptedUpstream, http: httpx.AsyncClient, value: str, seconds: int
) -> None:
    scripted.responder = busy(value)
    with pytest.raises(UpstreamBusy) as info:
        await collect(chat_client(http, scripted.url))
    assert info.value.params["retry_in"] == seconds


@pytest.mark.parametrize("value", ["inf", "1e400", http_date(2099)])
async def test_chat_client_does_not_wait_an_endless_retry_after(
    scripted: ScriptedUpstream, http: httpx.AsyncClient, value: str
) -> None:
    calls: list[httpx.Request] = []

    def respond(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return busy(value)(request)

    scripted.responder = respond
    with pytest.raises(UpstreamBusy) as info:
        await collect(chat_client(http, scripted.url, attempts=3))
    assert info.value.params["retry_in"] == MAX_RETRY_AFTER
    assert len(calls) == 1  # told to the user at once, not slept on


@pytest.mark.parametrize(("value", "seconds"), RETRY_AFTER_FORMS)
async def test_image_client_busy_with_any_retry_after(
    scripted: ScriptedUpstream, http: httpx.AsyncClient, value: str, seconds: int
) -> None:
    scripted.responder = busy(value)
    client = ImageClient(http, scripted.url, "vk")
    with pytest.raises(UpstreamBusy) as info:
        await client.generate_image({"model": "m", "prompt": "p"})
    assert info.value.params["retry_in"] == seconds


@pytest.mark.parametrize("content_type", ["text/html", "text/plain", "application/octet-stream"])
async def test_chat_stream_answered_with_a_page_is_an_upstream_error(
    scripted: ScriptedUpstream, http: httpx.AsyncClient, content_type: str
) -> None:
    scripted.responder = lambda request: httpx.Response(
        200, text=HTML_ERROR_PAGE, headers={"content-type": content_type}
    )
    with pytest.raises(UpstreamError) as info:
        await collect(chat_client(http, scripted.url))
    assert type(info.value) is UpstreamError
    assert "not a stream" in info.value.params["reason"]
    assert content_type in info.value.params["reason"]


async def test_chat_completion_larger_than_the_cap_is_an_upstream_error(
    scripted: ScriptedUpstream, http: httpx.AsyncClient
) -> None:
    big = json.dumps({"choices": [{"message": {"content": "x" * (MAX_BODY_BYTES + 10)}}]})
    scripted.responder = lambda request: httpx.Response(
        200, content=big.encode(), headers={"content-type": "application/json"}
    )
    with pytest.raises(UpstreamError, match="larger than"):
        await chat_client(http, scripted.url).complete("m", MESSAGES)


async def test_chat_stream_line_larger_than_the_cap_is_an_upstream_error(
    scripted: ScriptedUpstream, http: httpx.AsyncClient
) -> None:
    line = b"data: " + b"x" * (MAX_SSE_LINE_BYTES + 10)

    async def body():
        for i in range(0, len(line), 65536):
            yield line[i : i + 65536]
        yield b"\n\ndata: [DONE]\n\n"

    scripted.responder = lambda request: httpx.Response(
        200, content=body(), headers={"content-type": "text/event-stream"}
    )
    with pytest.raises(UpstreamError, match="line too long"):
        await collect(chat_client(http, scripted.url))


async def test_refused_connection_is_retried_then_an_upstream_error(
    http: httpx.AsyncClient,
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(UpstreamError, match="cannot connect"):
        await collect(chat_client(http, f"http://127.0.0.1:{port}", attempts=2))


# -- proxies from the environment ----------------------------------------------------------------


def proxy_env(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


async def test_http_proxy_from_the_environment_is_used(
    monkeypatch: pytest.MonkeyPatch, upstream: FakeUpstream
) -> None:
    async with ForwardProxy() as proxy:
        proxy_env(monkeypatch, HTTP_PROXY=proxy.url)
        http = new_http_client(user_agent="test")
        try:
            assert await collect(chat_client(http, upstream.url)) == list(_pieces(upstream.reply))
            images = ImageClient(http, upstream.url, "vk")
            assert await images.list_models() == upstream.sd_models
        finally:
            await http.aclose()
    assert proxy.requests[0] == f"POST {upstream.url}/v1/chat/completions HTTP/1.1"
    assert f"GET {upstream.url}/sd/models HTTP/1.1" in proxy.requests
    assert len(upstream.requests) == 2


async def test_no_proxy_bypasses_the_proxy(
    monkeypatch: pytest.MonkeyPatch, upstream: FakeUpstream
) -> None:
    async with ForwardProxy() as proxy:
        proxy_env(monkeypatch, HTTP_PROXY=proxy.url, NO_PROXY="127.0.0.1")
        http = new_http_client(user_agent="test")
        try:
            assert await collect(chat_client(http, upstream.url))
        finally:
            await http.aclose()
    assert proxy.requests == []
    assert len(upstream.requests) == 1


def _pieces(text: Any) -> list[str]:
    return [text[i : i + 8] for i in range(0, len(text), 8)]


# -- the gateway ---------------------------------------------------------------------------------


async def test_gateway_chat_busy_is_503_with_an_integer_retry_after(tmp_path, upstream) -> None:
    async with running_gateway(tmp_path, upstream) as gw, http_client() as client:
        key = await seed_key(gw.db, 1)
        for value, seconds in RETRY_AFTER_FORMS:
            upstream.fail("/v1/chat/completions", 429, headers={"Retry-After": value}, times=1)
            for stream in (False, True):
                if stream:
                    upstream.fail(
                        "/v1/chat/completions", 429, headers={"Retry-After": value}, times=1
                    )
                response = await client.post(
                    f"{gw.url}/v1/chat/completions",
                    headers={"Authorization": f"Bearer {key}"},
                    json={"model": VC_MODEL, "messages": MESSAGES, "stream": stream},
                )
                assert response.status_code == 503, (value, stream)
                assert response.headers["Retry-After"] == str(seconds), (value, stream)
                assert response.json()["error"]["code"] == "upstream_busy"


async def test_gateway_images_busy_is_503_with_an_integer_retry_after(tmp_path, upstream) -> None:
    async with running_gateway(tmp_path, upstream) as gw, http_client() as client:
        key = await seed_key(gw.db, 2)
        for value, seconds in RETRY_AFTER_FORMS:
            upstream.fail("/sd", 429, headers={"Retry-After": value}, times=1)
            response = await client.post(
                f"{gw.url}/sd", json={"token": key, "model": "sdxl-base", "prompt": "a fox"}
            )
            assert response.status_code == 503, value
            assert response.headers["Retry-After"] == str(seconds), value


@pytest.mark.parametrize("content_type", ["text/html", "text/plain"])
async def test_gateway_stream_answered_with_a_page_is_502(
    tmp_path, upstream, content_type: str
) -> None:
    upstream.fail("/v1/chat/completions", 200, body=HTML_ERROR_PAGE, content_type=content_type)
    async with running_gateway(tmp_path, upstream) as gw, http_client() as client:
        key = await seed_key(gw.db, 3)
        response = await client.post(
            f"{gw.url}/v1/chat/completions",
            headers={"Authorization": f"Bearer {key}"},
            json={"model": VC_MODEL, "messages": MESSAGES, "stream": True},
        )
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] == "upstream_error"
    assert "nginx" not in response.text and "<html" not in response.text


async def test_gateway_completion_larger_than_the_cap_is_502(tmp_path, upstream) -> None:
    upstream.reply = "x" * (MAX_BODY_BYTES + 10)
    async with running_gateway(tmp_path, upstream) as gw, http_client() as client:
        key = await seed_key(gw.db, 4)
        response = await client.post(
            f"{gw.url}/v1/chat/completions",
            headers={"Authorization": f"Bearer {key}"},
            json={"model": VC_MODEL, "messages": MESSAGES},
        )
    assert response.status_code == 502
    assert "too large" in response.json()["error"]["message"]


async def test_gateway_stream_line_larger_than_the_cap_ends_with_an_error(
    tmp_path, upstream
) -> None:
    line = b"data: " + b"x" * (MAX_SSE_LINE_BYTES + 1) + b"\n\ndata: [DONE]\n\n"
    upstream.fail("/v1/chat/completions", 200, body=line, content_type="text/event-stream")
    async with running_gateway(tmp_path, upstream) as gw, http_client() as client:
        key = await seed_key(gw.db, 5)
        response = await client.post(
            f"{gw.url}/v1/chat/completions",
            headers={"Authorization": f"Bearer {key}"},
            json={"model": VC_MODEL, "messages": MESSAGES, "stream": True},
        )
    assert response.status_code == 200  # the stream had started
    assert len(response.content) < MAX_SSE_LINE_BYTES + 70_000  # not the whole line
    last = response.content.rstrip().rsplit(b"\n\n", 1)[-1]
    assert last.startswith(b"data: ")
    error = json.loads(last[len(b"data: ") :])["error"]
    assert error["code"] == "upstream_error"
    assert b"[DONE]" not in response.content
