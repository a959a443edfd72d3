"""The storage layer's locking: durable writes flush each commit, reads take no write lock,
and the one way an API key is checked (KeyService.verify_key, behind the gateway)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from api.auth import Gatekeeper
from api.errors import ApiError
from bot.services.admin import AdminService
from bot.services.keys import KeyService, Refusal
from storage.db import Database
from tests.test_keys_service import NOW, add_user

FULL, NORMAL = 2, 1


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = await Database(tmp_path / "locks.sqlite3").connect()
    try:
        yield db
    finally:
        await db.close()


def synchronous_at_commits(db: Database) -> list[int]:
    """The ``synchronous`` level in effect at each COMMIT on ``db``'s connection, followed
    through sqlite3's trace callback (every statement the connection runs)."""
    levels: list[int] = []
    state = {"level": NORMAL}

    def trace(statement: str) -> None:
        text = " ".join(statement.split()).upper()
        if text.startswith("PRAGMA SYNCHRONOUS ="):
            state["level"] = FULL if text.endswith("FULL") else NORMAL
        elif text == "COMMIT":
            levels.append(state["level"])

    db.conn.raw.set_trace_callback(trace)
    return levels


async def test_overlapping_durable_writes_each_commit_with_a_flush(database):
    db = database
    await add_user(db, 1)
    commits = synchronous_at_commits(db)
    entered = asyncio.Event()

    async def pay(charge: str, *, hold: bool) -> None:
        async with db.durable(), db.transaction() as conn:
            await conn.execute("UPDATE users SET username = ? WHERE id = 1", (charge,))
            if hold:
                entered.set()
                await asyncio.sleep(0.01)  # the other payment arrives meanwhile

    async def second() -> None:
        await entered.wait()
        await pay("b", hold=False)

    await asyncio.gather(pay("a", hold=True), second())
    assert commits == [FULL, FULL]
    # Afterwards the connection is back to NORMAL for everyday commits.
    async with db.transaction() as conn:
        await conn.execute("UPDATE users SET username = 'c' WHERE id = 1")
    assert commits == [FULL, FULL, NORMAL]
    assert await db.fetchval("PRAGMA synchronous") == NORMAL


async def test_a_plain_write_between_durable_ones_keeps_normal(database):
    db = database
    await add_user(db, 1)
    commits = synchronous_at_commits(db)
    inside = asyncio.Event()
    release = asyncio.Event()

    async def durable_task() -> None:
        async with db.durable():
            inside.set()
            await release.wait()  # durable block open, no write yet
            async with db.transaction() as conn:
                await conn.execute("UPDATE users SET username = 'd' WHERE id = 1")

    async def plain_task() -> None:
        await inside.wait()
        async with db.transaction() as conn:
            await conn.execute("UPDATE users SET username = 'p' WHERE id = 1")
        release.set()

    await asyncio.gather(durable_task(), plain_task())
    assert commits == [NORMAL, FULL]


@contextmanager
def writer_holding_the_lock(path: Path) -> Iterator[sqlite3.Connection]:
    """Another connection to the same file inside BEGIN IMMEDIATE (an uncommitted write).
    Taking the lock may wait: the database's own upkeep (statistics, checkpoints) can hold it
    for a moment right after it opened."""
    other = sqlite3.connect(path, isolation_level=None, timeout=10)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("UPDATE users SET username = 'uncommitted' WHERE id = 1")
        yield other
    finally:
        if other.in_transaction:
            other.execute("ROLLBACK")
        other.close()


async def test_reads_run_while_another_connection_holds_the_write_lock(database):
    db = database
    await add_user(db, 1)
    await add_user(db, 2)
    keys = KeyService(db)
    issued = await keys.issue(1, now=NOW)
    assert (await keys.verify_key(issued.key or "", now=NOW)).owner is not None
    # No waiting at all: a statement that needed the write lock would fail at once.
    db.conn.busy_timeout = 0
    with writer_holding_the_lock(db.path):
        info = await keys.get(1)
        assert info is not None and info.prefix == issued.info.prefix
        assert (await keys.key_status(2)).state == "none"
        assert await keys.owner_profile(1) == (None, False)
        assert await keys.due_for_check(after_user=0, checked_before=NOW, limit=10) == [1]
        assert await keys.oldest_check() == NOW
        stats = await AdminService(db).stats(now=NOW)
        assert (stats.users, stats.active_keys) == (2, 1)
        # The gateway's check reads too (the use is not recorded within the minute).
        verdict = await keys.verify_key(issued.key or "", now=NOW + 1)
        assert verdict.owner is not None and verdict.owner.user_id == 1
        # The lock is really held: a write can't get it.
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            async with db.transaction() as conn:
                await conn.execute("UPDATE users SET username = 'x' WHERE id = 2")


