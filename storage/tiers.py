"""The user_tiers table: a user's current paid, granted or trial tier."""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite


@dataclass(frozen=True, slots=True)
class TierRow:
    user_id: int
    tier: str
    expires_at: int | None
    source: str
    trial_taken_at: int | None
    reminded_at: int | None


async def get(conn: aiosqlite.Connection, user_id: int) -> TierRow | None:
    cursor = await conn.execute(
        "SELECT user_id, tier, expires_at, source, trial_taken_at, reminded_at "
        "FROM user_tiers WHERE user_id = ?",
        (user_id,),
    )
    row = await cursor.fetchone()
    await cursor.close()
    if row is None:
        return None
    return TierRow(*row)
