"""One OpenAI-compatible chat client, used for VisionCraft and for Nebula Block.

``ChatClient.complete()`` returns a whole answer; ``ChatClient.stream()`` yields the text
as it arrives (server-sent events: ``data:`` lines, ``[DONE]``, keep-alive comments, events
split across network reads). Failures become the domain errors of
:mod:`bot.services.errors`, always naming the provider:

* 401/403 (and 402, credits spent) -> :class:`UpstreamUnavailable`, logged at ERROR for the
  operator;
* 429 -> :class:`UpstreamBusy` with ``retry_in`` (after the allowed retries);
* 5xx, timeouts, broken streams, non-JSON and empty answers -> :class:`UpstreamError`.

Retries (with exponential backoff) happen only where they are safe: the request never
reached the provider (connection errors), or it was refused with 429/502/503 before any
text arrived.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, aclosing, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from bot.clients import upstream
from bot.clients.upstream import Kind
from bot.config import Settings
from bot.services.errors import UpstreamBusy, UpstreamError, UpstreamUnavailable

logger = logging.getLogger(__name__)

Message = dict[str, Any]

VISIONCRAFT = "visioncraft"
NEBULA = "nebula"
LABELS = {VISIONCRAFT: "VisionCraft", NEBULA: "Nebula Block"}

_RETRY_STATUSES = frozenset({429, 502, 503})
_DRAIN_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Timeouts:
    """``connect``: to open the connection; ``first_token``: from sending the request to the
    first piece of text (and the longest silence between reads); ``total``: the whole answer."""

    connect: float = 10.0
    first_token: float = 60.0
    total: float = 300.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 3  # in all, the first one included
    backoff: float = 0.5  # seconds before the 2nd attempt, doubled after that
    max_retry_after: float = 5.0  # a longer Retry-After is reported to the user, not waited


@dataclass(frozen=True, slots=True)
class Provider:
    name: str  # "visioncraft" | "nebula": stored with models
    label: str  # shown in logs and to the operator
    chat_url: str
    api_key: str | None


class ChatClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        provider: Provider,
        *,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.http = http
        self.provider = provider
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._request_timeout = upstream.request_timeout(
            self.timeouts.connect, self.timeouts.first_token
        )

    @property
    def label(self) -> str:
        return self.provider.label

    # -- public --------------------------------------------------------------------------------

    async def complete(self, model: str, messages: list[Message], **params: Any) -> str:
        """The whole answer as one string (``stream: false``)."""
        body = {**params, "model": model, "messages": messages, "stream": False}
        deadline = asyncio.get_running_loop().time() + self.timeouts.total
        async with self._response(body) as response:
            raw = await self._read(response, deadline)
        text, held = whole_text(self._content_of(upstream.json_or_none(raw), key="message"))
        if not text:
            raise self._error("empty answer")
        return text + (REPLACEMENT if held else "")

    async def stream(
        self, model: str, messages: list[Message], **params: Any
    ) -> AsyncGenerator[str, None]:
        """Yield pieces of the answer as they arrive; raises the domain errors above.

        Close it with ``contextlib.aclosing`` (or cancel the consuming task): the upstream
        request is cancelled with it.
        """
        body = {**params, "model": model, "messages": messages, "stream": True}
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + self.timeouts.total
        first_deadline = min(deadline, started + self.timeouts.first_token)
        got_text = False
        async with self._response(body) as response:
            content_type = response.headers.get("content-type")
            kind = upstream.stream_format(content_type)
            if kind is None:
                raise self._error(f"answered {content_type or 'no content type'}, not a stream")
            if kind == "json":
                # A provider that ignored "stream": one plain completion.
                raw = await self._read(response, first_deadline)
                text, held = whole_text(self._content_of(upstream.json_or_none(raw), key="message"))
                if not text:
                    raise self._error("empty answer")
                yield text + (REPLACEMENT if held else "")
                return

            finished = False
            held = ""  # the first half of a character cut between two events
            async with aclosing(_events(response)) as events:
                while True:
                    try:
                        async with asyncio.timeout_at(deadline if got_text else first_deadline):
                            data = await anext(events)
                    except StopAsyncIteration:
                        break
                    except TimeoutError:
                        what = "answer took too long" if got_text else "no first token in time"
                        raise self._error(what) from None
                    except upstream.LineTooLong:
                        raise self._error("a stream line too long") from None
                    except httpx.TimeoutException:
                        raise self._error("the stream stalled") from None
                    except httpx.HTTPError as exc:
                        raise self._error(f"broken stream ({type(exc).__name__})") from None
                    if data == "[DONE]":
                        finished = True
                        await _drain(events, loop.time() + _DRAIN_SECONDS)
                        break
                    payload = upstream.json_or_none(data.encode())
                    if not isinstance(payload, dict):
                        raise self._error("non-JSON stream event")
                    if "error" in payload:
                        raise self._error(f"error in stream: {upstream.error_text(payload)}")
                    piece, done = _delta(payload)
                    finished = finished or done
                    piece, held = whole_text(piece, held)
                    if piece:
                        got_text = True
                        yield piece
            if held:
                yield REPLACEMENT  # the other half never came
            if not finished:
                raise self._error("stream ended without [DONE]")
            if not got_text:
                raise self._error("empty answer")

    # -- plumbing ------------------------------------------------------------------------------

    def _error(self, reason: str) -> UpstreamError:
        logger.warning("%s: %s", self.label, reason)
        return UpstreamError(f"{self.label}: {reason}", provider=self.label, reason=reason)

    def _headers(self) -> dict[str, str]:
        headers = {
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
            # Streams are passed on as they arrive; compressed, they would come in bursts.
            "Accept-Encoding": "identity",
        }
        if self.provider.api_key:
            headers["Authorization"] = f"Bearer {self.provider.api_key}"
        return headers

    async def _read(self, response: httpx.Response, deadline: float) -> bytes:
        try:
            async with asyncio.timeout_at(deadline):
                return await upstream.read_body(response)
        except TimeoutError:
            raise self._error("timed out") from None
        except upstream.UpstreamFailure as failure:
            raise self._error(failure.reason) from None

    @asynccontextmanager
    async def _response(self, body: dict[str, Any]) -> AsyncIterator[httpx.Response]:
        """POST with the safe retries; yields a 2xx response whose body is not read yet."""
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        headers = self._headers()
        attempt = 0
        while True:
            attempt += 1
            last = attempt >= self.retry.attempts
            async with AsyncExitStack() as stack:
                try:
                    response = await stack.enter_async_context(
                        upstream.open_response(
                            self.http,
                            "POST",
                            self.provider.chat_url,
                            content=data,
                            headers=headers,
                            timeouts=self._request_timeout,
                            provider=self.provider.name,
                            kind="chat",
                        )
                    )
                except upstream.UpstreamFailure as failure:
                    if last or not self._retryable(failure):
                        raise self._translate(failure) from None
                    wait = self._backoff(attempt)
                    if failure.kind is Kind.BUSY and failure.retry_after is not None:
                        if failure.retry_after > self.retry.max_retry_after:
                            raise self._translate(failure) from None
                        wait = max(wait, failure.retry_after)
                    logger.info("%s: %s; retrying in %.1f s", self.label, failure.reason, wait)
                    await self._sleep(wait)
                    continue
                yield response
                return

    @staticmethod
    def _retryable(failure: upstream.UpstreamFailure) -> bool:
        return failure.unsent or failure.status in _RETRY_STATUSES

    def _backoff(self, attempt: int) -> float:
        return self.retry.backoff * 2.0 ** (attempt - 1)

    def _translate(self, failure: upstream.UpstreamFailure) -> UpstreamError:
        """The bot's domain error for a failure, from the shared mapping."""
        detail = upstream.error_text(upstream.json_or_none(failure.body)) or failure.body[
            :200
        ].decode("utf-8", "replace")
        if failure.kind is Kind.AUTH:
            logger.error(
                "%s refused the operator's credentials (HTTP %s: %s); check the API key",
                self.label,
                failure.status,
                detail,
            )
            return UpstreamUnavailable(
                f"{self.label}: HTTP {failure.status}", provider=self.label, status=failure.status
            )
        if failure.kind is Kind.BUSY:
            retry_in = failure.retry_in
            logger.warning("%s is busy (429); retry in %d s", self.label, retry_in)
            return UpstreamBusy(f"{self.label}: busy", provider=self.label, retry_in=retry_in)
        if failure.status is not None:
            return self._error(f"{failure.reason}: {detail}")
        return self._error(failure.reason)

    def _content_of(self, payload: Any, *, key: str) -> str:
        if not isinstance(payload, dict):
            raise self._error("non-JSON answer")
        if "error" in payload:
            raise self._error(f"error in answer: {upstream.error_text(payload)}")
        choices = payload.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise self._error("answer without choices")
        message = choices[0].get(key) or choices[0].get("delta") or {}
        content = message.get("content") if isinstance(message, dict) else None
        return content if isinstance(content, str) else ""


