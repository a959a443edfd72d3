"""Chat repository: conversation memory (``messages``), conversations (``conversations``:
name, model, persona per chat and thread) and the user's chat model.

A conversation is ``(scope, thread)``: scope is the user id in a private chat or the chat id
of a group; thread is the topic's ``message_thread_id``, 0 outside topics.
Functions take a connection; the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from storage.sqlite import Connection


@dataclass(frozen=True, slots=True)
class StoredMessage:
    id: int
    role: str
    content: str
    model: str | None


@dataclass(frozen=True, slots=True)
class ConversationRow:
    scope: int
    thread: int
    title: str | None
    named: bool
    model: str | None
    persona: str | None
    created_at: int
    last_used_at: int
    messages: int = 0


async def recent(conn: Connection, scope: int, limit: int, thread: int = 0) -> list[StoredMessage]:
    """The newest ``limit`` messages of the conversation, oldest first."""
    cursor = await conn.execute(
        "SELECT id, role, content, model FROM messages WHERE scope = ? AND thread_id = ? "
        "ORDER BY id DESC LIMIT ?",
        (scope, thread, limit),
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
    thread: int = 0,
) -> None:
    await conn.execute(
        "INSERT INTO messages (scope, thread_id, role, content, model, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (scope, thread, role, content, model, now),
    )


async def prune(conn: Connection, scope: int, keep: int, thread: int = 0) -> int:
    """Delete all but the newest ``keep`` messages of the conversation; returns how many."""
    cursor = await conn.execute(
        "DELETE FROM messages WHERE scope = ? AND thread_id = ? AND id < COALESCE(("
        "  SELECT id FROM messages WHERE scope = ? AND thread_id = ? "
        "  ORDER BY id DESC LIMIT 1 OFFSET ?"
        "), -1)",
        (scope, thread, scope, thread, keep - 1),
    )
    count = cursor.rowcount
    await cursor.close()
    return count


async def clear(conn: Connection, scope: int, thread: int = 0) -> int:
    cursor = await conn.execute(
        "DELETE FROM messages WHERE scope = ? AND thread_id = ?", (scope, thread)
    )
    count = cursor.rowcount
    await cursor.close()
    return count


# -- conversations ----------------------------------------------------------------------------


def _row(r: Any) -> ConversationRow:
    return ConversationRow(
        scope=r["scope"],
        thread=r["thread_id"],
        title=r["title"],
        named=bool(r["named"]),
        model=r["model"],
        persona=r["persona"],
        created_at=r["created_at"],
        last_used_at=r["last_used_at"],
        messages=r["messages"] if "messages" in r.keys() else 0,  # noqa: SIM118 - sqlite3.Row
    )


async def get_conversation(conn: Connection, scope: int, thread: int) -> ConversationRow | None:
    cursor = await conn.execute(
        "SELECT * FROM conversations WHERE scope = ? AND thread_id = ?", (scope, thread)
    )
    row = await cursor.fetchone()
    await cursor.close()
    return None if row is None else _row(row)


async def open_conversation(
    conn: Connection, scope: int, thread: int, *, now: int, named: bool = True
) -> None:
    """The conversation's row (kept as it is when it exists)."""
    await conn.execute(
        "INSERT INTO conversations (scope, thread_id, named, created_at, last_used_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (scope, thread_id) DO NOTHING",
        (scope, thread, int(named), now, now),
    )


async def touch(conn: Connection, scope: int, thread: int, *, now: int) -> None:
    """The conversation was used now (its row made if needed): one statement."""
    await conn.execute(
        "INSERT INTO conversations (scope, thread_id, created_at, last_used_at) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (scope, thread_id) DO UPDATE SET "
        "last_used_at = excluded.last_used_at",
        (scope, thread, now, now),
    )


async def set_conversation(
    conn: Connection, scope: int, thread: int, *, now: int, **fields: str | int | None
) -> None:
    """Set ``title``, ``named``, ``model`` or ``persona`` of the conversation."""
    allowed = {"title", "named", "model", "persona"}
    if not fields or not set(fields) <= allowed:
        raise ValueError(f"unknown fields {sorted(set(fields) - allowed)}")
    await open_conversation(conn, scope, thread, now=now)
    assignments = ", ".join(f"{name} = ?" for name in fields)  # names checked above
    await conn.execute(
        f"UPDATE conversations SET {assignments} WHERE scope = ? AND thread_id = ?",
        (*fields.values(), scope, thread),
    )


async def drop_conversation(conn: Connection, scope: int, thread: int) -> int:
    """The conversation and its memory; returns how many messages went."""
    count = await clear(conn, scope, thread)
    await conn.execute(
        "DELETE FROM conversations WHERE scope = ? AND thread_id = ?", (scope, thread)
    )
    return count


async def list_conversations(conn: Connection, scope: int, limit: int) -> list[ConversationRow]:
    """The scope's conversations, last used first, with their message counts."""
    cursor = await conn.execute(
        "SELECT c.*, (SELECT COUNT(*) FROM messages m "
        "  WHERE m.scope = c.scope AND m.thread_id = c.thread_id) AS messages "
        "FROM conversations c WHERE c.scope = ? ORDER BY c.last_used_at DESC, c.thread_id "
        "LIMIT ?",
        (scope, limit),
    )
    rows = await cursor.fetchall()
    await cursor.close()
    return [_row(r) for r in rows]


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
