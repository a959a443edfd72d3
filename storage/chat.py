"""Chat repository: conversation memory (``messages``) and the user's chat model.

Functions take a connection; the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.sqlite import Connection


@dataclass(frozen=True, slots=True)
class StoredMessage:
    id: int
    role: str
    content: str
    model: str | None


async def recent(conn: Connection, scope: int, limit: int) -> list[StoredMessage]:
    """The newest ``limit`` messages of ``scope``, oldest first."""
    cursor = await conn.execute(
        "SELECT id, role, content, model FROM messages WHERE scope = ? ORDER BY id DESC LIMIT ?",
        (scope, limit),
    )
    rows = await cursor.fetchall()
    await cursor.close()
    return [StoredMessage(r["id"], r["role"], r["content"], r["model"]) for r in reversed(rows)]


async def append(
    conn: Connection,
    scope: int,
    role: str,
    content: str,
    *,
    model: str | None,
    now: int,
) -> None:
    await conn.execute(
        "INSERT INTO messages (scope, role, content, model, created_at) VALUES (?, ?, ?, ?, ?)",
        (scope, role, content, model, now),
    )


async def prune(conn: Connection, scope: int, keep: int) -> int:
    """Delete all but the newest ``keep`` messages of ``scope``; returns how many went."""
    cursor = await conn.execute(
        "DELETE FROM messages WHERE scope = ? AND id < COALESCE(("
        "  SELECT id FROM messages WHERE scope = ? ORDER BY id DESC LIMIT 1 OFFSET ?"
        "), -1)",
        (scope, scope, keep - 1),
    )
    count = cursor.rowcount
    await cursor.close()
    return count


async def clear(conn: Connection, scope: int) -> int:
    cursor = await conn.execute("DELETE FROM messages WHERE scope = ?", (scope,))
    count = cursor.rowcount
    await cursor.close()
    return count


async def set_chat_model(conn: Connection, user_id: int, model: str | None, *, now: int) -> bool:
    """Store the user's chat model (None: the operator's default). False if no such user."""
    cursor = await conn.execute(
        "UPDATE users SET chat_model = ?, updated_at = ? WHERE id = ?", (model, now, user_id)
    )
    changed = cursor.rowcount
    await cursor.close()
    return changed > 0


async def get_chat_model(conn: Connection, user_id: int) -> str | None:
    cursor = await conn.execute("SELECT chat_model FROM users WHERE id = ?", (user_id,))
    row = await cursor.fetchone()
    await cursor.close()
    return None if row is None else row["chat_model"]
