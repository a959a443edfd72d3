"""Forwarding chat completions to the model's provider with the operator's key.

The caller's (checked) body goes upstream unchanged; the answer comes back unchanged: a JSON
completion, or the SSE stream byte for byte as it arrives. What is not passed through is an
upstream failure: it becomes one of our errors (502 failed, 503 busy, 504 timed out) with a
short message; the operator's key and the upstream's internals never reach the caller, and
the operator's credentials being refused is logged at ERROR.

Requests, errors, ``Retry-After``, size caps and the event-stream reader are the ones the
bot's chat client uses (:mod:`bot.clients.upstream`); this module only turns their failures
into the caller's OpenAI-style errors.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from api.errors import INVALID_REQUEST, UPSTREAM, ApiError
from bot.clients import upstream
from bot.clients.upstream import Kind

logger = logging.getLogger("api.upstream")

_ERROR_TEXT_LIMIT = 300  # characters of an upstream's error message kept for the log
DONE = b"data: [DONE]"


@dataclass(frozen=True, slots=True)
class Route:
    """Where one model's chat requests go."""

    provider: str  # "visioncraft" | "nebula"
    label: str  # for logs and messages: "VisionCraft", "Nebula Block"
    url: str  # the chat completions URL
    api_key: str | None = None


@dataclass(frozen=True, slots=True)
class Timeouts:
    """``connect``: to open a connection; ``first_byte``: for the answer to start (and the
    longest silence inside a stream); ``total``: for the whole answer."""

    connect: float = 10.0
    first_byte: float = 60.0
    total: float = 300.0


class UpstreamFailed(ApiError):
    """An upstream failure, as the caller will see it."""


def failed(label: str, why: str) -> UpstreamFailed:
    return UpstreamFailed(
        502,
        f"The {label} service failed: {why}. Try again later.",
        type=UPSTREAM,
        code="upstream_error",
    )


def timed_out(label: str) -> UpstreamFailed:
    return UpstreamFailed(
        504,
        f"The {label} service did not answer in time. Try again later.",
        type=UPSTREAM,
        code="upstream_timeout",
    )


class ChatForwarder:
    """Posts chat bodies upstream through the shared HTTP client (:class:`bot.clients.Clients`)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        timeouts: Timeouts | None = None,
        redact: Callable[[str], str] = lambda text: text,
    ) -> None:
        self.http = http
        self.timeouts = timeouts or Timeouts()
        self.redact = redact
        self._request_timeout = upstream.request_timeout(
            self.timeouts.connect, self.timeouts.first_byte
        )
        self._headers: dict[Route, dict[str, str]] = {}

    # -- a whole completion ---------------------------------------------------------------------

    async def complete(self, route: Route, body: bytes) -> bytes:
        """The upstream's JSON completion, as bytes (checked to be a completion). ``body``:
        the caller's JSON, already checked, sent as it came."""
        deadline = time.monotonic() + self.timeouts.total
        async with self._open(route, body) as response:
            raw = await _read(route, response, deadline)
        payload = upstream.json_or_none(raw)
        if not isinstance(payload, dict) or not isinstance(payload.get("choices"), list):
            if isinstance(payload, dict) and "error" in payload:
                detail = self.redact(upstream.error_text(payload, _ERROR_TEXT_LIMIT))
            else:
                detail = repr(raw[:120])
            logger.warning("%s answered 200 without a completion: %s", route.label, detail)
            raise failed(route.label, "no completion in its answer")
        return raw

    # -- a stream -------------------------------------------------------------------------------

    @asynccontextmanager
    async def stream(self, route: Route, body: bytes) -> AsyncIterator[Stream]:
        """Open the upstream stream. Errors before the first byte raise UpstreamFailed (an
        answer that is neither an event stream nor a JSON completion is one: a proxy's HTML
        page is never passed on); the caller then iterates :class:`Stream` and checks
        ``stream.failure`` at the end."""
        async with self._open(route, body) as response:
            content_type = response.headers.get("content-type")
            kind = upstream.stream_format(content_type)
            if kind is None:
                logger.warning(
                    "%s answered a stream with %s",
                    route.label,
                    _printable(content_type or "no content type"),
                )
                raise failed(route.label, "it did not answer with an event stream")
            yield Stream(route, response, time.monotonic() + self.timeouts.total, kind == "json")

    # -- plumbing -------------------------------------------------------------------------------

    @asynccontextmanager
    async def _open(self, route: Route, body: bytes) -> AsyncIterator[httpx.Response]:
        headers = self._headers.get(route)
        if headers is None:
            headers = self._headers[route] = _request_headers(route)
        attempts = 2  # a request that could not be sent is safe to try once more
        async with AsyncExitStack() as stack:
            for attempt in range(1, attempts + 1):
                try:
                    response = await stack.enter_async_context(
                        upstream.open_response(
                            self.http,
                            "POST",
                            route.url,
                            content=body,
                            headers=headers,
                            timeouts=self._request_timeout,
                            provider=route.provider,
                            kind="chat",
                        )
                    )
                    break
                except upstream.UpstreamFailure as failure:
                    if failure.unsent and attempt < attempts:
                        continue
                    raise self._api_error(route, failure) from None
            yield response

    def _api_error(self, route: Route, failure: upstream.UpstreamFailure) -> ApiError:
        """The caller's error for an upstream failure, from the shared mapping."""
        label = route.label
        kind = failure.kind
        if failure.status is None:
            if kind is Kind.TIMEOUT:
                logger.warning("%s: no answer in %.0f s", label, self.timeouts.first_byte)
                return timed_out(label)
            logger.warning("%s: %s", label, failure.reason)
            if failure.unsent:
                return failed(label, "it cannot be reached")
            return failed(label, "the request failed")
        status = failure.status
        raw = failure.body
        detail = self.redact(upstream.error_text(upstream.json_or_none(raw), _ERROR_TEXT_LIMIT))
        if kind is Kind.AUTH:
            logger.error(
                "%s refused the operator's credentials (HTTP %d: %s); check its API key",
                label,
                status,
                detail or "no detail",
            )
            return failed(label, "it is not available")
        if kind is Kind.BUSY:
            retry_in = failure.retry_in
            logger.warning("%s is busy (429); retry in %d s", label, retry_in)
            return UpstreamFailed(
                503,
                f"The {label} service is busy. Try again in {retry_in} s.",
                type=UPSTREAM,
                code="upstream_busy",
                headers={"Retry-After": str(retry_in)},
            )
        if kind is Kind.REJECTED:
            logger.info("%s rejected a request (HTTP %d): %s", label, status, detail)
            message = f"The {label} service rejected the request"
            return ApiError(
                400,
                f"{message}: {detail}" if detail else f"{message}.",
                type=INVALID_REQUEST,
                code="upstream_rejected",
            )
        logger.warning(
            "%s answered HTTP %d: %s", label, status, detail or self.redact(repr(raw[:120]))
        )
        if kind is Kind.TIMEOUT:
            return timed_out(label)
        return failed(label, f"HTTP {status}")


