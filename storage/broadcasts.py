"""Admin broadcasts: progress is stored after every recipient so a restart resumes them."""

from __future__ import annotations

from dataclasses import dataclass

from storage.db import Database
from storage.sqlite import Connection

RUNNING = "running"
DONE = "done"


@dataclass(frozen=True, slots=True)
class BroadcastRow:
    id: int
    admin_id: int
    text: str
    status: str
    last_user: int
    sent: int
    failed: int
    created_at: int
    finished_at: int | None


_COLUMNS = "id, admin_id, text, status, last_user, sent, failed, created_at, finished_at"


async def create(conn: Connection, *, admin_id: int, text: str, now: int) -> BroadcastRow:
    cursor = await conn.execute(
        f"INSERT INTO broadcasts (admin_id, text, created_at) VALUES (?, ?, ?) "
        f"RETURNING {_COLUMNS}",
        (admin_id, text, now),
    )
    row = await cursor.fetchone()
    await cursor.close()
    assert row is not None
    return BroadcastRow(*row)


async def get(conn: Connection, broadcast_id: int) -> BroadcastRow | None:
    cursor = await conn.execute(f"SELECT {_COLUMNS} FROM broadcasts WHERE id = ?", (broadcast_id,))
    row = await cursor.fetchone()
    await cursor.close()
    return None if row is None else BroadcastRow(*row)


async def running(conn: Connection) -> list[BroadcastRow]:
    cursor = await conn.execute(
        f"SELECT {_COLUMNS} FROM broadcasts WHERE status = ? ORDER BY id", (RUNNING,)
    )
    rows = await cursor.fetchall()
    await cursor.close()
    return [BroadcastRow(*row) for row in rows]


async def next_recipients(
    conn: Connection, *, after: int, limit: int
) -> list[tuple[int, str | None]]:
    """(user id, language code) of the next users in id order who may get a broadcast."""
    cursor = await conn.execute(
        "SELECT id, language_code FROM users "
        "WHERE id > ? AND is_banned = 0 AND blocked_bot = 0 ORDER BY id LIMIT ?",
        (after, limit),
    )
    rows = await cursor.fetchall()
    await cursor.close()
    return [(int(row[0]), row[1]) for row in rows]


_COUNT_REMAINING = "SELECT COUNT(*) FROM users WHERE id > ? AND is_banned = 0 AND blocked_bot = 0"


async def count_remaining_off_loop(db: Database, *, after: int) -> int:
    """Recipients after ``after``: a scan of ``users`` (tens of milliseconds at a million
    users), so it runs on the database's thread, once per broadcast start or resume."""
    rows = await db.read_off_loop(_COUNT_REMAINING, (after,))
    return int(rows[0][0]) if rows else 0


async def count_remaining(conn: Connection, *, after: int) -> int:
    cursor = await conn.execute(
        "SELECT COUNT(*) FROM users WHERE id > ? AND is_banned = 0 AND blocked_bot = 0", (after,)
    )
    row = await cursor.fetchone()
    await cursor.close()
    return int(row[0]) if row else 0


async def advance(
    conn: Connection, broadcast_id: int, *, user_id: int, sent: int, failed: int
) -> None:
    """Record one recipient's outcome (only moving forward, so a replay cannot count twice)."""
    await conn.execute(
        "UPDATE broadcasts SET last_user = ?, sent = sent + ?, failed = failed + ? "
        "WHERE id = ? AND last_user < ?",
        (user_id, sent, failed, broadcast_id, user_id),
    )


async def finish(conn: Connection, broadcast_id: int, now: int) -> None:
    await conn.execute(
        "UPDATE broadcasts SET status = ?, finished_at = ? WHERE id = ?",
        (DONE, now, broadcast_id),
    )
