"""Queries behind /usage's key line and the admin commands. The caller owns the transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from storage import star_subscriptions as subs_repo
from storage.db import Database
from storage.sqlite import Connection

KEY_NONE = "none"
KEY_ACTIVE = "active"
KEY_INACTIVE = "inactive"


async def _value(conn: Connection, sql: str, params: tuple[Any, ...] = ()) -> int:
    cursor = await conn.execute(sql, params)
    row = await cursor.fetchone()
    await cursor.close()
    return int(row[0]) if row and row[0] is not None else 0


async def key_status(conn: Connection, user_id: int) -> str:
    """none / active / inactive for the user's API key."""
    cursor = await conn.execute("SELECT is_active FROM api_keys WHERE user_id = ?", (user_id,))
    row = await cursor.fetchone()
    await cursor.close()
    if row is None:
        return KEY_NONE
    return KEY_ACTIVE if row[0] else KEY_INACTIVE


async def count_users(conn: Connection) -> dict[str, int]:
    cursor = await conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(is_banned), 0), COALESCE(SUM(blocked_bot), 0) FROM users"
    )
    row = await cursor.fetchone()
    await cursor.close()
    assert row is not None
    return {"total": int(row[0]), "banned": int(row[1]), "blocked_bot": int(row[2])}


async def count_active_keys(conn: Connection) -> int:
    return await _value(conn, "SELECT COUNT(*) FROM api_keys WHERE is_active = 1")


async def usage_on(conn: Connection, day: str) -> dict[str, int]:
    """Requests per kind on a UTC day, all users together."""
    cursor = await conn.execute(
        "SELECT kind, SUM(used) FROM usage_daily WHERE day = ? GROUP BY kind", (day,)
    )
    rows = await cursor.fetchall()
    await cursor.close()
    return {row[0]: int(row[1]) for row in rows}


async def set_banned(conn: Connection, user_id: int, banned: bool, now: int) -> bool:
    """Ban or unban; False when the user is unknown. The API key is not touched: the key
    service refuses the keys of banned users itself (``users.is_banned``)."""
    cursor = await conn.execute(
        "UPDATE users SET is_banned = ?, updated_at = ? WHERE id = ?",
        (1 if banned else 0, now, user_id),
    )
    found = cursor.rowcount == 1
    await cursor.close()
    return found


async def user_exists(conn: Connection, user_id: int) -> bool:
    return await _value(conn, "SELECT COUNT(*) FROM users WHERE id = ?", (user_id,)) == 1


async def mark_blocked_bot(conn: Connection, user_id: int) -> None:
    await conn.execute("UPDATE users SET blocked_bot = 1 WHERE id = ?", (user_id,))


async def language_of(conn: Connection, user_id: int) -> str | None:
    cursor = await conn.execute("SELECT language_code FROM users WHERE id = ?", (user_id,))
    row = await cursor.fetchone()
    await cursor.close()
    return None if row is None else row[0]


@dataclass(frozen=True, slots=True)
class Counts:
    users: int
    banned: int
    blocked_bot: int
    active_keys: int
    per_tier: dict[str, int]
    usage: dict[str, int]
    earned: int
    # Monthly plans: tier -> (subscribers whose plan renews, their Stars a month).
    subscribers: dict[str, tuple[int, int]] = field(default_factory=dict)
    canceled: int = 0  # subscriptions whose renewal was stopped since ``since``


_COUNT_USERS = (
    "SELECT COUNT(*), COALESCE(SUM(is_banned), 0), COALESCE(SUM(blocked_bot), 0) FROM users"
)
_COUNT_KEYS = "SELECT COUNT(*) FROM api_keys WHERE is_active = 1"
_PER_TIER = (
    "SELECT tier, COUNT(*) FROM user_tiers "
    "WHERE tier != 'free' AND (expires_at IS NULL OR expires_at > ?) GROUP BY tier"
)
_USAGE_ON = "SELECT kind, SUM(used) FROM usage_daily WHERE day = ? GROUP BY kind"
_EARNED = (
    "SELECT COALESCE(SUM(amount), 0) FROM payments "
    "WHERE currency = 'XTR' AND created_at >= ? AND status IN ('received', 'credited')"
)


