"""The OpenAI-compatible chat client (the production HTTP client) against scripted answers
from a server on 127.0.0.1 (tests/fakes/upstream.py ScriptedUpstream)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import Any, Protocol

import httpx
import pytest

from bot.clients.openai_compat import ChatClient, Provider, RetryPolicy, Timeouts
from bot.clients.upstream import error_text
from bot.services.errors import UpstreamBusy, UpstreamError, UpstreamUnavailable
from tests.fakes.upstream import ScriptedUpstream

PATH = "/v1/chat/completions"
KEY = "sk-operator-secret-123"


def sse(*events: Any, done: bool = True) -> bytes:
    out = b""
    for event in events:
        if isinstance(event, bytes):
            out += event
        else:
            out += b"data: " + json.dumps(event).encode() + b"\n\n"
    if done:
        out += b"data: [DONE]\n\n"
    return out


def chunk(text: str, finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]}


def completion(text: str) -> dict[str, Any]:
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}


class Recorder:
    """A MockTransport handler answering from a list of responders, one per request."""

    def __init__(self, *responders: Callable[[httpx.Request], httpx.Response]) -> None:
        self.responders = list(responders)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        responder = self.responders.pop(0) if len(self.responders) > 1 else self.responders[0]
        return responder(request)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]


def stream_response(body: bytes | AsyncIterator[bytes], status: int = 200, **headers: str):
    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            status, headers={"content-type": "text/event-stream", **headers}, content=body
        )

    return respond


def json_response(payload: Any, status: int = 200, **headers: str):
    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=payload, headers=headers)

    return respond


def text_response(text: str, status: int = 200, content_type: str = "text/html"):
    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, text=text, headers={"content-type": content_type})

    return respond


def connect_error(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


class ClientFactory(Protocol):
    def __call__(
        self,
        handler: Callable[[httpx.Request], httpx.Response],
        *,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        sleeps: Sleeps | None = None,
        key: str | None = KEY,
    ) -> ChatClient: ...


@pytest.fixture
def make_client(scripted: ScriptedUpstream, http: httpx.AsyncClient) -> ClientFactory:
    """A chat client on the production HTTP client; ``handler`` writes the server's answers."""

    def make(
        handler: Callable[[httpx.Request], httpx.Response],
        *,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        sleeps: Sleeps | None = None,
        key: str | None = KEY,
    ) -> ChatClient:
        scripted.responder = handler
        provider = Provider("visioncraft", "VisionCraft", scripted.url + PATH, key)
        return ChatClient(http, provider, timeouts=timeouts, retry=retry, sleep=sleeps or Sleeps())

    return make


async def collect(client: ChatClient, **params: Any) -> list[str]:
    messages = [{"role": "user", "content": "hi"}]
    async with aclosing(client.stream("m1", messages, **params)) as pieces:
        return [piece async for piece in pieces]


# -- streaming --------------------------------------------------------------------------------


async def test_stream_yields_pieces_and_sends_the_request(make_client: ClientFactory) -> None:
    recorder = Recorder(stream_response(sse(chunk("Hel"), chunk("lo"), chunk("", "stop"))))
    client = make_client(recorder)
    assert await collect(client, temperature=0.5) == ["Hel", "lo"]
    [request] = recorder.requests
    assert request.url.path == PATH
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert recorder.bodies() == [
        {
            "temperature": 0.5,
            "model": "m1",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
        }
    ]


async def test_stream_handles_split_chunks_comments_and_multiline_data(
    make_client: ClientFactory,
) -> None:
    raw = sse(
        b": keep-alive\n\n",
        chunk("A"),
        b"event: message\nid: 7\n",
        chunk("B"),
        b'data: {"choices": [{"delta":\ndata: {"content": "C"}}]}\n\n',
        {"choices": []},  # usage-only chunk
        b"data:" + json.dumps(chunk("D")).encode() + b"\r\n\r\n",
    )

    async def pieces() -> AsyncIterator[bytes]:
        for i in range(0, len(raw), 3):  # events split at arbitrary byte boundaries
            yield raw[i : i + 3]

    client = make_client(Recorder(stream_response(pieces())))
    assert await collect(client) == ["A", "B", "C", "D"]