def chat_clients(http: httpx.AsyncClient, settings: Settings) -> dict[str, ChatClient]:
    """One client per provider, from the contract's URLs and keys."""
    timeouts = Timeouts(
        connect=settings.chat_connect_timeout,
        first_token=settings.chat_first_token_timeout,
        total=settings.chat_total_timeout,
    )
    providers = (
        Provider(
            VISIONCRAFT,
            LABELS[VISIONCRAFT],
            f"{settings.visioncraft_api_url}/v1/chat/completions",
            settings.visioncraft_api_key,
        ),
        Provider(
            NEBULA,
            LABELS[NEBULA],
            f"{settings.nebula_api_url}/chat/completions",
            settings.nebula_api_key,
        ),
    )
    return {p.name: ChatClient(http, p, timeouts=timeouts) for p in providers}


async def _drain(events: AsyncGenerator[str, None], deadline: float) -> None:
    """Read what follows ``[DONE]`` (normally only the end of the body). A response left
    unread is closed with its connection; read to the end, the connection goes back to the
    pool. Under load that was most of the upstream connections re-opened (``bench/``)."""
    try:
        async with asyncio.timeout_at(deadline):
            async for _ in events:
                pass
    except (TimeoutError, httpx.HTTPError, upstream.LineTooLong):
        pass


