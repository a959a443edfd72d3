"""Users repository. Functions take a connection; the caller owns the transaction."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from storage.sqlite import Connection


@dataclass(frozen=True, slots=True)
class UserRow:
    id: int
    username: str | None
    first_name: str
    last_name: str | None
    language_code: str | None
    is_banned: bool
    blocked_bot: bool
    chat_model: str | None
    image_settings: str
    created_at: int

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> UserRow:
        return cls(
            id=row["id"],
            username=row["username"],
            first_name=row["first_name"],
            last_name=row["last_name"],
            language_code=row["language_code"],
            is_banned=bool(row["is_banned"]),
            blocked_bot=bool(row["blocked_bot"]),
            chat_model=row["chat_model"],
            image_settings=row["image_settings"],
            created_at=row["created_at"],
        )


_COLUMNS = (
    "id, username, first_name, last_name, language_code, is_banned, blocked_bot, "
    "chat_model, image_settings, created_at"
)


async def upsert(
    conn: Connection,
    *,
    user_id: int,
    username: str | None,
    first_name: str,
    last_name: str | None,
    language_code: str | None,
    now: int,
) -> UserRow:
    """Insert or refresh a user's profile in one statement; a user who writes again
    has evidently not blocked the bot."""
    cursor = await conn.execute(
        f"""
        INSERT INTO users (id, username, first_name, last_name, language_code,
                           created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (id) DO UPDATE SET
            username = excluded.username,
            first_name = excluded.first_name,
            last_name = excluded.last_name,
            language_code = excluded.language_code,
            blocked_bot = 0,
            updated_at = excluded.updated_at
        RETURNING {_COLUMNS}
        """,
        (user_id, username, first_name, last_name, language_code, now, now),
    )
    row = await cursor.fetchone()
    await cursor.close()
    assert row is not None
    return UserRow.from_row(row)


async def get(conn: Connection, user_id: int) -> UserRow | None:
    cursor = await conn.execute(f"SELECT {_COLUMNS} FROM users WHERE id = ?", (user_id,))
    row = await cursor.fetchone()
    await cursor.close()
    return None if row is None else UserRow.from_row(row)
