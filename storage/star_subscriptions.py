"""Telegram Stars subscriptions (monthly plans), one row per invoice payload. The caller owns
the transaction.

States: ``active`` (renews itself), ``canceling`` (the bot decided to stop the renewal and
has not yet heard Telegram confirm it: retried at start), ``canceled`` (no renewal: the paid
period runs out), ``failed`` (Telegram could not charge the renewal). A subscription whose
``period_end`` has passed without a renewal is simply over, whatever its state.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.sqlite import Connection

ACTIVE = "active"
CANCELING = "canceling"
CANCELED = "canceled"
FAILED = "failed"

# Who stopped the renewal: the user in Telegram, the user with /premium's button, the bot
# when the user moved to a higher tier, an admin's refund.
BY_USER = "user"
BY_BOT = "bot"
BY_SWITCH = "switch"
BY_REFUND = "refund"


@dataclass(frozen=True, slots=True)
class SubscriptionRow:
    payload: str
    user_id: int
    tier: str
    amount: int
    charge_id: str
    state: str
    canceled_by: str | None
    period_end: int
    bonus: int
    failure_told_at: int | None
    canceled_at: int | None


COLUMNS = (
    "payload, user_id, tier, amount, charge_id, state, canceled_by, period_end, bonus, "
    "failure_told_at, canceled_at"
)


async def _rows(conn: Connection, sql: str, params: tuple[object, ...]) -> list[SubscriptionRow]:
    cursor = await conn.execute(sql, params)
    rows = await cursor.fetchall()
    await cursor.close()
    return [SubscriptionRow(*row) for row in rows]


async def get(conn: Connection, payload: str) -> SubscriptionRow | None:
    rows = await _rows(
        conn, f"SELECT {COLUMNS} FROM star_subscriptions WHERE payload = ?", (payload,)
    )
    return rows[0] if rows else None


async def current(conn: Connection, user_id: int, *, now: int) -> list[SubscriptionRow]:
    """The user's subscriptions whose paid period has not ended, latest first."""
    return await _rows(
        conn,
        f"SELECT {COLUMNS} FROM star_subscriptions WHERE user_id = ? AND period_end > ? "
        "ORDER BY period_end DESC, created_at DESC",
        (user_id, now),
    )


async def paid(
    conn: Connection,
    *,
    payload: str,
    user_id: int,
    tier: str,
    amount: int,
    charge_id: str,
    period_end: int,
    bonus: int,
    now: int,
) -> SubscriptionRow:
    """A payment of the subscription was credited: create it (first payment) or move its
    period on (renewal). A renewal makes a failed or user-canceled subscription active again
    (Telegram charged it); one the bot is cancelling stays so until Telegram confirms."""
    cursor = await conn.execute(
        f"""
        INSERT INTO star_subscriptions (payload, user_id, tier, amount, charge_id, state,
                                        period_end, bonus, created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, 'active', ?, ?, ?, ?)
        ON CONFLICT (payload) DO UPDATE SET
            period_end = MAX(star_subscriptions.period_end, excluded.period_end),
            state = CASE WHEN star_subscriptions.state = 'canceling' THEN 'canceling'
                         ELSE 'active' END,
            canceled_by = CASE WHEN star_subscriptions.state = 'canceling'
                               THEN star_subscriptions.canceled_by ELSE NULL END,
            failure_told_at = NULL,
            updated_at = excluded.updated_at
        RETURNING {COLUMNS}
        """,
        (payload, user_id, tier, amount, charge_id, period_end, bonus, now, now),
    )
    row = await cursor.fetchone()
    await cursor.close()
    assert row is not None
    return SubscriptionRow(*row)


async def set_state(
    conn: Connection, payload: str, *, state: str, canceled_by: str | None, now: int
) -> SubscriptionRow | None:
    """Record a state Telegram reported or the bot confirmed; None for an unknown payload."""
    cursor = await conn.execute(
        f"""
        UPDATE star_subscriptions SET
            state = ?,
            canceled_by = ?,
            canceled_at = CASE WHEN ? = 'canceled' AND state != 'canceled' THEN ?
                               WHEN ? = 'canceled' THEN canceled_at ELSE NULL END,
            failure_told_at = CASE WHEN ? = 'failed' THEN failure_told_at ELSE NULL END,
            updated_at = ?
        WHERE payload = ?
        RETURNING {COLUMNS}
        """,
        (state, canceled_by, state, now, state, state, now, payload),
    )
    row = await cursor.fetchone()
    await cursor.close()
    return None if row is None else SubscriptionRow(*row)


async def mark_canceling(conn: Connection, payload: str, *, by: str, now: int) -> bool:
    """Decide to stop the renewal of a renewing (or failed) subscription. False when it does
    not renew anyway."""
    cursor = await conn.execute(
        "UPDATE star_subscriptions SET state = 'canceling', canceled_by = ?, updated_at = ? "
        "WHERE payload = ? AND state IN ('active', 'failed')",
        (by, now, payload),
    )
    changed = cursor.rowcount
    await cursor.close()
    return changed == 1


async def canceling(conn: Connection) -> list[SubscriptionRow]:
    return await _rows(
        conn,
        f"SELECT {COLUMNS} FROM star_subscriptions WHERE state = 'canceling' ORDER BY updated_at",
        (),
    )


async def claim_failure_notice(conn: Connection, payload: str, *, now: int) -> bool:
    """True once per failure: the caller tells the user."""
    cursor = await conn.execute(
        "UPDATE star_subscriptions SET failure_told_at = ? "
        "WHERE payload = ? AND state = 'failed' AND failure_told_at IS NULL",
        (now, payload),
    )
    changed = cursor.rowcount
    await cursor.close()
    return changed == 1


# Also read by /stats (storage.admin.counts), there on the database's own thread.
RENEWING_PER_TIER = (
    "SELECT tier, COUNT(*), COALESCE(SUM(amount), 0) FROM star_subscriptions "
    "WHERE state = 'active' AND period_end > ? GROUP BY tier"
)
CANCELED_SINCE = (
    "SELECT COUNT(*) FROM star_subscriptions WHERE state = 'canceled' AND canceled_at >= ?"
)


async def renewing_per_tier(conn: Connection, *, now: int) -> dict[str, tuple[int, int]]:
    """tier -> (subscribers whose plan renews, their Stars a month)."""
    cursor = await conn.execute(RENEWING_PER_TIER, (now,))
    rows = await cursor.fetchall()
    await cursor.close()
    return {row[0]: (int(row[1]), int(row[2])) for row in rows}


async def canceled_since(conn: Connection, since: int) -> int:
    cursor = await conn.execute(CANCELED_SINCE, (since,))
    row = await cursor.fetchone()
    await cursor.close()
    return int(row[0]) if row else 0