async def _read(route: Route, response: httpx.Response, deadline: float) -> bytes:
    """The whole (capped) body by ``deadline``, or the caller's error."""
    try:
        async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
            return await upstream.read_body(response)
    except TimeoutError:
        logger.warning("%s: the completion took too long", route.label)
        raise timed_out(route.label) from None
    except upstream.UpstreamFailure as failure:
        logger.warning("%s: %s", route.label, failure.reason)
        if failure.kind is Kind.TIMEOUT:
            raise timed_out(route.label) from None
        why = "its answer is too large" if failure.oversized else "broken answer"
        raise failed(route.label, why) from None


class Stream:
    """An upstream SSE stream, passed on chunk by chunk as it arrives.

    Each chunk goes through the shared event reader before it is passed on: it finds the
    ``[DONE]`` that ends a complete answer and stops a line longer than
    :data:`bot.clients.upstream.MAX_SSE_LINE_BYTES`. After iterating, ``failure`` is None when
    the stream ended properly, else the error (an event carrying it is the last thing to send
    the caller).
    """

    def __init__(
        self, route: Route, response: httpx.Response, deadline: float, is_json: bool
    ) -> None:
        self.route = route
        self.response = response
        self.deadline = deadline
        self.failure: UpstreamFailed | None = None
        self.is_json = is_json

    async def chunks(self) -> AsyncIterator[bytes]:
        if self.is_json:
            # A provider that ignored "stream": true. Its completion becomes one chunk.
            async for chunk in self._from_completion():
                yield chunk
            return
        reader = upstream.SseReader()
        seen_done = False
        iterator = self.response.aiter_bytes()
        label = self.route.label
        while True:
            try:
                async with asyncio.timeout(max(0.0, self.deadline - time.monotonic())):
                    chunk = await anext(iterator)
                if not seen_done:
                    seen_done = "[DONE]" in reader.feed(chunk)
            except StopAsyncIteration:
                break
            except (TimeoutError, httpx.TimeoutException):
                # The whole answer took too long, or the stream fell silent (read timeout).
                logger.warning("%s: the stream stalled or took too long", label)
                self.failure = timed_out(label)
                return
            except upstream.LineTooLong as exc:
                logger.warning("%s: %s in its stream", label, exc)
                self.failure = failed(label, "its stream carried an oversized event")
                # Part of that line went out already: end it, so that the error event the
                # caller gets next is an event of its own.
                yield b"\n\n"
                return
            except httpx.HTTPError as exc:
                logger.warning("%s: the stream broke (%s)", label, type(exc).__name__)
                self.failure = failed(label, "the stream broke")
                return
            yield chunk
        if not seen_done:
            seen_done = "[DONE]" in reader.close()
        if not seen_done:
            logger.warning("%s: the stream ended without [DONE]", label)
            self.failure = failed(label, "the stream ended early")

    async def _from_completion(self) -> AsyncIterator[bytes]:
        try:
            raw = await _read(self.route, self.response, self.deadline)
        except UpstreamFailed as exc:
            self.failure = exc
            return
        payload = upstream.json_or_none(raw)
        choices = payload.get("choices") if isinstance(payload, dict) else None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            self.failure = failed(self.route.label, "no completion in its answer")
            return
        message = choices[0].get("message") or {}
        chunk = {
            "id": payload.get("id", "chatcmpl-gateway"),
            "object": "chat.completion.chunk",
            "created": payload.get("created", int(time.time())),
            "model": payload.get("model", ""),
            "choices": [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": message.get("content") or ""},
                    "finish_reason": choices[0].get("finish_reason") or "stop",
                }
            ],
        }
        yield sse_event(chunk)
        yield DONE + b"\n\n"


def sse_event(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n"


def _request_headers(route: Route) -> dict[str, str]:
    headers = {
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        # Passed on as it arrives: compressed, a stream would come in bursts.
        "Accept-Encoding": "identity",
    }
    if route.api_key:
        headers["Authorization"] = f"Bearer {route.api_key}"
    return headers


def _printable(text: str, limit: int = 80) -> str:
    """An upstream's header value, safe for one log line."""
    return repr(text[:limit])
