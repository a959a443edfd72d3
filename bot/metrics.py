"""Every Prometheus metric of both processes, in one place.

Defined once at import on prometheus-client's default registry (which also carries the
process's CPU, memory and file descriptors), so any module - services included, this module
imports no aiogram - can count without plumbing. ``/metrics`` serves :func:`exposition`.

Labels are small closed sets (update types, kinds, outcomes, providers, Bot API method
names, SQL verbs): never a user id, a chat id, a model typed by a user or a URL, so the
number of series stays bounded whatever the traffic.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

# Upstream answers take from ~0.1 s (a list) to minutes (a GIF).
_UPSTREAM_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)
# Indexed SQLite statements take microseconds; a slow one milliseconds, a locked one seconds.
_DB_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5, 10)

UPDATES = Counter("bot_updates_total", "Telegram updates handled, by update type.", ["type"])
UNREADABLE_UPDATES = Counter(
    "bot_updates_unreadable_total",
    "Telegram updates skipped because they could not be read, by whether one carried a payment.",
    ["payment"],
)
ANSWERS = Counter("bot_answers_total", "Chat answers in Telegram, by outcome.", ["outcome"])
GENERATIONS = Counter(
    "bot_generations_total", "Image and GIF generations, by kind and outcome.", ["kind", "outcome"]
)
UPSTREAM_SECONDS = Histogram(
    "upstream_request_seconds",
    "Time until an upstream's answer starts (or the call fails), by provider and kind.",
    ["provider", "kind"],
    buckets=_UPSTREAM_BUCKETS,
)
UPSTREAM_FAILURES = Counter(
    "upstream_failures_total",
    "Failed upstream calls, by provider, kind and failure.",
    ["provider", "kind", "failure"],
)
QUOTA_REFUSALS = Counter(
    "quota_refusals_total", "Requests refused because a daily quota was spent, by kind.", ["kind"]
)
PAYMENTS_CREDITED = Counter(
    "payments_credited_total", "Star payments credited to a user, by tier.", ["tier"]
)
STARS_CREDITED = Counter("stars_credited_total", "Telegram Stars credited, in all.")
TELEGRAM_FLOOD_WAITS = Counter(
    "telegram_flood_waits_total",
    "Bot API calls refused with 429 (flood control), by method.",
    ["method"],
)
QUEUE_LENGTH = Gauge("bot_queue_length", "Work waiting or running now, by queue.", ["queue"])
DB_SECONDS = Histogram(
    "db_statement_seconds",
    "Time of one database statement on the event loop, by SQL verb.",
    ["operation"],
    buckets=_DB_BUCKETS,
)
API_REQUESTS = Counter(
    "api_requests_total", "HTTP API requests, by route and status class.", ["route", "status"]
)

# SQL verbs worth telling apart; anything else (PRAGMA, BEGIN, COMMIT, ...) is "other".
_VERBS = frozenset({"select", "insert", "update", "delete", "with", "replace"})


def sql_operation(sql: str) -> str:
    """The label for a statement: its first word when it is a data verb, else ``other``."""
    word = sql.lstrip()[:8].split(None, 1)
    verb = word[0].lower() if word else ""
    return verb if verb in _VERBS else "other"


def observe_statement(sql: str, seconds: float) -> None:
    DB_SECONDS.labels(sql_operation(sql)).observe(seconds)


def count_credited(tier: str, stars: int) -> None:
    PAYMENTS_CREDITED.labels(tier).inc()
    STARS_CREDITED.inc(max(stars, 0))


# Domain errors by class name -> outcome label; anything else that goes wrong is "failed".
_OUTCOMES = {
    "QuotaExceeded": "quota",
    "RateLimited": "rate_limited",
    "GenerationBusy": "busy",
    "ChatBusy": "busy",
    "QueueTimeout": "queue_timeout",
    "GenerationTimeout": "timeout",
    "OperationCancelled": "cancelled",
    "UpstreamBusy": "upstream_busy",
    "UpstreamUnavailable": "upstream_unavailable",
    "UpstreamRejected": "rejected",
    "UpstreamBadOutput": "bad_output",
}


def outcome_of(error: BaseException | None) -> str:
    if error is None:
        return "ok"
    if isinstance(error, asyncio.CancelledError):
        return "cancelled"
    for cls in type(error).__mro__:
        outcome = _OUTCOMES.get(cls.__name__)
        if outcome is not None:
            return outcome
    return "failed"


@contextmanager
def count_outcome(counter: Counter, *labels: str) -> Iterator[None]:
    """Count one call of the block in ``counter`` under ``labels`` plus its outcome."""
    try:
        yield
    except BaseException as exc:
        counter.labels(*labels, outcome_of(exc)).inc()
        raise
    counter.labels(*labels, "ok").inc()


def time_database() -> None:
    """Measure every statement of this process's database connections from now on."""
    from storage import sqlite

    sqlite.on_statement = observe_statement


def track_queue(name: str, length: Callable[[], float]) -> None:
    """Report ``length()`` as the queue's current length at every scrape."""
    QUEUE_LENGTH.labels(name).set_function(length)


def exposition() -> tuple[bytes, str]:
    """The body and content type of a ``/metrics`` answer."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def metrics_allowed(token: str | None, authorization: str | None, remote: str | None) -> bool:
    """Whether a ``/metrics`` request may be answered.

    With a token configured: only ``Authorization: Bearer <token>`` (compared in constant
    time), from anywhere. Without one: only clients on a loopback address (127.0.0.0/8, ::1,
    and IPv4-mapped loopback), whatever they send.
    """
    if token is not None:
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(given.strip().encode(), token.encode())
    if not remote:
        return False
    try:
        address = ipaddress.ip_address(remote.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback
