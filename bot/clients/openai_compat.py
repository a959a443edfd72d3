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
import codecs
import json
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from bot.clients import http1
from bot.config import Settings
from bot.services import clock
from bot.services.errors import UpstreamBusy, UpstreamError, UpstreamUnavailable

logger = logging.getLogger(__name__)

Message = dict[str, Any]

VISIONCRAFT = "visioncraft"
NEBULA = "nebula"
LABELS = {VISIONCRAFT: "VisionCraft", NEBULA: "Nebula Block"}

_RETRY_STATUSES = frozenset({429, 502, 503})
_AUTH_STATUSES = frozenset({401, 402, 403})
_DEFAULT_BUSY_SECONDS = 30
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


# The HTTP side: bot/clients/http1.py's pool (or the same interface over httpx, in tests).
Poster = http1.Pool | http1.HttpxPool


class ChatClient:
    def __init__(
        self,
        http: Poster,
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

    @property
    def label(self) -> str:
        return self.provider.label

    # -- public --------------------------------------------------------------------------------

    async def complete(self, model: str, messages: list[Message], **params: Any) -> str:
        """The whole answer as one string (``stream: false``)."""
        body = {**params, "model": model, "messages": messages, "stream": False}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeouts.total
        async with self._response(body) as response:
            try:
                async with asyncio.timeout_at(deadline):
                    raw = await response.read()
            except TimeoutError:
                raise self._error("timed out") from None
            except http1.HTTPError as exc:
                raise self._error(f"broken response ({type(exc).__name__})") from None
        text = self._content_of(json_or_none(raw), key="message")
        if not text:
            raise self._error("empty answer")
        return text

    async def stream(
        self, model: str, messages: list[Message], **params: Any
    ) -> AsyncIterator[str]:
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
            content_type = response.headers.get("content-type", "")
            if "json" in content_type and "event-stream" not in content_type:
                # A provider that ignored "stream": one plain completion.
                try:
                    async with asyncio.timeout_at(first_deadline):
                        raw = await response.read()
                except TimeoutError:
                    raise self._error("timed out") from None
                except http1.HTTPError as exc:
                    raise self._error(f"broken response ({type(exc).__name__})") from None
                text = self._content_of(json_or_none(raw), key="message")
                if not text:
                    raise self._error("empty answer")
                yield text
                return

            finished = False
            async with aclosing(_sse_events(_lines(response.iter_chunks()))) as events:
                while True:
                    try:
                        async with asyncio.timeout_at(deadline if got_text else first_deadline):
                            data = await anext(events)
                    except StopAsyncIteration:
                        break
                    except TimeoutError:
                        what = "answer took too long" if got_text else "no first token in time"
                        raise self._error(what) from None
                    except http1.HTTPError as exc:
                        raise self._error(f"broken stream ({type(exc).__name__})") from None
                    if data == "[DONE]":
                        finished = True
                        await _drain(events, loop.time() + _DRAIN_SECONDS)
                        break
                    payload = json_or_none(data.encode())
                    if not isinstance(payload, dict):
                        raise self._error("non-JSON stream event")
                    if "error" in payload:
                        raise self._error(f"error in stream: {error_text(payload)}")
                    piece, done = _delta(payload)
                    finished = finished or done
                    if piece:
                        got_text = True
                        yield piece
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
        }
        if self.provider.api_key:
            headers["Authorization"] = f"Bearer {self.provider.api_key}"
        return headers

    @asynccontextmanager
    async def _response(self, body: dict[str, Any]) -> AsyncIterator[http1.Response]:
        """POST with the safe retries; yields a 2xx response whose body is not read yet."""
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        headers = self._headers()
        attempt = 0
        while True:
            attempt += 1
            last = attempt >= self.retry.attempts
            try:
                response = await self.http.post(
                    self.provider.chat_url,
                    data,
                    headers,
                    read_timeout=self.timeouts.first_token,
                )
            except http1.ConnectError as exc:
                if last:
                    raise self._error(f"cannot connect ({type(exc).__name__})") from None
                await self._sleep(self._backoff(attempt))
                continue
            except TimeoutError:
                raise self._error("no response in time") from None
            except http1.HTTPError as exc:
                raise self._error(f"request failed ({type(exc).__name__})") from None
            if response.status < 400:
                try:
                    yield response  # type: ignore[misc]
                finally:
                    await response.aclose()
                return
            raw = await self._read_error_body(response)
            status = response.status
            if status in _RETRY_STATUSES and not last:
                wait = self._backoff(attempt)
                if status == 429:
                    retry_after = _retry_after(response.headers.get("retry-after"))
                    if retry_after is not None and retry_after > self.retry.max_retry_after:
                        raise self._busy(retry_after)
                    wait = max(wait, retry_after or 0.0)
                logger.info("%s answered %d; retrying in %.1f s", self.label, status, wait)
                await self._sleep(wait)
                continue
            raise self._status_error(status, response.headers.get("retry-after"), raw)

    def _backoff(self, attempt: int) -> float:
        return self.retry.backoff * (2 ** (attempt - 1))

    def _busy(self, seconds: float | None) -> UpstreamBusy:
        retry_in = max(1, math.ceil(seconds)) if seconds is not None else _DEFAULT_BUSY_SECONDS
        logger.warning("%s is busy (429); retry in %d s", self.label, retry_in)
        return UpstreamBusy(f"{self.label}: busy", provider=self.label, retry_in=retry_in)

    def _status_error(self, status: int, retry_after: str | None, raw: bytes) -> UpstreamError:
        detail = error_text(json_or_none(raw)) or raw[:200].decode("utf-8", "replace")
        if status in _AUTH_STATUSES:
            logger.error(
                "%s refused the operator's credentials (HTTP %d: %s); check the API key",
                self.label,
                status,
                detail,
            )
            return UpstreamUnavailable(
                f"{self.label}: HTTP {status}", provider=self.label, status=status
            )
        if status == 429:
            return self._busy(_retry_after(retry_after))
        return self._error(f"HTTP {status}: {detail}")

    @staticmethod
    async def _read_error_body(response: http1.Response | http1.HttpxResponse) -> bytes:
        try:
            async with asyncio.timeout(_DRAIN_SECONDS * 5):
                return await response.read(limit=16_384)
        except (http1.HTTPError, TimeoutError):
            return b""
        finally:
            await response.aclose()

    def _content_of(self, payload: Any, *, key: str) -> str:
        if not isinstance(payload, dict):
            raise self._error("non-JSON answer")
        if "error" in payload:
            raise self._error(f"error in answer: {error_text(payload)}")
        choices = payload.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise self._error("answer without choices")
        message = choices[0].get(key) or choices[0].get("delta") or {}
        content = message.get("content") if isinstance(message, dict) else None
        return content if isinstance(content, str) else ""


