"""An httpx.MockTransport handler playing the chat providers, for handler tests.

Each chat request takes the next queued reply (or ``default``):

* a string -> an SSE stream of it (``chunk_size`` characters per event), or JSON when the
  request did not ask for a stream;
* an int -> that HTTP status with an OpenAI-style error body (``headers`` for Retry-After);
* a :class:`Gated` -> a stream that pauses where the test says, so a test can act while an
  answer is being written (no sleeps, no timing);
* a callable ``(request, body) -> httpx.Response``.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx


def sse_event(text: str, finish: str | None = None) -> bytes:
    chunk = {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]}
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"


@dataclass
class Gated:
    """Stream ``before``, signal ``started``, wait for ``release``, then stream ``after``.

    ``closed`` is set when the upstream connection is closed (by the end or by the client).
    """

    before: list[str]
    after: list[str] = field(default_factory=list)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    finished: bool = False

    async def body(self) -> AsyncIterator[bytes]:
        try:
            for piece in self.before:
                yield sse_event(piece)
            self.started.set()
            await self.release.wait()
            for piece in self.after:
                yield sse_event(piece)
            yield sse_event("", "stop") + DONE
            self.finished = True
        finally:
            self.closed.set()


@dataclass
class Call:
    url: str
    headers: httpx.Headers
    body: dict[str, Any]

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.body["messages"]


class MockLLM:
    def __init__(self, default: str = "Hello from the model!") -> None:
        self.default: Any = default
        self.replies: deque[Any] = deque()
        self.calls: list[Call] = []
        self.models: list[str] = ["vc-alpha", "vc-beta"]
        self.chunk_size = 5

    def queue(self, *replies: Any) -> None:
        self.replies.extend(replies)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/models-llm"):
            return httpx.Response(200, json=self.models)
        body = json.loads(request.content)
        self.calls.append(Call(str(request.url), request.headers, body))
        reply = self.replies.popleft() if self.replies else self.default
        if callable(reply) and not isinstance(reply, Gated):
            return reply(request, body)
        if isinstance(reply, Gated):
            return httpx.Response(
                200, headers={"content-type": "text/event-stream"}, content=reply.body()
            )
        if isinstance(reply, tuple):  # (status, headers)
            status, headers = reply
            return httpx.Response(status, json={"error": {"message": "fake"}}, headers=headers)
        if isinstance(reply, int):
            return httpx.Response(reply, json={"error": {"message": f"fake {reply}"}})
        text = str(reply)
        if not body.get("stream"):
            message = {"role": "assistant", "content": text}
            return httpx.Response(200, json={"choices": [{"index": 0, "message": message}]})
        size = self.chunk_size
        events = b"".join(sse_event(text[i : i + size]) for i in range(0, len(text), size))
        return httpx.Response(
            200,
            headers={"content-type": "text/event-stream"},
            content=events + sse_event("", "stop") + DONE,
        )


def broken_after(*pieces: str) -> Callable[[httpx.Request, dict[str, Any]], httpx.Response]:
    """A stream that sends ``pieces`` and then breaks (no [DONE])."""

    async def body() -> AsyncIterator[bytes]:
        for piece in pieces:
            yield sse_event(piece)
        raise httpx.ReadError("connection reset by peer")

    def respond(request: httpx.Request, payload: dict[str, Any]) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())

    return respond


def garbage(request: httpx.Request, payload: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, text="<html>oops")
