"""The api_keys table: one key per user, stored only as a SHA-256 hash and a display prefix.

Functions take a connection; the caller owns the transaction (or the snapshot, for reads).
:func:`find_by_hash`, the HTTP API's per-request lookup, takes the database itself. Every
state change is one conditional UPDATE whose rowcount says whether it happened, so
concurrent callers (a ``chat_member`` update, the reconciliation task, a ``/key``) never
flip a key twice.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from typing import Any

from storage.db import Database
from storage.sqlite import Connection

logger = logging.getLogger(__name__)

LEFT_CHANNEL = "left_channel"
REVOKED = "revoked"
BANNED = "banned"

_COLUMNS = (
    "user_id, key_hash, prefix, is_active, inactive_reason, created_at, last_used_at, checked_at"
)


@dataclass(frozen=True, slots=True)
class KeyRow:
    user_id: int
    key_hash: str
    prefix: str
    is_active: bool
    inactive_reason: str | None
    created_at: int
    last_used_at: int | None
    checked_at: int | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> KeyRow:
        return cls(
            user_id=row["user_id"],
            key_hash=row["key_hash"],
            prefix=row["prefix"],
            is_active=bool(row["is_active"]),
            inactive_reason=row["inactive_reason"],
            created_at=row["created_at"],
            last_used_at=row["last_used_at"],
            checked_at=row["checked_at"],
        )


@dataclass(frozen=True, slots=True)
class OwnerRow:
    """A key found by its hash, with what deciding whether it may be used needs."""

    user_id: int
    key_hash: str
    is_active: bool
    inactive_reason: str | None  # left_channel | revoked | banned
    last_used_at: int | None
    is_banned: bool
    tier: str | None
    tier_expires_at: int | None


async def _rowcount(conn: Connection, sql: str, params: tuple[Any, ...]) -> int:
    cursor = await conn.execute(sql, params)
    count = cursor.rowcount
    await cursor.close()
    return count


async def get(conn: Connection, user_id: int) -> KeyRow | None:
    cursor = await conn.execute(f"SELECT {_COLUMNS} FROM api_keys WHERE user_id = ?", (user_id,))
    row = await cursor.fetchone()
    await cursor.close()
    return None if row is None else KeyRow.from_row(row)


async def insert_if_absent(
    conn: Connection, *, user_id: int, key_hash: str, prefix: str, now: int
) -> KeyRow | None:
    """Create the user's key unless they already have one; None when they do."""
    cursor = await conn.execute(
        f"""
        INSERT INTO api_keys (user_id, key_hash, prefix, is_active, created_at, checked_at)
        VALUES (?, ?, ?, 1, ?, ?)
        ON CONFLICT (user_id) DO NOTHING
        RETURNING {_COLUMNS}
        """,
        (user_id, key_hash, prefix, now, now),
    )
    row = await cursor.fetchone()
    await cursor.close()
    return None if row is None else KeyRow.from_row(row)


async def replace(
    conn: Connection,
    *,
    user_id: int,
    expected_prefix: str,
    key_hash: str,
    prefix: str,
    now: int,
) -> KeyRow | None:
    """Swap in a new key (active, never used) if the current one still has
    ``expected_prefix``; None when it does not (a stale confirmation) or there is no key."""
    cursor = await conn.execute(
        f"""
        UPDATE api_keys
        SET key_hash = ?, prefix = ?, is_active = 1, inactive_reason = NULL,
            created_at = ?, last_used_at = NULL, checked_at = ?
        WHERE user_id = ? AND prefix = ?
        RETURNING {_COLUMNS}
        """,
        (key_hash, prefix, now, now, user_id, expected_prefix),
    )
    row = await cursor.fetchone()
    await cursor.close()
    return None if row is None else KeyRow.from_row(row)


async def revoke(conn: Connection, *, user_id: int, expected_prefix: str) -> bool:
    """Switch the key off for good (only a new key replaces it). False if already revoked
    or the current key is not the expected one."""
    return (
        await _rowcount(
            conn,
            "UPDATE api_keys SET is_active = 0, inactive_reason = ? "
            "WHERE user_id = ? AND prefix = ? AND inactive_reason IS NOT ?",
            (REVOKED, user_id, expected_prefix, REVOKED),
        )
        == 1
    )


async def deactivate(conn: Connection, *, user_id: int, reason: str, now: int) -> bool:
    """Active -> inactive for ``reason``; False when it was not active."""
    return (
        await _rowcount(
            conn,
            "UPDATE api_keys SET is_active = 0, inactive_reason = ?, checked_at = ? "
            "WHERE user_id = ? AND is_active = 1",
            (reason, now, user_id),
        )
        == 1
    )


async def reactivate(conn: Connection, *, user_id: int, reason: str, now: int) -> bool:
    """Inactive for ``reason`` -> active; a key switched off for any other reason (revoked)
    stays off. False when nothing changed."""
    return (
        await _rowcount(
            conn,
            "UPDATE api_keys SET is_active = 1, inactive_reason = NULL, checked_at = ? "
            "WHERE user_id = ? AND is_active = 0 AND inactive_reason = ?",
            (now, user_id, reason),
        )
        == 1
    )


async def mark_checked(conn: Connection, *, user_id: int, now: int) -> None:
    await conn.execute("UPDATE api_keys SET checked_at = ? WHERE user_id = ?", (now, user_id))


