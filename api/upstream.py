"""Forwarding chat completions to the model's provider with the operator's key.

The caller's (checked) body goes upstream unchanged; the answer comes back unchanged: a JSON
completion, or the SSE stream byte for byte as it arrives. What is not passed through is an
upstream failure: it becomes one of our errors (502 failed, 503 busy, 504 timed out) with a
short message; the operator's key and the upstream's internals never reach the caller, and
the operator's credentials being refused is logged at ERROR.

This hot path goes through one long-lived :class:`bot.clients.http1.Pool` (keep-alive
connections, opened when the app starts, closed when it stops): per forwarded request it
costs a fraction of the CPU of aiohttp's or httpx's client, which were most of what the
gateway added (measured; see ``bench/gateway.py``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from api.errors import INVALID_REQUEST, UPSTREAM, ApiError
from bot.clients import http1
from bot.clients.openai_compat import error_text, json_or_none

logger = logging.getLogger("api.upstream")

_AUTH_STATUSES = frozenset({401, 402, 403})
_REJECTED_STATUSES = frozenset({400, 413, 422})
_DEFAULT_BUSY_SECONDS = 30
_ERROR_BODY_LIMIT = 16_384
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
    """Posts chat bodies upstream through one pooled session (see :meth:`start`)."""

    def __init__(
        self,
        *,
        timeouts: Timeouts | None = None,
        redact: Callable[[str], str] = lambda text: text,
        max_connections: int = 256,
    ) -> None:
        self.timeouts = timeouts or Timeouts()
        self.redact = redact
        self.max_connections = max_connections
        self._pool: http1.Pool | None = None
        self._headers: dict[Route, bytes] = {}

    async def start(self) -> None:
        t = self.timeouts
        self._pool = http1.Pool(
            connect_timeout=t.connect,
            read_timeout=t.first_byte,
            keepalive=30.0,
            limit=self.max_connections,
            headers={"User-Agent": "visioncraft-gateway/0.1"},
        )

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    @property
    def pool(self) -> http1.Pool:
        if self._pool is None:
            raise RuntimeError("ChatForwarder.start() was not called")
        return self._pool

    # -- a whole completion ---------------------------------------------------------------------

    async def complete(self, route: Route, body: bytes) -> bytes:
        """The upstream's JSON completion, as bytes (checked to be a completion). ``body``:
        the caller's JSON, already checked, sent as it came."""
        deadline = time.monotonic() + self.timeouts.total
        async with self._open(route, body) as response:
            try:
                if response.complete:  # the usual case: it came in one piece
                    raw = await response.read()
                else:
                    async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                        raw = await response.read()
            except TimeoutError:
                logger.warning("%s: the completion took too long", route.label)
                raise timed_out(route.label) from None
            except http1.HTTPError as exc:
                logger.warning("%s: broken answer (%s)", route.label, exc)
                raise failed(route.label, "broken answer") from None
        payload = json_or_none(raw)
        if not isinstance(payload, dict) or not isinstance(payload.get("choices"), list):
            if isinstance(payload, dict) and "error" in payload:
                detail = self.redact(error_text(payload, _ERROR_TEXT_LIMIT))
            else:
                detail = repr(raw[:120])
            logger.warning("%s answered 200 without a completion: %s", route.label, detail)
            raise failed(route.label, "no completion in its answer")
        return raw

    # -- a stream -------------------------------------------------------------------------------

    @asynccontextmanager
    async def stream(self, route: Route, body: bytes) -> AsyncIterator[Stream]:
        """Open the upstream stream. Errors before the first byte raise UpstreamFailed; the
        caller then iterates :class:`Stream` and checks ``stream.failure`` at the end."""
        async with self._open(route, body) as response:
            yield Stream(route, response, time.monotonic() + self.timeouts.total)

    # -- plumbing -------------------------------------------------------------------------------

    @asynccontextmanager
    async def _open(self, route: Route, body: bytes) -> AsyncIterator[http1.Response]:
        headers = self._headers.get(route)
        if headers is None:
            headers = self._headers[route] = http1.header_block(_request_headers(route))
        try:
            try:
                response = await self.pool.post(route.url, body, headers)
            except http1.ConnectError:  # nothing reached the provider: safe to try once more
                response = await self.pool.post(route.url, body, headers)
        except http1.ConnectError as exc:
            logger.warning("%s: cannot connect (%s)", route.label, self.redact(str(exc)))
            raise failed(route.label, "it cannot be reached") from None
        except TimeoutError:
            logger.warning("%s: no answer in %.0f s", route.label, self.timeouts.first_byte)
            raise timed_out(route.label) from None
        except http1.HTTPError as exc:
            logger.warning("%s: request failed (%s)", route.label, exc)
            raise failed(route.label, "the request failed") from None
        try:
            if response.status >= 400:
                raise await self._status_error(route, response)
            yield response
        finally:
            response.release()

    async def _status_error(self, route: Route, response: http1.Response) -> ApiError:
        status = response.status
        raw = await _read_some(response)
        detail = self.redact(error_text(json_or_none(raw), _ERROR_TEXT_LIMIT) or "")
        if status in _AUTH_STATUSES:
            logger.error(
                "%s refused the operator's credentials (HTTP %d: %s); check its API key",
                route.label,
                status,
                detail or "no detail",
            )
            return failed(route.label, "it is not available")
        if status == 429:
            retry_in = _retry_after(response.headers.get("retry-after"))
            logger.warning("%s is busy (429); retry in %d s", route.label, retry_in)
            return UpstreamFailed(
                503,
                f"The {route.label} service is busy. Try again in {retry_in} s.",
                type=UPSTREAM,
                code="upstream_busy",
                headers={"Retry-After": str(retry_in)},
            )
        if status in _REJECTED_STATUSES:
            logger.info("%s rejected a request (HTTP %d): %s", route.label, status, detail)
            message = f"The {route.label} service rejected the request"
            return ApiError(
                400,
                f"{message}: {detail}" if detail else f"{message}.",
                type=INVALID_REQUEST,
                code="upstream_rejected",
            )
        logger.warning(
            "%s answered HTTP %d: %s", route.label, status, detail or self.redact(repr(raw[:120]))
        )
        if status == 504:
            return timed_out(route.label)
        return failed(route.label, f"HTTP {status}")


