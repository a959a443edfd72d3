"""Image defaults of a user (``users.image_settings``, JSON). The caller owns the transaction."""

from __future__ import annotations

from storage.sqlite import Connection


async def set_image_settings(conn: Connection, user_id: int, settings_json: str, now: int) -> bool:
    """Store the JSON; returns False if the user does not exist."""
    cursor = await conn.execute(
        "UPDATE users SET image_settings = ?, updated_at = ? WHERE id = ?",
        (settings_json, now, user_id),
    )
    changed = cursor.rowcount
    await cursor.close()
    return changed > 0