async def test_stream_without_api_key_sends_no_authorization(make_client: ClientFactory) -> None:
    recorder = Recorder(stream_response(sse(chunk("x"))))
    await collect(make_client(recorder, key=None))
    assert "authorization" not in recorder.requests[0].headers


async def test_stream_accepts_finish_reason_without_done(make_client: ClientFactory) -> None:
    client = make_client(Recorder(stream_response(sse(chunk("ok", "stop"), done=False))))
    assert await collect(client) == ["ok"]


async def test_stream_falls_back_to_plain_json(make_client: ClientFactory) -> None:
    client = make_client(Recorder(json_response(completion("whole answer"))))
    assert await collect(client) == ["whole answer"]


async def test_surrogates_escaped_apart_become_characters_or_replacements(
    make_client: ClientFactory,
) -> None:
    # json.dumps escapes everything outside ASCII: an emoji is two escaped halves, and this
    # provider cuts one between two events, sends a lone second half, and ends on a first half.
    body = sse(chunk("Smile \ud83d"), chunk("\ude00!"), chunk(" lone \udc00"), chunk(" end \ud83d"))
    assert b"\\ud83d" in body
    pieces = await collect(make_client(Recorder(stream_response(body))))
    assert pieces == ["Smile ", "\U0001f600!", " lone \ufffd", " end ", "\ufffd"]
    assert "".join(pieces).encode()  # all of it can be sent on and stored


async def test_complete_makes_its_surrogates_unicode(make_client: ClientFactory) -> None:
    raw = json.dumps(completion("ok \ud83d\ude00 \udc00 \ud83d"))
    client = make_client(Recorder(text_response(raw, content_type="application/json")))
    answer = await client.complete("m2", [{"role": "user", "content": "hi"}])
    assert answer == "ok \U0001f600 \ufffd \ufffd"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (sse(chunk("partial"), done=False), "stream ended without [DONE]"),
        (sse(b"data: not json\n\n"), "non-JSON stream event"),
        (sse({"error": {"message": "model crashed"}}), "error in stream: model crashed"),
        (sse(chunk("")), "empty answer"),
        (b"<html>502 Bad Gateway</html>", "stream ended without [DONE]"),
    ],
)
async def test_stream_garbage_is_an_upstream_error(
    make_client: ClientFactory, body: bytes, reason: str
) -> None:
    client = make_client(Recorder(stream_response(body)))
    with pytest.raises(UpstreamError) as info:
        await collect(client)
    assert type(info.value) is UpstreamError
    assert info.value.params == {"provider": "VisionCraft", "reason": reason}


async def test_broken_stream_after_tokens_is_an_upstream_error(make_client: ClientFactory) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield sse(chunk("first "), done=False)
        raise httpx.ReadError("connection reset")

    client = make_client(Recorder(stream_response(body())))
    got: list[str] = []
    with pytest.raises(UpstreamError, match="broken stream"):
        async with aclosing(client.stream("m", [])) as pieces:
            async for piece in pieces:
                got.append(piece)
    assert got == ["first "]


async def test_first_token_timeout_ignores_keep_alives(make_client: ClientFactory) -> None:
    async def body() -> AsyncIterator[bytes]:
        while True:
            yield b": keep-alive\n\n"
            await asyncio.sleep(0.01)

    client = make_client(
        Recorder(stream_response(body())), timeouts=Timeouts(first_token=0.1, total=30)
    )
    with pytest.raises(UpstreamError, match="no first token in time"):
        await collect(client)


