"""Daily usage counters. A unit is spent by one statement that checks and increments."""

from __future__ import annotations

import sqlite3

from storage.sqlite import Connection


async def spend(
    conn: Connection, *, user_id: int, day: str, kind: str, limit: int, amount: int = 1
) -> int | None:
    """Add ``amount`` to today's counter if it stays within ``limit`` (negative = unlimited).

    Returns the new count, or None when the limit would be exceeded. The check and the
    increment are one SQL statement, so concurrent spends can never overshoot.
    """
    if limit >= 0 and amount > limit:
        return None
    cap = -1 if limit < 0 else limit - amount
    rows = await conn.execute_fetchall(
        """
        INSERT INTO usage_daily (user_id, day, kind, used) VALUES (?, ?, ?, ?)
        ON CONFLICT (user_id, day, kind) DO UPDATE SET used = usage_daily.used + excluded.used
        WHERE ? < 0 OR usage_daily.used <= ?
        RETURNING used
        """,
        (user_id, day, kind, amount, cap, cap),
    )
    row = next(iter(rows), None)
    return None if row is None else int(row[0])


async def refund(conn: Connection, *, user_id: int, day: str, kind: str, amount: int = 1) -> None:
    await conn.execute(
        "UPDATE usage_daily SET used = MAX(used - ?, 0) WHERE user_id = ? AND day = ? AND kind = ?",
        (amount, user_id, day, kind),
    )


async def used_on(conn: Connection, *, user_id: int, day: str) -> dict[str, int]:
    cursor = await conn.execute(
        "SELECT kind, used FROM usage_daily WHERE user_id = ? AND day = ?", (user_id, day)
    )
    rows = await cursor.fetchall()
    await cursor.close()
    return {row[0]: int(row[1]) for row in rows}


async def hold(
    conn: Connection,
    *,
    user_id: int,
    chat_id: int | None,
    day: str,
    kind: str,
    amount: int,
    now: int,
) -> int:
    """Note a unit spent for work in progress; returns the hold's id."""
    # RETURNING, not lastrowid: PostgreSQL has no rowid.
    rows = await conn.execute_fetchall(
        "INSERT INTO quota_holds (user_id, chat_id, day, kind, amount, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        (user_id, chat_id, day, kind, amount, now),
    )
    return int(rows[0][0])


async def release(conn: Connection, hold_id: int) -> bool:
    """Forget a hold (its work ended); False if it was already gone."""
    cursor = await conn.execute("DELETE FROM quota_holds WHERE id = ?", (hold_id,))
    gone = cursor.rowcount == 1
    await cursor.close()
    return gone


async def holds(conn: Connection) -> list[sqlite3.Row]:
    cursor = await conn.execute(
        "SELECT id, user_id, chat_id, day, kind, amount FROM quota_holds ORDER BY id"
    )
    rows = list(await cursor.fetchall())
    await cursor.close()
    return rows
