"""What every upstream call of the project shares, in both fronts.

* :func:`new_http_client`: the one HTTP client (httpx's API on aiohttp's connection pool,
  proxies from ``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY``).
* :func:`open_response`: send a request and get a streamed 2xx response, or an
  :class:`UpstreamFailure` (connection errors, timeouts, statuses >= 400).
* :func:`classify`: the one mapping of an upstream status to a :class:`Kind`; each front turns
  the kind into its own error type (the bot's domain errors, the gateway's ``ApiError``).
* :func:`parse_retry_after`: the one ``Retry-After`` parser. Whatever an upstream sends (a
  number, ``inf``, ``nan``, ``1e400``, a negative, an HTTP date, junk) becomes a finite wait of
  at most :data:`MAX_RETRY_AFTER` seconds, never an exception.
* :func:`read_body` with a size cap and :class:`SseReader`, the one event-stream reader, with a
  cap on a single line: an upstream cannot make us hold an unbounded answer in memory.
"""

from __future__ import annotations

import asyncio
import enum
import json
import math
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from httpx_aiohttp import HttpxAiohttpClient

from bot.metrics import UPSTREAM_FAILURES, UPSTREAM_SECONDS
from bot.services import clock

MAX_RETRY_AFTER = 3600  # seconds; a longer wait asked by an upstream is cut to this
DEFAULT_RETRY_AFTER = 30  # seconds, when a 429 says nothing usable
MAX_BODY_BYTES = 4 * 1024 * 1024  # a whole (non-streamed) completion
MAX_SSE_LINE_BYTES = 1024 * 1024  # one line of an event stream
ERROR_BODY_BYTES = 16 * 1024  # what is read of an error answer, for the log
ERROR_BODY_SECONDS = 5.0

AUTH_STATUSES = frozenset({401, 402, 403})  # the operator's key refused, or credits spent
REJECTED_STATUSES = frozenset({400, 404, 413, 422})  # the request itself was refused


class Kind(enum.Enum):
    AUTH = "auth"  # the operator's credentials were refused
    BUSY = "busy"  # 429: try again after ``retry_after``
    REJECTED = "rejected"  # the upstream refused what was asked
    TIMEOUT = "timeout"  # no (complete) answer in time
    FAILED = "failed"  # anything else: 5xx, broken connection, bad or oversized answer


def classify(status: int) -> Kind:
    """The kind of failure an upstream status >= 400 is."""
    if status in AUTH_STATUSES:
        return Kind.AUTH
    if status == 429:
        return Kind.BUSY
    if status in REJECTED_STATUSES:
        return Kind.REJECTED
    if status == 504:
        return Kind.TIMEOUT
    return Kind.FAILED


class UpstreamFailure(Exception):
    """A failed upstream call, before a front translates it.

    ``reason``: short words for logs and messages (never a key or a URL with credentials);
    ``status``: the HTTP status when there was one; ``body``: the start of the error answer;
    ``retry_after``: the parsed ``Retry-After`` (None when absent or meaningless);
    ``unsent``: the request surely did not reach the provider (it could not be connected),
    so sending it again is safe; ``oversized``: the answer was larger than its cap.
    """

    def __init__(
        self,
        kind: Kind,
        reason: str,
        *,
        status: int | None = None,
        body: bytes = b"",
        retry_after: float | None = None,
        unsent: bool = False,
        oversized: bool = False,
    ) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.status = status
        self.body = body
        self.retry_after = retry_after
        self.unsent = unsent
        self.oversized = oversized

    @property
    def retry_in(self) -> int:
        """Whole seconds to tell a caller to wait (see :func:`whole_seconds`)."""
        return whole_seconds(self.retry_after)


# -- the client ----------------------------------------------------------------------------------


def new_http_client(*, max_connections: int = 256, user_agent: str) -> httpx.AsyncClient:
    """The project's one HTTP client: httpx's API, aiohttp's connection pool underneath.

    ``trust_env``: ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY``/``NO_PROXY`` are honoured (httpx
    picks the proxy per URL; the aiohttp transport connects through it). Redirects are not
    followed: an upstream that redirects a POST is misconfigured, and its answer says so.
    """
    return HttpxAiohttpClient(
        limits=httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=30.0,
        ),
        timeout=httpx.Timeout(connect=10.0, read=120.0, write=30.0, pool=30.0),
        headers={"User-Agent": user_agent},
        follow_redirects=False,
        trust_env=True,
    )


