"""What the HTTP API needs to know about a key, in one read: its owner, whether it may be
used (and why not), and the owner's tier row. Functions take a connection; the caller owns
any transaction (a lookup needs none: see ``Database.reading``)."""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite


@dataclass(frozen=True, slots=True)
class CallerRow:
    user_id: int
    is_active: bool
    inactive_reason: str | None  # left_channel | banned | revoked
    last_used_at: int | None
    is_banned: bool
    tier: str | None  # None: no user_tiers row (Free)
    tier_expires_at: int | None


async def find_caller(conn: aiosqlite.Connection, key_hash: str) -> CallerRow | None:
    cursor = await conn.execute(
        """
        SELECT k.user_id, k.is_active, k.inactive_reason, k.last_used_at, u.is_banned,
               t.tier, t.expires_at
        FROM api_keys AS k
        JOIN users AS u ON u.id = k.user_id
        LEFT JOIN user_tiers AS t ON t.user_id = k.user_id
        WHERE k.key_hash = ?
        """,
        (key_hash,),
    )
    row = await cursor.fetchone()
    await cursor.close()
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


async def touch_used(
    conn: aiosqlite.Connection, *, user_id: int, key_hash: str, now: int, resolution: int
) -> None:
    """Record a use, at most once per ``resolution`` seconds per key."""
    await conn.execute(
        "UPDATE api_keys SET last_used_at = ? "
        "WHERE user_id = ? AND key_hash = ? AND (last_used_at IS NULL OR last_used_at <= ?)",
        (now, user_id, key_hash, now - resolution),
    )
