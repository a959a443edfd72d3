"""Deleting what is kept only for a while (``RETENTION_DAYS``): the memory of idle
conversations, old daily usage counters and invoices never paid. Payments are never deleted.

Every function runs on the database's own thread (``Database.read_off_loop`` /
``write_off_loop``), and every write deletes at most ``limit`` rows in one short transaction,
so the write lock is never held long and the event loop never waits.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.db import Database

# A conversation is (scope, thread): scopes are Telegram chat ids (groups' are negative),
# threads topic ids (0 outside topics). Every key sorts after FIRST.
FIRST_SCOPE = -(2**63)
FIRST = (FIRST_SCOPE, -1)


@dataclass(frozen=True, slots=True)
class Conversation:
    scope: int
    thread: int
    last_id: int  # its newest message when it was found idle
    messages: int


@dataclass(frozen=True, slots=True)
class Page:
    idle: list[Conversation]
    next_after: tuple[int, int] | None  # None: no conversation after this page


async def idle_conversations(
    db: Database, *, after: tuple[int, int], before: int, limit: int
) -> Page:
    """The next ``limit`` conversations after ``after`` (a ``(scope, thread)``), in that
    order, and which of them had no message since ``before`` (unix seconds). Each topic is a
    conversation of its own: an idle topic loses its memory while another topic of the same
    chat goes on. One walk of the ``messages(scope, thread_id, id)`` index per page, plus one
    row read per conversation."""
    rows = await db.read_off_loop(
        """
        SELECT s.scope, s.thread_id, s.last, s.n, m.created_at
        FROM (SELECT scope, thread_id, MAX(id) AS last, COUNT(*) AS n FROM messages
              WHERE (scope, thread_id) > (?, ?)
              GROUP BY scope, thread_id ORDER BY scope, thread_id LIMIT ?) AS s
        JOIN messages AS m ON m.id = s.last
        ORDER BY s.scope, s.thread_id
        """,
        (*after, limit),
    )
    idle = [
        Conversation(scope=int(r[0]), thread=int(r[1]), last_id=int(r[2]), messages=int(r[3]))
        for r in rows
        if int(r[4]) < before
    ]
    next_after = (int(rows[-1][0]), int(rows[-1][1])) if len(rows) == limit else None
    return Page(idle=idle, next_after=next_after)


async def delete_conversation(db: Database, conversation: Conversation, *, limit: int) -> int:
    """Delete up to ``limit`` messages of an idle conversation, never one newer than those
    seen when it was found idle (a user who writes meanwhile keeps the new message)."""
    return await db.write_off_loop(
        "DELETE FROM messages WHERE id IN ("
        "  SELECT id FROM messages WHERE scope = ? AND thread_id = ? AND id <= ?"
        "  ORDER BY id LIMIT ?)",
        (conversation.scope, conversation.thread, conversation.last_id, limit),
    )


async def delete_conversations(db: Database, conversations: list[Conversation]) -> int:
    """Delete every message (up to each one's ``last_id``) of a few small idle
    conversations in one short transaction."""
    if not conversations:
        return 0
    return await db.write_many_off_loop(
        "DELETE FROM messages WHERE scope = ? AND thread_id = ? AND id <= ?",
        [(c.scope, c.thread, c.last_id) for c in conversations],
    )


async def delete_usage_before(db: Database, *, day: str, limit: int) -> int:
    """Delete up to ``limit`` ``usage_daily`` rows of days before ``day`` (YYYY-MM-DD).
    The batch is read from the ``usage_daily(day, ...)`` index first, then deleted by
    primary key in one short transaction (a ``DELETE ... WHERE (...) IN (SELECT ...)``
    lets SQLite scan the whole table while it holds the write lock)."""
    rows = await db.read_off_loop(
        "SELECT user_id, day, kind FROM usage_daily WHERE day < ? LIMIT ?", (day, limit)
    )
    if not rows:
        return 0
    return await db.write_many_off_loop(
        "DELETE FROM usage_daily WHERE user_id = ? AND day = ? AND kind = ?",
        [(r[0], r[1], r[2]) for r in rows],
    )


# The payload of an invoice: ``v1:<user id>:<tier>:<nonce>`` (bot.services.payments
# make_payload). An invoice is paid when a payment carries its payload; the payments(payload)
# index makes that one lookup per invoice.
async def delete_unpaid_invoices(db: Database, *, before: int, limit: int) -> int:
    """Delete up to ``limit`` invoices created before ``before`` that no payment refers to."""
    return await db.write_off_loop(
        """
        DELETE FROM invoices WHERE nonce IN (
            SELECT i.nonce FROM invoices AS i
            WHERE i.created_at < ?
              AND NOT EXISTS (
                  SELECT 1 FROM payments AS p
                  WHERE p.payload = 'v1:' || i.user_id || ':' || i.tier || ':' || i.nonce)
            LIMIT ?)
        """,
        (before, limit),
    )