def request_timeout(connect: float, read: float) -> httpx.Timeout:
    """``connect`` bounds waiting for a pooled connection and opening one; ``read`` bounds the
    wait for the answer to start and every silence after that. The whole answer's deadline is
    the caller's (an ``asyncio.timeout`` around the reads)."""
    return httpx.Timeout(connect=connect, read=read, write=connect, pool=connect)


@asynccontextmanager
async def open_response(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeouts: httpx.Timeout,
    provider: str = "other",
    kind: str = "other",
) -> AsyncIterator[httpx.Response]:
    """A response with status < 400 whose body is not read yet (closed on exit); raises
    :class:`UpstreamFailure` for everything else. ``provider`` and ``kind`` (fixed words
    chosen by the caller) label the call's metrics: the wait for the answer's head, and
    failures by :class:`Kind`."""
    request = http.build_request(method, url, content=content, headers=headers, timeout=timeouts)
    started = time.perf_counter()
    try:
        try:
            response = await http.send(request, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.ProxyError) as exc:
            raise UpstreamFailure(
                Kind.FAILED, f"cannot connect ({type(exc).__name__})", unsent=True
            ) from None
        except httpx.TimeoutException:
            raise UpstreamFailure(Kind.TIMEOUT, "no answer in time") from None
        except httpx.HTTPError as exc:
            raise UpstreamFailure(Kind.FAILED, f"request failed ({type(exc).__name__})") from None
        finally:
            UPSTREAM_SECONDS.labels(provider, kind).observe(time.perf_counter() - started)
        try:
            if response.status_code >= 400:
                raise await status_failure(response)
            yield response
        finally:
            await response.aclose()
    except UpstreamFailure as failure:
        UPSTREAM_FAILURES.labels(provider, kind, failure.kind.value).inc()
        raise


async def status_failure(response: httpx.Response) -> UpstreamFailure:
    """The failure for an answer with status >= 400 (reads the start of its body)."""
    status = response.status_code
    body = await read_error_body(response)
    kind = classify(status)
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    return UpstreamFailure(
        kind, f"HTTP {status}", status=status, body=body, retry_after=retry_after
    )


async def read_error_body(response: httpx.Response) -> bytes:
    """At most :data:`ERROR_BODY_BYTES` of an error answer, "" when it does not come."""
    parts: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(ERROR_BODY_SECONDS):
            async for chunk in response.aiter_bytes():
                parts.append(chunk)
                size += len(chunk)
                if size >= ERROR_BODY_BYTES:
                    break
    except (httpx.HTTPError, TimeoutError):
        pass
    return b"".join(parts)[:ERROR_BODY_BYTES]


async def read_body(response: httpx.Response, limit: int = MAX_BODY_BYTES) -> bytes:
    """The whole body, or :class:`UpstreamFailure` when it is larger than ``limit`` bytes,
    stalls longer than the read timeout, or breaks. The caller bounds the total time."""
    parts: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise UpstreamFailure(
                    Kind.FAILED, f"answer larger than {limit} bytes", oversized=True
                )
            parts.append(chunk)
    except httpx.TimeoutException:
        raise UpstreamFailure(Kind.TIMEOUT, "the answer stalled") from None
    except httpx.HTTPError as exc:
        raise UpstreamFailure(Kind.FAILED, f"broken answer ({type(exc).__name__})") from None
    return b"".join(parts)


def stream_format(content_type: str | None) -> str | None:
    """What a 200 answer to a streamed request carries: ``"sse"`` (an event stream),
    ``"json"`` (a provider that ignored ``stream``: one completion) or None (anything else,
    such as a proxy's HTML page, which must not be passed on)."""
    media = (content_type or "").partition(";")[0].strip().lower()
    if media == "text/event-stream":
        return "sse"
    if media == "application/json" or media.endswith("+json"):
        return "json"
    return None