def chat_clients(http: Poster, settings: Settings) -> dict[str, ChatClient]:
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


async def _drain(events: AsyncIterator[str], deadline: float) -> None:
    """Read what follows ``[DONE]`` (normally only the end of the body). A response left
    unread is closed with its connection; read to the end, the connection goes back to the
    pool. Under load that was most of the upstream connections re-opened (``bench/``)."""
    try:
        async with asyncio.timeout_at(deadline):
            async for _ in events:
                pass
    except (TimeoutError, http1.HTTPError):
        pass


async def _lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """The body as text lines (UTF-8 decoded across chunk boundaries; ``\n`` or ``\r\n``)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""
    async for chunk in chunks:
        pending += decoder.decode(chunk)
        if "\n" not in pending:
            continue
        *lines, pending = pending.split("\n")
        for line in lines:
            yield line[:-1] if line.endswith("\r") else line
    pending += decoder.decode(b"", final=True)
    if pending:
        yield pending[:-1] if pending.endswith("\r") else pending


async def _sse_events(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """The ``data`` of each server-sent event (multi-line data joined with newlines)."""
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue  # comment / keep-alive
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)


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


def json_or_none(raw: bytes) -> Any:
    """The JSON in ``raw``, or None when it is not JSON (shared with the HTTP API)."""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None


def error_text(payload: Any, limit: int = 200) -> str:
    """The provider's error message in an error ``payload`` (``error`` or ``detail``, a string
    or an object's ``message``/``code``), whitespace collapsed, at most ``limit`` characters;
    "" when there is none (shared with the HTTP API)."""
    if not isinstance(payload, dict):
        return ""
    error = payload.get("error", payload.get("detail", ""))
    if isinstance(error, dict):
        error = error.get("message") or error.get("code") or ""
    return " ".join(str(error).split())[:limit]


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(moment.timestamp() - clock.now(), 0.0)
