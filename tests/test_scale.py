"""Storage at scale: the indexes' migration, slow-statement log, off-loop reads and upkeep,
retention, the oldest-first key re-check and the broadcast's one count."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from pathlib import Path

import pytest

from bot.config import Settings
from bot.services import clock
from bot.services.keys import KeyService
from bot.services.payments import make_payload
from bot.services.retention import DAY, Retention
from storage import chat as chat_repo
from storage import db as db_module
from storage import retention as retention_repo
from storage import sqlite as sqlite_module
from storage.db import Database
from storage.migrations import LATEST, MIGRATIONS, migrate
from storage.sqlite import statement_name
from tests.test_key_reconcile import Clock, FakeMembership, reconciler
from tests.test_keys_service import NOW, add_user

TOKEN = "123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


# ------------------------------------------------------------------------------- migration
INDEXES = {
    "usage_daily_day",
    "user_tiers_expires",
    "api_keys_recheck",
    "payments_payload",
    "invoices_created",
    "users_flags",
    "api_keys_active",
}


def test_the_indexes_come_after_the_subscriptions():
    # Databases at version 3 (subscriptions) exist: the indexes are the next number, not 3.
    assert LATEST >= 4
    assert "star_subscriptions" in MIGRATIONS[2]
    assert "usage_daily_day" in MIGRATIONS[3]


@pytest.mark.parametrize("start", [2, 3])
async def test_an_older_database_upgrades_in_place(tmp_path: Path, start: int):
    path = tmp_path / "old.sqlite3"
    conn = await sqlite_module.connect(path)
    await migrate(conn, target=start)
    await conn.execute(
        "INSERT INTO users (id, first_name, created_at, updated_at) VALUES (1, 'A', 1, 1)"
    )
    await conn.execute(
        "INSERT INTO api_keys (user_id, key_hash, prefix, created_at, checked_at) "
        "VALUES (1, 'h', 'sk-1', 1, NULL)"
    )
    names = {
        r[0]
        for r in await conn.execute_fetchall("SELECT name FROM sqlite_master WHERE type = 'index'")
    }
    assert not INDEXES & names
    await conn.close()

    db = await Database(path, maintenance=False).connect()
    try:
        assert await db.fetchval("PRAGMA user_version") == LATEST
        names = {
            r[0] for r in await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'index'")
        }
        assert INDEXES | {"star_subscriptions_user"} <= names
        # A key never checked is the oldest of all, inside the re-check's index range.
        assert await db.fetchval("SELECT checked_at FROM api_keys WHERE user_id = 1") == 0
        assert await db.fetchval("SELECT first_name FROM users WHERE id = 1") == "A"
        plan = await db.fetchall(
            "EXPLAIN QUERY PLAN "
            "SELECT kind, SUM(used) FROM usage_daily WHERE day = ? GROUP BY kind",
            ("2026-01-01",),
        )
        assert "usage_daily_day" in " ".join(str(r[3]) for r in plan)
    finally:
        await db.close()


# --------------------------------------------------------------------------- slow statements
@pytest.mark.parametrize(
    ("sql", "name"),
    [
        ("SELECT COUNT(*) FROM users WHERE id > ?", "SELECT users"),
        ("  insert into messages (scope) values (?)", "INSERT messages"),
        ("UPDATE api_keys SET checked_at = ?", "UPDATE api_keys"),
        ("PRAGMA wal_checkpoint(PASSIVE)", "PRAGMA wal_checkpoint"),
        ("COMMIT", "COMMIT"),
        ("", "(empty)"),
    ],
)
def test_statement_names(sql, name):
    assert statement_name(sql) == name


async def test_a_slow_statement_is_logged_by_name_without_its_values(
    db: Database, monkeypatch, caplog
):
    monkeypatch.setattr(sqlite_module, "SLOW_STATEMENT_S", 0.0)
    secret = "sk-very-secret-value"
    with caplog.at_level(logging.WARNING, logger="storage.slow"):
        await db.fetchall("SELECT COUNT(*) FROM api_keys WHERE key_hash = ?", (secret,))
        async with db.snapshot() as conn:
            await conn.execute("SELECT id FROM users WHERE username = ?", (secret,))
        await db.read_off_loop("SELECT COUNT(*) FROM usage_daily WHERE day = ?", (secret,))
    lines = [r.getMessage() for r in caplog.records if r.name == "storage.slow"]
    assert any("SELECT api_keys" in line for line in lines)
    assert any("SELECT users" in line for line in lines)
    assert any("(off-loop): SELECT usage_daily" in line for line in lines)
    assert all(r.levelno == logging.WARNING for r in caplog.records if r.name == "storage.slow")
    assert not any(secret in line for line in lines)


async def test_one_measurement_feeds_the_metric_and_the_slow_log(db: Database, monkeypatch, caplog):
    reported: list[tuple[str, float]] = []
    monkeypatch.setattr(sqlite_module, "on_statement", lambda sql, s: reported.append((sql, s)))
    monkeypatch.setattr(sqlite_module, "SLOW_STATEMENT_S", 0.0)
    with caplog.at_level(logging.WARNING, logger="storage.slow"):
        await db.fetchall("SELECT COUNT(*) FROM users WHERE id > ?", (0,))
        async with db.snapshot() as conn:
            cursor = await conn.execute("SELECT user_id FROM api_keys WHERE user_id > ?", (0,))
            await cursor.fetchall()
        await db.read_off_loop("SELECT COUNT(*) FROM usage_daily")
    lines = [r.getMessage() for r in caplog.records if r.name == "storage.slow"]
    sqls = [sql for sql, _ in reported]
    # Each statement on the loop is reported once (its rows fetched later are not a second
    # statement); the off-loop read is logged but is not event-loop time.
    assert sqls.count("SELECT COUNT(*) FROM users WHERE id > ?") == 1
    assert sqls.count("SELECT user_id FROM api_keys WHERE user_id > ?") == 1
    assert not any("usage_daily" in sql for sql in sqls)
    assert all(seconds >= 0 for _, seconds in reported)
    assert any("(loop): SELECT users" in line for line in lines)
    assert any("(off-loop): SELECT usage_daily" in line for line in lines)


async def test_fast_statements_are_not_logged(db: Database, caplog):
    with caplog.at_level(logging.WARNING, logger="storage.slow"):
        await db.fetchall("SELECT 1")
    assert not [r for r in caplog.records if r.name == "storage.slow"]


# --------------------------------------------------------------------------- off the loop
async def test_off_loop_reads_run_on_another_thread_and_see_commits(db: Database):
    assert db.off_loop is not None
    here = threading.get_ident()
    there = await db.off_loop._run(threading.get_ident)
    assert there != here
    await add_user(db, 7)
    rows = await db.read_off_loop("SELECT id FROM users WHERE id = ?", (7,))
    assert [r[0] for r in rows] == [7]


async def test_the_off_loop_reader_cannot_write(db: Database):
    with pytest.raises(sqlite3.OperationalError):
        await db.read_off_loop("DELETE FROM users")


async def test_in_memory_database_reads_the_usual_way():
    db = await Database(":memory:").connect()
    try:
        assert db.off_loop is None
        assert [r[0] for r in await db.read_off_loop("SELECT 41 + 1")] == [42]
        assert await db.write_off_loop("CREATE TABLE t (x)") in (-1, 0)
    finally:
        await db.close()


async def test_both_processes_configure_the_wal_alike(tmp_path: Path):
    path = tmp_path / "bot.sqlite3"
    first = await Database(path).connect()
    second = await Database(path).connect()  # another process opens the same file
    try:
        for db in (first, second):
            assert await db.fetchval("PRAGMA wal_autocheckpoint") == db_module.WAL_BACKSTOP_PAGES
            assert await db.fetchval("PRAGMA journal_size_limit") == db_module.WAL_SIZE_LIMIT
            assert await db.fetchval("PRAGMA journal_mode") == "wal"
    finally:
        await first.close()
        await second.close()


async def test_upkeep_checkpoints_and_analyzes_off_the_loop(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(db_module, "CHECKPOINT_INTERVAL", 0.01)
    db = await Database(tmp_path / "bot.sqlite3").connect()
    try:
        for uid in range(1, 40):
            await add_user(db, uid)
        wal = tmp_path / "bot.sqlite3-wal"
        assert wal.stat().st_size > 0
        for _ in range(200):  # the upkeep copies the WAL back and takes statistics
            await asyncio.sleep(0.01)
            _busy, frames, copied = await db.off_loop.checkpoint()  # type: ignore[union-attr]
            stats = await db.fetchval(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'sqlite_stat1'"
            )
            if stats and frames == copied:
                break
        assert stats == 1
        assert frames == copied
    finally:
        await db.close()
    assert db.off_loop is None


async def test_close_stops_the_upkeep_and_the_thread(tmp_path: Path):
    db = await Database(tmp_path / "bot.sqlite3").connect()
    assert any(t.get_name() == "sqlite-upkeep" for t in asyncio.all_tasks())
    await db.read_off_loop("SELECT 1")
    await db.close()
    await asyncio.sleep(0)
    assert not any(t.get_name() == "sqlite-upkeep" and not t.done() for t in asyncio.all_tasks())


# ---------------------------------------------------------------------------------- stats
async def test_stats_read_off_the_loop(db: Database, monkeypatch):
    from bot.services.admin import AdminService

    seen: list[str] = []
    original = db.read_off_loop

    async def spy(sql, params=()):
        seen.append(statement_name(sql))
        return await original(sql, params)

    monkeypatch.setattr(db, "read_off_loop", spy)
    await add_user(db, 1)
    stats = await AdminService(db).stats(now=NOW)
    assert stats.users == 1
    assert "SELECT users" in seen and "SELECT usage_daily" in seen
    assert "SELECT star_subscriptions" in seen  # the subscriber figures too


# ------------------------------------------------------------------------------- retention
async def seed_retention(db: Database) -> None:
    old, recent = NOW - 100 * DAY, NOW - DAY
    for uid in (1, 2, 3):
        await add_user(db, uid)
    async with db.transaction() as conn:
        for k in range(5):  # user 1: idle for 100 days
            await chat_repo.append(conn, 1, "user", f"old {k}", model=None, now=old + k)
        # user 2: old messages, but the conversation goes on
        await chat_repo.append(conn, 2, "user", "old", model=None, now=old)
        await chat_repo.append(conn, 2, "user", "new", model=None, now=recent)
        # a group (negative scope), idle
        await chat_repo.append(conn, -100500, "user", "group", model=None, now=old)
    old_day, new_day = clock.utc_day(old), clock.utc_day(recent)
    for uid in (1, 2, 3):
        for day in (old_day, new_day):
            await db.execute(
                "INSERT INTO usage_daily (user_id, day, kind, used) VALUES (?, ?, 'chat', 3)",
                (uid, day),
            )
    invoices = [
        ("old-unpaid", 1, "tier1", old),
        ("old-paid", 2, "tier2", old),
        ("new-unpaid", 3, "tier1", recent),
    ]
    for nonce, uid, tier, at in invoices:
        await db.execute(
            "INSERT INTO invoices (nonce, user_id, tier, days, amount, currency, created_at) "
            "VALUES (?, ?, ?, 30, 500, 'XTR', ?)",
            (nonce, uid, tier, at),
        )
    await db.execute(
        "INSERT INTO payments (charge_id, user_id, tier, days, amount, currency, payload, "
        "status, created_at) VALUES ('c1', 2, 'tier2', 30, 500, 'XTR', ?, 'credited', ?)",
        (make_payload(2, "tier2", "old-paid"), old),
    )


async def test_retention_deletes_what_is_old_and_keeps_the_rest(db: Database):
    await seed_retention(db)
    job = Retention(db, days=90, batch=2, pause=0, now=lambda: NOW)
    removed = await job.run_once()
    assert (removed.messages, removed.usage_rows, removed.invoices) == (6, 3, 1)
    scopes = [r[0] for r in await db.fetchall("SELECT DISTINCT scope FROM messages")]
    assert scopes == [2]
    assert await db.fetchval("SELECT COUNT(*) FROM messages WHERE scope = 2") == 2
    days = {r[0] for r in await db.fetchall("SELECT DISTINCT day FROM usage_daily")}
    assert days == {clock.utc_day(NOW - DAY)}
    nonces = sorted(r[0] for r in await db.fetchall("SELECT nonce FROM invoices"))
    assert nonces == ["new-unpaid", "old-paid"]
    assert await db.fetchval("SELECT COUNT(*) FROM payments") == 1
    # A second pass finds nothing left.
    again = await job.run_once()
    assert (again.messages, again.usage_rows, again.invoices) == (0, 0, 0)


async def test_retention_zero_keeps_everything(db: Database):
    await seed_retention(db)
    removed = await Retention(db, days=0, now=lambda: NOW).run_once()
    assert (removed.messages, removed.usage_rows, removed.invoices) == (0, 0, 0)
    assert await db.fetchval("SELECT COUNT(*) FROM messages") == 8
    job = Retention(db, days=0)
    job.start()  # off: no task
    assert job._task is None


async def test_a_message_written_after_the_scan_is_kept(db: Database):
    await seed_retention(db)
    page = await retention_repo.idle_conversations(
        db, after=retention_repo.FIRST, before=NOW - 90 * DAY, limit=100
    )
    assert [(c.scope, c.thread) for c in page.idle] == [(-100500, 0), (1, 0)]
    async with db.transaction() as conn:  # user 1 comes back before the delete
        await chat_repo.append(conn, 1, "user", "I'm back", model=None, now=NOW)
    await retention_repo.delete_conversations(db, page.idle)
    rows = await db.fetchall("SELECT content FROM messages WHERE scope = 1")
    assert [r[0] for r in rows] == ["I'm back"]


async def test_an_idle_topic_is_forgotten_while_another_topic_of_the_chat_goes_on(db: Database):
    await add_user(db, 1)
    async with db.transaction() as conn:
        for k in range(3):
            await chat_repo.append(
                conn, 1, "user", f"idle {k}", model=None, now=NOW - 200 * DAY, thread=7
            )
        await chat_repo.append(conn, 1, "user", "old", model=None, now=NOW - 200 * DAY, thread=8)
        await chat_repo.append(conn, 1, "user", "active", model=None, now=NOW - DAY, thread=8)
    # Pages of one conversation each, so the walk goes from topic to topic.
    removed = await Retention(db, days=90, batch=1, pause=0, now=lambda: NOW).run_once()
    assert removed.messages == 3
    rows = await db.fetchall("SELECT thread_id, content FROM messages ORDER BY id")
    assert [(r[0], r[1]) for r in rows] == [(8, "old"), (8, "active")]


async def test_a_long_conversation_goes_in_batches(db: Database):
    await add_user(db, 1)
    async with db.transaction() as conn:
        for k in range(7):
            await chat_repo.append(conn, 1, "user", f"m{k}", model=None, now=NOW - 200 * DAY)
    removed = await Retention(db, days=90, batch=3, pause=0, now=lambda: NOW).run_once()
    assert removed.messages == 7
    assert await db.fetchval("SELECT COUNT(*) FROM messages") == 0


async def test_trimming_and_new_still_work_with_retention(db: Database):
    await add_user(db, 1)
    async with db.transaction() as conn:
        for k in range(5):
            await chat_repo.append(conn, 1, "user", f"m{k}", model=None, now=NOW)
        assert await chat_repo.prune(conn, 1, 2) == 3
    await Retention(db, days=90, pause=0, now=lambda: NOW).run_once()
    async with db.transaction() as conn:
        assert [m.content for m in await chat_repo.recent(conn, 1, 10)] == ["m3", "m4"]
        assert await chat_repo.clear(conn, 1) == 2


async def test_retention_job_starts_and_stops(db: Database):
    await seed_retention(db)
    job = Retention(db, days=90, pause=0, interval=3600, now=lambda: NOW)
    job.start()
    for _ in range(200):
        await asyncio.sleep(0.01)
        if await db.fetchval("SELECT COUNT(*) FROM invoices") == 2:
            break
    await job.stop()
    assert await db.fetchval("SELECT COUNT(*) FROM invoices") == 2


def test_retention_days_setting():
    assert Settings.from_env({"BOT_TOKEN": TOKEN}).retention_days == 90
    assert Settings.from_env({"BOT_TOKEN": TOKEN, "RETENTION_DAYS": "0"}).retention_days == 0
    assert Settings.from_env({"BOT_TOKEN": TOKEN, "RETENTION_DAYS": "365"}).retention_days == 365


# ---------------------------------------------------------------------------- key re-check
async def test_recheck_takes_the_oldest_first(db: Database):
    for uid in range(1, 6):
        await add_user(db, uid)
    keys = KeyService(db)
    for uid in (1, 2, 3, 4, 5):
        await keys.issue(uid, now=NOW)
    checked = {1: NOW - 5000, 2: NOW - 9000, 3: NOW - 7000, 4: NOW - 100, 5: NOW - 8000}
    for uid, at in checked.items():
        await db.execute("UPDATE api_keys SET checked_at = ? WHERE user_id = ?", (at, uid))
    membership = FakeMembership({1, 2, 3, 4, 5})
    job = reconciler(keys, membership, [], Clock(NOW))  # interval 3600
    assert await job.run_once() == 4
    assert membership.calls == [2, 5, 3, 1]  # oldest first; 4 is not due yet


async def test_recheck_sleeps_until_the_next_key_is_due(db: Database):
    for uid in (1, 2):
        await add_user(db, uid)
    keys = KeyService(db)
    await keys.issue(1, now=NOW - 1000)
    await keys.issue(2, now=NOW - 200)
    clock_ = Clock(NOW)
    job = reconciler(keys, FakeMembership({1, 2}), [], clock_)
    assert await job._until_next_due() == 3600 - 1000  # not a fixed second
    clock_.value = NOW + 2600
    assert await job._until_next_due() == 0
    await db.execute("DELETE FROM api_keys")
    assert await job._until_next_due() == 3600


async def test_recheck_warns_when_it_cannot_keep_up(db: Database, caplog):
    for uid in range(1, 6):
        await add_user(db, uid)
    keys = KeyService(db)
    for uid in range(1, 6):
        await keys.issue(uid, now=NOW)
    await keys.revoke(5, expected_prefix=(await keys.get(5)).prefix)  # type: ignore[union-attr]

    async def notify(user_id, change):
        return None

    from bot.services.reconcile import KeyReconciler

    slow = KeyReconciler(keys, FakeMembership(set()), notify, per_second=0.01, interval=300)
    with caplog.at_level(logging.INFO, logger="bot.services.reconcile"):
        assert await slow.announce() == 4  # the revoked key is not followed
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "4 keys follow the channel" in warnings[0]
    assert "at 0.01 checks/s" in warnings[0] and "takes 400 s" in warnings[0]
    assert "300 s; at most 3 keys" in warnings[0]
    caplog.clear()
    fast = KeyReconciler(keys, FakeMembership(set()), notify, per_second=5, interval=300)
    with caplog.at_level(logging.INFO, logger="bot.services.reconcile"):
        await fast.announce()
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]


async def test_a_chat_member_update_counts_as_a_check(db: Database):
    await add_user(db, 1)
    keys = KeyService(db)
    await keys.issue(1, now=NOW - 5000)
    assert await keys.oldest_due(checked_before=NOW - 3600, limit=10) == [1]
    await keys.sync_membership(1, True, now=NOW)  # what a chat_member update does
    assert await keys.oldest_due(checked_before=NOW - 3600, limit=10) == []


# ------------------------------------------------------------------------------- broadcast
async def test_broadcast_counts_its_recipients_once(tmp_path, monkeypatch):
    from aiogram.methods import EditMessageText

    from storage import broadcasts as broadcasts_repo
    from tests.test_handlers_admin import ADMIN, admin_harness, fast_broadcaster, wait_all

    counted: list[int] = []
    original = broadcasts_repo.count_remaining_off_loop

    async def counting(db, *, after):
        counted.append(after)
        return await original(db, after=after)

    monkeypatch.setattr(broadcasts_repo, "count_remaining_off_loop", counting)
    async with admin_harness(tmp_path) as h:
        broadcaster = fast_broadcaster(h, progress_every=1)
        for uid in range(1, 8):
            await h.message(uid, "/start")
        counted.clear()
        await h.message(ADMIN, "/broadcast hello")
        await wait_all(broadcaster)
        edits = [c.text for c in h.session.calls_of(EditMessageText)]
        assert len(edits) >= 6  # one progress message per recipient
        # 8 recipients (7 users and the admin), the same total in every progress message
        assert all(" of 8 " in text for text in edits), edits
        assert len(counted) <= 2  # at the start (the reply) and once for the run, not per 100
