import asyncio
import sqlite3

import asyncpg
import pytest

from storage import usage
from storage.db import Database, DatabaseError
from storage.migrations import LATEST, MIGRATIONS, _statements, migrate, schema_version

EXPECTED_TABLES = {
    "users",
    "user_tiers",
    "api_keys",
    "invoices",
    "payments",
    "usage_daily",
    "messages",
    "broadcasts",
    "quota_holds",
    "star_subscriptions",
    "conversations",
}


async def tables(db: Database) -> set[str]:
    rows = await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
    # SQLite's own tables (sqlite_sequence; sqlite_stat1 once the upkeep's ANALYZE has run,
    # which may happen at any moment after connect) are not the schema.
    return {r[0] for r in rows if not r[0].startswith("sqlite_")}


async def test_connect_creates_folder_and_schema(tmp_path):
    path = tmp_path / "deep" / "er" / "bot.sqlite3"
    db = await Database(path).connect()
    try:
        assert path.exists()
        assert await tables(db) == EXPECTED_TABLES
        assert await schema_version(db.conn) == LATEST
        assert (await db.fetchval("PRAGMA journal_mode")).lower() == "wal"
        assert await db.fetchval("PRAGMA foreign_keys") == 1
        assert db.conn.busy_timeout >= 5  # seconds of (asynchronous) waiting for a lock
    finally:
        await db.close()


async def test_migrations_are_idempotent(db):
    assert await migrate(db.conn) == LATEST
    assert await migrate(db.conn) == LATEST
    assert await tables(db) == EXPECTED_TABLES


@pytest.mark.parametrize("start", range(LATEST))
async def test_upgrade_from_every_earlier_version(tmp_path, start):
    path = tmp_path / "old.sqlite3"
    old = Database(path)
    await old.connect(run_migrations=False)
    await migrate(old.conn, target=start)
    assert await schema_version(old.conn) == start
    if start >= 1:
        now = 1_700_000_000
        await old.execute(
            "INSERT INTO users (id, first_name, created_at, updated_at) VALUES (7, 'Old', ?, ?)",
            (now, now),
        )
    await old.close()

    db = await Database(path).connect()
    try:
        assert await schema_version(db.conn) == LATEST
        assert await tables(db) == EXPECTED_TABLES
        if start >= 1:
            assert await db.fetchval("SELECT first_name FROM users WHERE id = 7") == "Old"
    finally:
        await db.close()


async def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "future.sqlite3"
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA user_version = {LATEST + 5}")
    con.close()
    with pytest.raises(DatabaseError):
        await Database(path).connect()


def test_migration_scripts_split_cleanly():
    for script in MIGRATIONS:
        for statement in _statements(script):
            assert sqlite3.complete_statement(statement + ";")


async def test_unwritable_folder_is_a_clear_error():
    # /proc refuses new folders even to root, so this holds for any user running the tests.
    with pytest.raises(DatabaseError) as info:
        await Database("/proc/visioncraft-test/bot.sqlite3").connect()
    assert "cannot create folder" in str(info.value)
    assert "\n" not in str(info.value)


async def test_path_that_is_a_file_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(DatabaseError) as info:
        await Database(blocker / "bot.sqlite3").connect()
    assert "cannot create folder" in str(info.value)


async def test_not_a_database_is_a_clear_error(tmp_path):
    path = tmp_path / "garbage.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(DatabaseError):
        await Database(path).connect()


@pytest.mark.both_engines
async def test_transaction_rolls_back_on_error(db):
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO users (id, first_name, created_at, updated_at) VALUES (1, 'a', 0, 0)"
            )
            raise RuntimeError("boom")
    assert await db.fetchval("SELECT COUNT(*) FROM users") == 0


@pytest.mark.both_engines
async def test_foreign_keys_are_enforced(db):
    with pytest.raises((sqlite3.IntegrityError, asyncpg.ForeignKeyViolationError)):
        await db.execute(
            "INSERT INTO usage_daily (user_id, day, kind, used) "
            "VALUES (999, '2026-01-01', 'chat', 1)"
        )


async def _user(db, uid=1):
    await db.execute(
        "INSERT INTO users (id, first_name, created_at, updated_at) VALUES (?, 'u', 0, 0)", (uid,)
    )


@pytest.mark.both_engines
async def test_spend_stops_exactly_at_the_limit(db):
    await _user(db)
    results = []
    for _ in range(5):
        async with db.transaction() as conn:
            results.append(await usage.spend(conn, user_id=1, day="d", kind="chat", limit=3))
    assert results == [1, 2, 3, None, None]


@pytest.mark.both_engines
async def test_spend_with_zero_limit_and_unlimited(db):
    await _user(db)
    async with db.transaction() as conn:
        assert await usage.spend(conn, user_id=1, day="d", kind="gif", limit=0) is None
        for i in range(1, 50):
            assert await usage.spend(conn, user_id=1, day="d", kind="chat", limit=-1) == i


async def test_200_concurrent_spends_on_two_connections(tmp_path):
    """Two processes' worth of connections racing: exactly `limit` spends succeed."""
    path = tmp_path / "race.sqlite3"
    a = await Database(path).connect()
    b = await Database(path).connect()
    try:
        await _user(a)

        async def one(db):
            async with db.transaction() as conn:
                return await usage.spend(conn, user_id=1, day="d", kind="image", limit=10)

        results = await asyncio.gather(*(one(a if i % 2 else b) for i in range(200)))
        assert sum(r is not None for r in results) == 10
        assert sorted(r for r in results if r is not None) == list(range(1, 11))
        assert await a.fetchval("SELECT used FROM usage_daily") == 10
    finally:
        await a.close()
        await b.close()


@pytest.mark.both_engines
async def test_refund_never_goes_negative(db):
    await _user(db)
    async with db.transaction() as conn:
        await usage.spend(conn, user_id=1, day="d", kind="chat", limit=5)
        await usage.refund(conn, user_id=1, day="d", kind="chat")
        await usage.refund(conn, user_id=1, day="d", kind="chat")
        assert await usage.used_on(conn, user_id=1, day="d") == {"chat": 0}
