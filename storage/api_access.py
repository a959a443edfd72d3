"""What the HTTP API needs to know about a key, in one read: its owner, whether it may be
used (and why not), and the owner's tier row.

:func:`find_caller` is a blocking indexed read through ``Database.read_now`` (no hop to the
database thread: it runs for every API request); :func:`find_caller_async` is the same read
the usual way, for when the quick read is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import aiosqlite

from storage.db import Database


@dataclass(frozen=True, slots=True)
class CallerRow:
    user_id: int
    is_active: bool
    inactive_reason: str | None  # left_channel | banned | revoked
    last_used_at: int | None
    is_banned: bool
    tier: str | None  # None: no user_tiers row (Free)
    tier_expires_at: int | None


_FIND_CALLER = """
    SELECT k.user_id, k.is_active, k.inactive_reason, k.last_used_at, u.is_banned,
           t.tier, t.expires_at
    FROM api_keys AS k
    JOIN users AS u ON u.id = k.user_id
    LEFT JOIN user_tiers AS t ON t.user_id = k.user_id
    WHERE k.key_hash = ?
"""


def _caller(rows: Iterable[Any]) -> CallerRow | None:
    row = next(iter(rows), None)
    if row is None:
        return None
    return CallerRow(
        user_id=row[0],
        is_active=bool(row[1]),
        inactive_reason=row[2],
        last_used_at=row[3],
        is_banned=bool(row[4]),
        tier=row[5],
        tier_expires_at=row[6],
    )


def find_caller(db: Database, key_hash: str) -> CallerRow | None:
    """Blocking; raises ``sqlite3.Error`` when the quick read is refused."""
    return _caller(db.read_now(_FIND_CALLER, (key_hash,)))


async def find_caller_async(db: Database, key_hash: str) -> CallerRow | None:
    return _caller(await db.fetchall(_FIND_CALLER, (key_hash,)))


async def touch_used(
    conn: aiosqlite.Connection, *, user_id: int, key_hash: str, now: int, resolution: int
) -> None:
    """Record a use, at most once per ``resolution`` seconds per key."""
    await conn.execute(
        "UPDATE api_keys SET last_used_at = ? "
        "WHERE user_id = ? AND key_hash = ? AND (last_used_at IS NULL OR last_used_at <= ?)",
        (now, user_id, key_hash, now - resolution),
    )