async def counts(db: Database, *, day: str, now: int, since: int) -> Counts:
    """Everything /stats counts. The user count reads every row of ``users`` (hundreds of
    milliseconds at a million users), so all of it runs on the database's thread
    (``Database.read_off_loop``): the bot keeps answering meanwhile."""
    users = (await db.read_off_loop(_COUNT_USERS))[0]
    keys = (await db.read_off_loop(_COUNT_KEYS))[0]
    per_tier = await db.read_off_loop(_PER_TIER, (now,))
    usage = await db.read_off_loop(_USAGE_ON, (day,))
    earned = (await db.read_off_loop(_EARNED, (since,)))[0]
    subscribers = await db.read_off_loop(subs_repo.RENEWING_PER_TIER, (now,))
    canceled = (await db.read_off_loop(subs_repo.CANCELED_SINCE, (since,)))[0]
    return Counts(
        users=int(users[0]),
        banned=int(users[1]),
        blocked_bot=int(users[2]),
        active_keys=int(keys[0]),
        per_tier={row[0]: int(row[1]) for row in per_tier},
        usage={row[0]: int(row[1]) for row in usage},
        earned=int(earned[0]),
        subscribers={row[0]: (int(row[1]), int(row[2])) for row in subscribers},
        canceled=int(canceled[0]),
    )


# -- the /stats chart: daily series. Plain sqlite3 (not the shared async connection): they
# scan a month of usage_daily and payments, so they run in a worker thread on a connection of
# their own (see bot.services.stats_chart), never on the event loop.


DAILY_ACTIVE_USERS = (
    "SELECT day, COUNT(DISTINCT user_id) FROM usage_daily WHERE day >= ? AND used > 0 GROUP BY day"
)
DAILY_REQUESTS = "SELECT day, kind, SUM(used) FROM usage_daily WHERE day >= ? GROUP BY day, kind"
DAILY_STARS = (
    "SELECT date(created_at, 'unixepoch') AS day, SUM(amount) FROM payments "
    "WHERE currency = ? AND created_at >= ? AND status IN ('received', 'credited') "
    "GROUP BY date(created_at, 'unixepoch')"
)


def active_users_by_day(rows: Iterable[Any]) -> dict[str, int]:
    return {str(row[0]): int(row[1]) for row in rows}


def requests_by_day(rows: Iterable[Any]) -> dict[tuple[str, str], int]:
    return {(str(row[0]), str(row[1])): int(row[2] or 0) for row in rows}


def stars_by_day(rows: Iterable[Any]) -> dict[str, int]:
    return {str(row[0]): int(row[1] or 0) for row in rows}


def daily_active_users(raw: sqlite3.Connection, since_day: str) -> dict[str, int]:
    """Users who spent anything, per UTC day from ``since_day`` (``YYYY-MM-DD``) on."""
    return active_users_by_day(raw.execute(DAILY_ACTIVE_USERS, (since_day,)).fetchall())


def daily_requests(raw: sqlite3.Connection, since_day: str) -> dict[tuple[str, str], int]:
    """Requests per (UTC day, kind) from ``since_day`` on, all users together."""
    return requests_by_day(raw.execute(DAILY_REQUESTS, (since_day,)).fetchall())


def daily_stars(raw: sqlite3.Connection, since: int, currency: str = "XTR") -> dict[str, int]:
    """Stars paid per UTC day since the unix time ``since`` (refunded payments left out,
    as in ``payments.earned_since``)."""
    return stars_by_day(raw.execute(DAILY_STARS, (currency, since)).fetchall())