async def test_verify_key_says_why_a_key_is_refused(database):
    db = database
    for user in (1, 2, 3, 4):
        await add_user(db, user)
    keys = KeyService(db)
    ok, revoked, left, banned = [(await keys.issue(u, now=NOW)).key or "" for u in (1, 2, 3, 4)]
    await keys.revoke(2, expected_prefix=revoked[:8])
    await keys.sync_membership(3, False, now=NOW)
    await db.execute("UPDATE users SET is_banned = 1 WHERE id = 4")

    verdict = await keys.verify_key(ok, now=NOW + 120)
    assert verdict.refusal is None and verdict.owner is not None
    assert (verdict.owner.user_id, verdict.owner.tier) == (1, "free")
    assert (await keys.get(1)).last_used_at == NOW + 120  # the use is recorded
    assert (await keys.verify_key(revoked)).refusal is Refusal.REVOKED
    assert (await keys.verify_key(left)).refusal is Refusal.NOT_SUBSCRIBED
    assert (await keys.verify_key(banned)).refusal is Refusal.BANNED
    assert (await keys.verify_key("vc_" + "x" * 40)).refusal is Refusal.INVALID
    assert (await keys.verify_key("not a key")).refusal is Refusal.INVALID
    await db.execute(
        "UPDATE api_keys SET is_active = 0, inactive_reason = 'mystery' WHERE user_id = 1"
    )
    assert (await keys.verify_key(ok)).refusal is Refusal.INACTIVE


@pytest.mark.parametrize(
    ("setup", "status", "code"),
    [
        ("UPDATE api_keys SET is_active = 0, inactive_reason = 'revoked'", 401, "revoked_api_key"),
        (
            "UPDATE api_keys SET is_active = 0, inactive_reason = 'left_channel'",
            403,
            "not_subscribed",
        ),
        ("UPDATE users SET is_banned = 1", 403, "banned"),
        ("UPDATE api_keys SET is_active = 0, inactive_reason = 'mystery'", 403, "inactive"),
        ("UPDATE api_keys SET key_hash = 'other'", 401, "invalid_api_key"),
    ],
)
async def test_the_gatekeeper_tells_the_verdict_the_openai_way(database, setup, status, code):
    db = database
    await add_user(db, 1)
    key = (await KeyService(db).issue(1, now=NOW)).key or ""
    gate = Gatekeeper(db, channel="@vc_news", now=lambda: NOW + 10)
    caller = await gate.check(key)
    assert (caller.user_id, caller.tier) == (1, "free")
    await db.execute(setup)
    with pytest.raises(ApiError) as caught:
        await gate.check(key)
    assert (caught.value.status, caught.value.code) == (status, code)


async def test_the_gatekeeper_refuses_missing_and_malformed_keys(database):
    gate = Gatekeeper(database)
    with pytest.raises(ApiError) as caught:
        await gate.check(None)
    assert (caught.value.status, caught.value.code) == (401, "missing_api_key")
    with pytest.raises(ApiError) as caught:
        await gate.check("sk-not-ours")
    assert (caught.value.status, caught.value.code) == (401, "invalid_api_key")


async def test_the_key_lookup_falls_back_when_the_quick_read_is_refused(tmp_path):
    db = await Database(":memory:").connect()
    try:
        await add_user(db, 1)
        key = (await KeyService(db).issue(1, now=NOW)).key or ""
        verdict = await KeyService(db).verify_key(key, now=NOW)
        assert verdict.owner is not None and verdict.owner.user_id == 1
    finally:
        await db.close()