_FIND_BY_HASH = """
    SELECT k.user_id, k.key_hash, k.is_active, k.inactive_reason, k.last_used_at, u.is_banned,
           t.tier, t.expires_at
    FROM api_keys AS k
    JOIN users AS u ON u.id = k.user_id
    LEFT JOIN user_tiers AS t ON t.user_id = k.user_id
    WHERE k.key_hash = ?
"""


async def find_by_hash(db: Database, key_hash: str) -> OwnerRow | None:
    """The key with this hash, its owner and the owner's tier row, in one indexed read.

    It runs for every HTTP API request, so it goes through ``Database.read_now`` (a private
    read-only connection, no wait for this process's lock); when that quick read is refused
    (a rare WAL recovery, an in-memory database) the same query runs the usual way.
    """
    if db.engine != "sqlite":  # a server database: no private file connection
        rows = await db.fetchall(_FIND_BY_HASH, (key_hash,))
        return _owner(rows)
    try:
        rows = db.read_now(_FIND_BY_HASH, (key_hash,))
    except sqlite3.Error as exc:
        if str(db.path) != ":memory:":
            logger.warning("quick key lookup refused (%s); reading the usual way", exc)
        rows = await db.fetchall(_FIND_BY_HASH, (key_hash,))
    return _owner(rows)


def _owner(rows: list[Any]) -> OwnerRow | None:
    if not rows:
        return None
    row = rows[0]
    return OwnerRow(
        user_id=row[0],
        key_hash=row[1],
        is_active=bool(row[2]),
        inactive_reason=row[3],
        last_used_at=row[4],
        is_banned=bool(row[5]),
        tier=row[6],
        tier_expires_at=row[7],
    )


async def touch_used(
    conn: Connection, *, user_id: int, key_hash: str, now: int, resolution: int
) -> None:
    """Record a use, at most once per ``resolution`` seconds (saves a write per request)."""
    await conn.execute(
        "UPDATE api_keys SET last_used_at = ? "
        "WHERE user_id = ? AND key_hash = ? AND (last_used_at IS NULL OR last_used_at <= ?)",
        (now, user_id, key_hash, now - resolution),
    )


# Keys that follow the channel: active, or off because the owner left. The literal (not a
# parameter) lets SQLite use the partial index ``api_keys_recheck``, whose WHERE is the same.
_FOLLOWING = "(is_active = 1 OR inactive_reason = 'left_channel')"


async def due_for_check(
    conn: Connection, *, after_user: int, checked_before: int, limit: int
) -> list[int]:
    """Owners whose key follows the channel and was last checked at or before
    ``checked_before``, in user id order after ``after_user``."""
    cursor = await conn.execute(
        f"""
        SELECT user_id FROM api_keys
        WHERE user_id > ? AND {_FOLLOWING}
          AND (checked_at IS NULL OR checked_at <= ?)
        ORDER BY user_id
        LIMIT ?
        """,
        (after_user, checked_before, limit),
    )
    rows = await cursor.fetchall()
    await cursor.close()
    return [int(row[0]) for row in rows]


async def oldest_due(conn: Connection, *, checked_before: int, limit: int) -> list[int]:
    """Up to ``limit`` owners whose key follows the channel and was last checked at or
    before ``checked_before``, the longest unchecked first. One range of the partial index
    ``api_keys_recheck``: as cheap with a million keys as with ten."""
    cursor = await conn.execute(
        f"""
        SELECT user_id FROM api_keys
        WHERE {_FOLLOWING} AND checked_at <= ?
        ORDER BY checked_at, user_id
        LIMIT ?
        """,
        (checked_before, limit),
    )
    rows = await cursor.fetchall()
    await cursor.close()
    return [int(row[0]) for row in rows]


async def oldest_check(conn: Connection) -> int | None:
    """The oldest ``checked_at`` among keys that follow the channel (0: never checked); None
    when there are none. The first entry of the partial index."""
    cursor = await conn.execute(f"SELECT MIN(checked_at) FROM api_keys WHERE {_FOLLOWING}")
    row = await cursor.fetchone()
    await cursor.close()
    return None if row is None or row[0] is None else int(row[0])


COUNT_FOLLOWING = f"SELECT COUNT(*) FROM api_keys WHERE {_FOLLOWING}"


async def owner_profile(conn: Connection, user_id: int) -> tuple[str | None, bool] | None:
    """(language_code, blocked_bot) of a user, for notices about their key."""
    cursor = await conn.execute(
        "SELECT language_code, blocked_bot FROM users WHERE id = ?", (user_id,)
    )
    row = await cursor.fetchone()
    await cursor.close()
    return None if row is None else (row[0], bool(row[1]))


async def is_banned(conn: Connection, user_id: int) -> bool:
    cursor = await conn.execute("SELECT is_banned FROM users WHERE id = ?", (user_id,))
    row = await cursor.fetchone()
    await cursor.close()
    return bool(row and row[0])


async def mark_blocked_bot(conn: Connection, user_id: int) -> None:
    """The user blocked the bot (a send failed with 403); cleared when they write again."""
    await conn.execute("UPDATE users SET blocked_bot = 1 WHERE id = ?", (user_id,))