async def _events(response: httpx.Response) -> AsyncGenerator[str, None]:
    """The ``data`` of each server-sent event of ``response``, as it arrives."""
    reader = upstream.SseReader()
    async for chunk in response.aiter_bytes():
        for data in reader.feed(chunk):
            yield data
    for data in reader.close():
        yield data


REPLACEMENT = "\ufffd"


def whole_text(text: str, held: str = "") -> tuple[str, str]:
    """``held + text`` as Unicode that can be sent on, and what to hold for the next piece.

    A provider that escapes everything outside ASCII in its JSON writes a character such as
    an emoji as two escaped surrogates (``"\\ud83d\\ude00"``), and may cut the pair between
    two stream events. A pair becomes its character; a first half at the end is held for the
    next piece; any other lone surrogate becomes U+FFFD. Text without surrogates (all of it,
    normally) is returned as it is.
    """
    text = held + text
    try:
        text.encode()
    except UnicodeEncodeError:
        held = text[-1] if "\ud800" <= text[-1] <= "\udbff" else ""
        text = text[: len(text) - len(held)]
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace"), held
    return text, ""


def _delta(payload: dict[str, Any]) -> tuple[str, bool]:
    """Text of one stream chunk, and whether it said it was the last."""
    choices = payload.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return "", False  # e.g. a usage-only chunk
    choice = choices[0]
    done = bool(choice.get("finish_reason"))
    delta = choice.get("delta") or choice.get("message") or {}
    content = delta.get("content") if isinstance(delta, dict) else None
    return (content if isinstance(content, str) else ""), done
