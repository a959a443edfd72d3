"""The user_tiers table: a user's current paid, granted or trial tier."""

from __future__ import annotations

from dataclasses import dataclass

from storage.sqlite import Connection


@dataclass(frozen=True, slots=True)
class TierRow:
    user_id: int
    tier: str
    expires_at: int | None
    source: str
    trial_taken_at: int | None
    reminded_at: int | None


COLUMNS = "user_id, tier, expires_at, source, trial_taken_at, reminded_at"


async def get(conn: Connection, user_id: int) -> TierRow | None:
    cursor = await conn.execute(f"SELECT {COLUMNS} FROM user_tiers WHERE user_id = ?", (user_id,))
    row = await cursor.fetchone()
    await cursor.close()
    if row is None:
        return None
    return TierRow(*row)


async def put(
    conn: Connection,
    *,
    user_id: int,
    tier: str,
    expires_at: int | None,
    source: str,
    now: int,
) -> None:
    """Set a user's tier. The trial history is kept; a new period gets a new reminder."""
    await conn.execute(
        """
        INSERT INTO user_tiers (user_id, tier, expires_at, source, reminded_at, updated_at)
        VALUES (?, ?, ?, ?, NULL, ?)
        ON CONFLICT (user_id) DO UPDATE SET
            tier = excluded.tier,
            expires_at = excluded.expires_at,
            source = excluded.source,
            reminded_at = NULL,
            updated_at = excluded.updated_at
        """,
        (user_id, tier, expires_at, source, now),
    )


async def start_trial(
    conn: Connection,
    *,
    user_id: int,
    tier: str,
    expires_at: int,
    now: int,
    taken_before: int,
) -> bool:
    """Start a trial unless a paid tier is in force or a trial was taken after
    ``taken_before``. One statement, so two taps cannot start two trials."""
    cursor = await conn.execute(
        """
        INSERT INTO user_tiers (user_id, tier, expires_at, source, trial_taken_at,
                                reminded_at, updated_at)
        VALUES (?, ?, ?, 'trial', ?, NULL, ?)
        ON CONFLICT (user_id) DO UPDATE SET
            tier = excluded.tier,
            expires_at = excluded.expires_at,
            source = 'trial',
            trial_taken_at = excluded.trial_taken_at,
            reminded_at = NULL,
            updated_at = excluded.updated_at
        WHERE (user_tiers.trial_taken_at IS NULL OR user_tiers.trial_taken_at <= ?)
          AND (user_tiers.tier = 'free'
               OR (user_tiers.expires_at IS NOT NULL AND user_tiers.expires_at <= ?))
        RETURNING user_id
        """,
        (user_id, tier, expires_at, now, now, taken_before, now),
    )
    row = await cursor.fetchone()
    await cursor.close()
    return row is not None


async def due_reminders(
    conn: Connection, *, now: int, within: int, limit: int = 500
) -> list[TierRow]:
    """Paid or granted periods ending within ``within`` seconds that were not reminded of.
    Trials (24 hours long) and tiers of a subscription that renews itself get no reminder."""
    cursor = await conn.execute(
        """
        SELECT t.user_id, t.tier, t.expires_at, t.source, t.trial_taken_at, t.reminded_at
        FROM user_tiers AS t JOIN users AS u ON u.id = t.user_id
        WHERE t.tier != 'free' AND t.source != 'trial' AND t.reminded_at IS NULL
          AND t.expires_at IS NOT NULL AND t.expires_at > ? AND t.expires_at <= ?
          AND u.is_banned = 0 AND u.blocked_bot = 0
          -- a plan that renews itself needs no "extend it" reminder
          AND NOT EXISTS (
              SELECT 1 FROM star_subscriptions AS s
              WHERE s.user_id = t.user_id AND s.tier = t.tier AND s.state = 'active'
                AND s.period_end > ?
          )
        ORDER BY t.expires_at
        LIMIT ?
        """,
        (now, now + within, now, limit),
    )
    rows = await cursor.fetchall()
    await cursor.close()
    return [TierRow(*row) for row in rows]


async def claim_reminder(conn: Connection, *, user_id: int, expires_at: int, now: int) -> bool:
    """Mark the reminder for this period as sent; False if it already was (or the period
    changed meanwhile)."""
    cursor = await conn.execute(
        "UPDATE user_tiers SET reminded_at = ? "
        "WHERE user_id = ? AND expires_at = ? AND reminded_at IS NULL",
        (now, user_id, expires_at),
    )
    changed = cursor.rowcount
    await cursor.close()
    return changed == 1


async def count_active(conn: Connection, *, now: int) -> dict[str, int]:
    """Users per tier in force now (users without a tier in force are not counted)."""
    cursor = await conn.execute(
        "SELECT tier, COUNT(*) FROM user_tiers "
        "WHERE tier != 'free' AND (expires_at IS NULL OR expires_at > ?) GROUP BY tier",
        (now,),
    )
    rows = await cursor.fetchall()
    await cursor.close()
    return {row[0]: int(row[1]) for row in rows}