def json_or_none(raw: bytes) -> Any:
    """The JSON in ``raw``, or None when it is not JSON."""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def error_text(payload: Any, limit: int = 200) -> str:
    """The provider's error message in an error ``payload`` (``error`` or ``detail``, a string
    or an object's ``message``/``code``), whitespace collapsed, at most ``limit`` characters;
    "" when there is none."""
    if not isinstance(payload, dict):
        return ""
    error = payload.get("error", payload.get("detail", ""))
    if isinstance(error, dict):
        error = error.get("message") or error.get("code") or ""
    return " ".join(str(error).split())[:limit]


# -- Retry-After ---------------------------------------------------------------------------------


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value, finite and within
    ``[0, MAX_RETRY_AFTER]``; None when there is none or it means nothing (junk, ``nan``).

    Delay-seconds are taken as any number (``inf`` and ``1e400`` are cut to the cap, a
    negative is no wait); an HTTP date counts from ``now`` (default: :func:`clock.now`).
    """
    if value is None:
        return None
    text = value.strip()
    if not text or len(text) > 100:
        return None
    seconds: float | None
    try:
        seconds = float(text)
    except ValueError:
        seconds = _seconds_until(text, clock.now() if now is None else now)
    if seconds is None or math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), float(MAX_RETRY_AFTER))


def whole_seconds(seconds: float | None) -> int:
    """A parsed wait as whole seconds to tell a caller: at least 1, at most
    :data:`MAX_RETRY_AFTER`, :data:`DEFAULT_RETRY_AFTER` when there was nothing usable."""
    if seconds is None:
        return DEFAULT_RETRY_AFTER
    return min(max(1, math.ceil(seconds)), MAX_RETRY_AFTER)


def retry_after_seconds(value: str | None, *, now: float | None = None) -> int:
    """:func:`whole_seconds` of a ``Retry-After`` header value."""
    return whole_seconds(parse_retry_after(value, now=now))


def _seconds_until(text: str, now: float) -> float | None:
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:  # "-0000": the standard says such dates are UTC
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.timestamp() - now
    except (OverflowError, ValueError, OSError):
        return None


# -- server-sent events --------------------------------------------------------------------------


class LineTooLong(Exception):
    """One line of an event stream was longer than the reader's cap."""


class SseReader:
    """Splits an event stream, fed chunk by chunk as it arrives, into each event's ``data``
    (multi-line data joined with newlines; comments and other fields skipped; ``\\n`` or
    ``\\r\\n`` line ends). A line longer than ``max_line`` bytes raises :class:`LineTooLong`.

    Lines are decoded one by one: a newline byte never occurs inside a UTF-8 character, so
    a character split across chunks is whole again once its line is.
    """

    def __init__(self, max_line: int = MAX_SSE_LINE_BYTES) -> None:
        self.max_line = max_line
        self._parts: list[bytes] = []
        self._size = 0
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[str]:
        if b"\n" not in chunk:
            self._size += len(chunk)
            if self._size > self.max_line:
                raise LineTooLong(f"a line longer than {self.max_line} bytes")
            self._parts.append(chunk)
            return []
        if self._parts:
            chunk = b"".join((*self._parts, chunk))
            self._parts.clear()
        *lines, rest = chunk.split(b"\n")
        self._size = len(rest)
        if self._size > self.max_line:
            raise LineTooLong(f"a line longer than {self.max_line} bytes")
        if rest:
            self._parts.append(rest)
        events: list[str] = []
        for line in lines:
            if len(line) > self.max_line:
                raise LineTooLong(f"a line longer than {self.max_line} bytes")
            self._line(line, events)
        return events

    def close(self) -> list[str]:
        """What is left when the stream ends (an event without its closing blank line)."""
        events: list[str] = []
        if self._parts:
            self._line(b"".join(self._parts), events)
            self._parts.clear()
            self._size = 0
        if self._data:
            events.append("\n".join(self._data))
            self._data = []
        return events

    def _line(self, raw: bytes, events: list[str]) -> None:
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if not raw:
            if self._data:
                events.append("\n".join(self._data))
                self._data = []
            return
        if raw.startswith(b":"):
            return  # a comment: keep-alive
        field, _, value = raw.decode("utf-8", "replace").partition(":")
        if field == "data":
            self._data.append(value[1:] if value.startswith(" ") else value)