class Stream:
    """An upstream SSE stream, passed on chunk by chunk as it arrives.

    After iterating, ``failure`` is None when the stream ended properly with ``[DONE]``, else
    the error (an event carrying it is the last thing to send the caller).
    """

    def __init__(self, route: Route, response: http1.Response, deadline: float) -> None:
        self.route = route
        self.response = response
        self.deadline = deadline
        self.failure: UpstreamFailed | None = None
        content_type = response.headers.get("content-type", "")
        self.is_json = "json" in content_type and "event-stream" not in content_type

    async def chunks(self) -> AsyncIterator[bytes]:
        if self.is_json:
            # A provider that ignored "stream": true. Its completion becomes one chunk.
            async for chunk in self._from_completion():
                yield chunk
            return
        tail = b""
        seen_done = False
        iterator = self.response.iter_chunks()
        label = self.route.label
        while True:
            try:
                async with asyncio.timeout(max(0.0, self.deadline - time.monotonic())):
                    chunk = await anext(iterator)
            except StopAsyncIteration:
                break
            except TimeoutError:
                # The whole answer took too long, or the stream fell silent (sock_read).
                logger.warning("%s: the stream stalled or took too long", label)
                self.failure = timed_out(label)
                return
            except http1.HTTPError as exc:
                logger.warning("%s: the stream broke (%s)", label, exc)
                self.failure = failed(label, "the stream broke")
                return
            if not seen_done:
                window = tail + chunk
                seen_done = DONE in window
                tail = window[-len(DONE) :]
            yield chunk
        if not seen_done:
            logger.warning("%s: the stream ended without [DONE]", label)
            self.failure = failed(label, "the stream ended early")

    async def _from_completion(self) -> AsyncIterator[bytes]:
        try:
            async with asyncio.timeout(max(0.0, self.deadline - time.monotonic())):
                raw = await self.response.read()
        except TimeoutError:
            self.failure = timed_out(self.route.label)
            return
        except http1.HTTPError:
            self.failure = failed(self.route.label, "broken answer")
            return
        payload = json_or_none(raw)
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


async def _read_some(response: http1.Response) -> bytes:
    try:
        async with asyncio.timeout(5.0):
            return await response.read(_ERROR_BODY_LIMIT)
    except (http1.HTTPError, TimeoutError):
        return b""


def _request_headers(route: Route) -> dict[str, str]:
    headers = {
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
    }
    if route.api_key:
        headers["Authorization"] = f"Bearer {route.api_key}"
    return headers


def _retry_after(value: str | None) -> int:
    try:
        seconds = float(value) if value else _DEFAULT_BUSY_SECONDS
    except ValueError:
        seconds = _DEFAULT_BUSY_SECONDS
    if not math.isfinite(seconds):
        seconds = _DEFAULT_BUSY_SECONDS
    return max(1, min(math.ceil(seconds), 3600))