async def test_total_timeout_after_tokens(make_client: ClientFactory) -> None:
    async def body() -> AsyncIterator[bytes]:
        while True:
            yield sse(chunk("."), done=False)
            await asyncio.sleep(0.01)

    client = make_client(
        Recorder(stream_response(body())), timeouts=Timeouts(first_token=5, total=0.2)
    )
    got: list[str] = []
    with pytest.raises(UpstreamError, match="answer took too long"):
        async with aclosing(client.stream("m", [])) as pieces:
            async for piece in pieces:
                got.append(piece)
    assert got  # some text arrived before the deadline


async def test_cancelling_the_consumer_closes_the_upstream_stream(
    make_client: ClientFactory,
) -> None:
    closed = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        try:
            yield sse(chunk("one"), done=False)
            await asyncio.Event().wait()
            yield b""
        finally:
            closed.set()

    client = make_client(Recorder(stream_response(body())))
    first = asyncio.Event()

    async def consume() -> None:
        async with aclosing(client.stream("m", [])) as pieces:
            async for _ in pieces:
                first.set()

    task = asyncio.create_task(consume())
    await first.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(closed.wait(), 5)


# -- statuses and retries ---------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 402, 403])
async def test_auth_errors_are_unavailable_and_logged_for_the_operator(
    make_client: ClientFactory, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder(json_response({"error": {"message": "Invalid API key"}}, status))
    client = make_client(recorder)
    with caplog.at_level(logging.ERROR), pytest.raises(UpstreamUnavailable) as info:
        await collect(client)
    assert info.value.params["provider"] == "VisionCraft"
    assert len(recorder.requests) == 1  # never retried
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "VisionCraft" in record.getMessage()
    assert str(status) in record.getMessage()
    assert KEY not in caplog.text


async def test_429_with_long_retry_after_is_busy_at_once(make_client: ClientFactory) -> None:
    recorder = Recorder(json_response({"error": "slow down"}, 429, **{"Retry-After": "42"}))
    with pytest.raises(UpstreamBusy) as info:
        await collect(make_client(recorder))
    assert info.value.params == {"provider": "VisionCraft", "retry_in": 42}
    assert len(recorder.requests) == 1


async def test_429_short_retry_after_is_retried_then_succeeds(make_client: ClientFactory) -> None:
    sleeps = Sleeps()
    recorder = Recorder(
        json_response({}, 429, **{"Retry-After": "2"}),
        stream_response(sse(chunk("fine"))),
    )
    assert await collect(make_client(recorder, sleeps=sleeps)) == ["fine"]
    assert len(recorder.requests) == 2
    assert sleeps.calls == [2.0]


async def test_429_every_time_ends_busy_after_the_attempts(make_client: ClientFactory) -> None:
    sleeps = Sleeps()
    recorder = Recorder(json_response({}, 429, **{"Retry-After": "1"}))
    client = make_client(recorder, sleeps=sleeps, retry=RetryPolicy(attempts=3, backoff=0.25))
    with pytest.raises(UpstreamBusy) as info:
        await collect(client)
    assert info.value.params["retry_in"] == 1
    assert len(recorder.requests) == 3
    assert sleeps.calls == [1.0, 1.0]


async def test_429_without_retry_after_uses_a_default(make_client: ClientFactory) -> None:
    recorder = Recorder(json_response({}, 429))
    client = make_client(recorder, retry=RetryPolicy(attempts=1))
    with pytest.raises(UpstreamBusy) as info:
        await collect(client)
    assert info.value.params["retry_in"] == 30


@pytest.mark.parametrize("status", [502, 503])
async def test_502_503_are_retried_with_backoff(make_client: ClientFactory, status: int) -> None:
    sleeps = Sleeps()
    recorder = Recorder(
        text_response("<html>bad gateway</html>", status),
        text_response("<html>bad gateway</html>", status),
        stream_response(sse(chunk("back"))),
    )
    client = make_client(recorder, sleeps=sleeps, retry=RetryPolicy(attempts=3, backoff=0.5))
    assert await collect(client) == ["back"]
    assert sleeps.calls == [0.5, 1.0]


@pytest.mark.parametrize("status", [500, 504, 400, 404])
async def test_other_errors_are_not_retried(make_client: ClientFactory, status: int) -> None:
    recorder = Recorder(text_response("<html>oops</html>", status))
    with pytest.raises(UpstreamError) as info:
        await collect(make_client(recorder))
    assert type(info.value) is UpstreamError
    assert f"HTTP {status}" in info.value.params["reason"]
    assert len(recorder.requests) == 1


async def test_502_every_time_is_an_upstream_error(make_client: ClientFactory) -> None:
    recorder = Recorder(text_response("bad", 502, "text/plain"))
    with pytest.raises(UpstreamError, match="HTTP 502"):
        await collect(make_client(recorder))
    assert len(recorder.requests) == 3


async def test_connection_errors_are_retried(make_client: ClientFactory) -> None:
    sleeps = Sleeps()
    recorder = Recorder(connect_error, stream_response(sse(chunk("up"))))
    assert await collect(make_client(recorder, sleeps=sleeps)) == ["up"]
    assert len(recorder.requests) == 2


async def test_connection_errors_every_time(make_client: ClientFactory) -> None:
    recorder = Recorder(connect_error)
    with pytest.raises(UpstreamError, match="cannot connect"):
        await collect(make_client(recorder))
    assert len(recorder.requests) == 3


async def test_read_timeout_before_headers_is_not_retried(make_client: ClientFactory) -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("no answer", request=request)

    recorder = Recorder(slow)
    with pytest.raises(UpstreamError, match="no answer in time"):
        await collect(make_client(recorder, timeouts=Timeouts(first_token=0.3)))
    assert len(recorder.requests) == 1


# -- complete() -------------------------------------------------------------------------------


async def test_complete_returns_the_message(make_client: ClientFactory) -> None:
    recorder = Recorder(json_response(completion("Paris.")))
    client = make_client(recorder)
    assert await client.complete("m2", [{"role": "user", "content": "capital?"}]) == "Paris."
    assert recorder.bodies()[0]["stream"] is False


@pytest.mark.parametrize(
    ("responder", "reason"),
    [
        (text_response("<html>hi</html>"), "non-JSON answer"),
        (json_response({"nope": 1}), "answer without choices"),
        (json_response({"error": {"message": "bad model"}}), "error in answer: bad model"),
        (json_response(completion("")), "empty answer"),
    ],
)
async def test_complete_garbage(make_client: ClientFactory, responder: Any, reason: str) -> None:
    client = make_client(Recorder(responder))
    with pytest.raises(UpstreamError) as info:
        await client.complete("m", [])
    assert info.value.params["reason"] == reason


@pytest.mark.parametrize(
    ("payload", "text"),
    [
        ({"error": {"message": "bad\n  model\t here"}}, "bad model here"),
        ({"error": {"code": "rate_limited"}}, "rate_limited"),
        ({"error": "plain  text"}, "plain text"),
        ({"detail": "no such\nmodel"}, "no such model"),
        ({"error": {}}, ""),
        (["not", "a", "dict"], ""),
        (None, ""),
    ],
)
def test_error_text_finds_the_message_and_collapses_whitespace(payload: Any, text: str) -> None:
    assert error_text(payload) == text


def test_error_text_keeps_each_callers_limit() -> None:
    payload = {"error": {"message": "x" * 1000}}
    assert len(error_text(payload)) == 200  # the bot's chat client
    assert len(error_text(payload, 300)) == 300  # the HTTP API's upstream log line


async def test_complete_error_message_whitespace_is_collapsed(make_client: ClientFactory) -> None:
    client = make_client(Recorder(json_response({"error": {"message": "bad\n\n  model"}})))
    with pytest.raises(UpstreamError) as info:
        await client.complete("m", [])
    assert info.value.params["reason"] == "error in answer: bad model"
