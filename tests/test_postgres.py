"""PostgreSQL (``DATABASE_URL``): the statement rewriting, the settings and start-up
refusals, the migrations' version table, and ``python -m storage copy``.

The parts that need a server use the run's database (``TEST_DATABASE_URL``, see
tests/conftest.py) and are skipped with one line without it."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path

import asyncpg
import pytest

from bot.config import ConfigError, Settings
from bot.services import clock
from bot.services.keys import KeyService
from storage import chat, tiers, usage
from storage.copy import copy_to_postgres
from storage.db import Database, DatabaseError, open_database
from storage.migrations import LATEST
from storage.postgres import PgDatabase, redact, translate
from tests.conftest import TOKEN
from tests.e2e_helpers import ROOT
from tests.key_helpers import verify_key
from tests.pg_helpers import TABLES, empty_database
from tests.test_startup_refusals import assert_one_line, run_front

# A closed port: a server that isn't there.
UNREACHABLE = "postgresql://bot:s3cret-pw@127.0.0.1:9/bot"


# -- the one place where the SQL differs -------------------------------------------------


def test_placeholders_are_numbered_outside_literals_and_comments() -> None:
    sql = "SELECT '?', \"a?\" FROM t WHERE a = ? AND b = ? -- why?\nAND c = ?"
    assert translate(sql) == (
        "SELECT '?', \"a?\" FROM t WHERE a = $1 AND b = $2 -- why?\nAND c = $3"
    )
    assert translate("SELECT 'it''s ?' WHERE x = ?") == "SELECT 'it''s ?' WHERE x = $1"


def test_sqlite_idioms_become_postgresql() -> None:
    assert translate("SET used = MAX(used - ?, 0)") == "SET used = GREATEST(used - $1, 0)"
    assert translate("SELECT MAX(id) FROM m") == "SELECT MAX(id) FROM m"  # the aggregate stays
    assert translate("SELECT MIN(a, b)") == "SELECT LEAST(a, b)"
    assert translate("WHERE r IS NOT ? AND s IS ?") == (
        "WHERE r IS DISTINCT FROM $1 AND s IS NOT DISTINCT FROM $2"
    )
    assert "to_timestamp(created_at)" in translate("SELECT date(created_at, 'unixepoch')")


def test_the_same_text_is_translated_once() -> None:
    translate.cache_clear()
    for _ in range(3):
        translate("SELECT 1 WHERE ? = ?")
    assert translate.cache_info().hits == 2


def test_redact_drops_the_password() -> None:
    assert redact(UNREACHABLE) == "postgresql://bot@127.0.0.1:9/bot"


# -- settings and start-up -----------------------------------------------------------------


def _settings(**env: str) -> Settings:
    return Settings.from_env({"BOT_TOKEN": TOKEN, **env})


def test_database_url_is_optional_and_checked() -> None:
    assert _settings().database_url is None
    assert _settings(DATABASE_URL="postgres://u@h/db").database_url == "postgres://u@h/db"
    for bad in ("mysql://u@h/db", "sqlite:///x.db", "postgresql://", "127.0.0.1:5432"):
        with pytest.raises(ConfigError) as caught:
            _settings(DATABASE_URL=bad)
        assert caught.value.variable == "DATABASE_URL"
    # The value may hold a password: neither the message nor the settings' repr repeat it.
    with pytest.raises(ConfigError) as caught:
        _settings(DATABASE_URL="mysql://u:hunter2@h/db")
    assert "hunter2" not in str(caught.value)
    assert "s3cret" not in repr(_settings(DATABASE_URL=UNREACHABLE))


def test_sqlite_stays_the_default() -> None:
    assert type(open_database(Path("x.sqlite3"))) is Database
    assert isinstance(open_database(Path("x.sqlite3"), UNREACHABLE), PgDatabase)


@pytest.mark.parametrize("front", ["bot", "api"])
async def test_a_malformed_database_url_is_one_line_and_exit_2(front, tmp_path) -> None:
    code, lines = await run_front(front, tmp_path, DATABASE_URL="mysql://u:pw@127.0.0.1/db")
    assert_one_line(code, lines, "DATABASE_URL")


@pytest.mark.parametrize("front", ["bot", "api"])
async def test_an_unreachable_server_is_one_line_and_exit_2(front, tmp_path) -> None:
    code, lines = await run_front(front, tmp_path, DATABASE_URL=UNREACHABLE)
    assert_one_line(code, lines, "DATABASE_URL")
    assert "s3cret" not in lines[0]
    assert not (tmp_path / "data").exists()  # no SQLite file made on the side


async def test_connect_failure_is_a_database_error() -> None:
    with pytest.raises(DatabaseError, match=r"cannot connect to postgresql://bot@127\.0\.0\.1:9"):
        await PgDatabase(UNREACHABLE).connect()


# -- migrations ---------------------------------------------------------------------------


async def test_a_new_database_gets_the_latest_schema_and_its_version(pg_url) -> None:
    db = await empty_database(pg_url)
    try:
        assert await db.fetchall("SELECT version FROM schema_version") == [(LATEST,)]
        for table in TABLES:
            assert await db.fetchval(f"SELECT COUNT(*) FROM {table}") == 0
        again = await PgDatabase(pg_url).connect()  # a second process: nothing to do
        await again.close()
        assert await db.fetchval("SELECT COUNT(*) FROM schema_version") == 1
    finally:
        await db.close()


@pytest.mark.parametrize("front", ["bot", "api"])
async def test_a_newer_schema_is_refused(pg_url, front, tmp_path) -> None:
    db = await empty_database(pg_url)
    try:
        await db.execute("UPDATE schema_version SET version = ?", (LATEST + 1,))
        with pytest.raises(DatabaseError, match="newer than this code"):
            await PgDatabase(pg_url).connect()
        code, lines = await run_front(front, tmp_path, DATABASE_URL=pg_url)
        assert_one_line(code, lines, "DATABASE_URL")
        assert "newer than this code" in lines[0]
    finally:
        await db.execute("UPDATE schema_version SET version = ?", (LATEST,))
        await db.close()


# -- moving house -------------------------------------------------------------------------

USER = 5_000_000_001  # beyond 32 bits, as Telegram ids are


async def _sqlite_of_today(path: Path) -> str:
    """An SQLite database written by this code: a user with a paid tier, a key, today's
    usage, a payment and its invoice, a held unit, a conversation, a broadcast and a Stars
    subscription. Returns the key's plaintext."""
    now = clock.now()
    db = await Database(path).connect()
    try:
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO users (id, first_name, created_at, updated_at) VALUES (?, ?, ?, ?)",
                (USER, "Ann", now, now),
            )
            await tiers.put(
                conn, user_id=USER, tier="tier2", expires_at=now + 86400, source="payment", now=now
            )
            await conn.execute(
                "INSERT INTO invoices (nonce, user_id, tier, days, amount, currency, created_at) "
                "VALUES ('n1', ?, 'tier2', 30, 500, 'XTR', ?)",
                (USER, now),
            )
            await conn.execute(
                "INSERT INTO payments (charge_id, user_id, tier, days, amount, currency, "
                "payload, status, created_at) VALUES ('c1', ?, 'tier2', 30, 500, 'XTR', "
                "'v1:1:tier2:n1', 'credited', ?)",
                (USER, now),
            )
            await conn.execute(
                "INSERT INTO star_subscriptions (payload, user_id, tier, amount, charge_id, "
                "state, period_end, created_at, updated_at) "
                "VALUES ('s1', ?, 'tier1', 250, 'c1', 'active', ?, ?, ?)",
                (USER, now + 86400, now, now),
            )
            for _ in range(3):
                await usage.spend(conn, user_id=USER, day=clock.utc_day(), kind="chat", limit=5)
            await usage.hold(
                conn,
                user_id=USER,
                chat_id=USER,
                day=clock.utc_day(),
                kind="chat",
                amount=1,
                now=now,
            )
            for text in ("hi", "hello"):
                await chat.append(conn, USER, "user", text, model=None, now=now)
            await conn.execute(
                "INSERT INTO conversations (scope, thread_id, title, model, persona, "
                "created_at, last_used_at) VALUES (?, 0, 'Ideas', 'm', 'coder', ?, ?)",
                (USER, now, now),
            )
            await conn.execute(
                "INSERT INTO broadcasts (admin_id, text, created_at) VALUES (1, 'news', ?)",
                (now,),
            )
        issued = await KeyService(db).issue(USER, now=now)
        assert issued.key is not None
        return issued.key
    finally:
        await db.close()


async def test_copy_knows_every_table_of_the_schema(tmp_path) -> None:
    db = await Database(tmp_path / "schema.sqlite3").connect()
    try:
        rows = await db.fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    finally:
        await db.close()
    assert {r[0] for r in rows} == set(TABLES)


async def test_copy_moves_every_table_and_the_user_works_the_same(pg_url, tmp_path) -> None:
    source = tmp_path / "bot.sqlite3"
    key = await _sqlite_of_today(source)
    await (await empty_database(pg_url)).close()

    counts = await copy_to_postgres(source, pg_url)
    raw = sqlite3.connect(source)
    expected = {t: raw.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}
    raw.close()
    assert counts == expected
    assert all(counts[t] >= 1 for t in TABLES)

    db = await PgDatabase(pg_url).connect()
    try:
        owner = await verify_key(db, key)
        assert owner is not None and owner.user_id == USER and owner.tier == "tier2"
        async with db.autocommit() as conn:
            row = await tiers.get(conn, USER)
            assert row is not None and row.tier == "tier2"
            # Today's usage carries on from the copied count: 3 used, the limit is 5.
            assert await usage.spend(conn, user_id=USER, day=clock.utc_day(), kind="chat", limit=5)
            assert await usage.spend(conn, user_id=USER, day=clock.utc_day(), kind="chat", limit=5)
            assert (
                await usage.spend(conn, user_id=USER, day=clock.utc_day(), kind="chat", limit=5)
                is None
            )
        async with db.transaction() as conn:
            # The identity columns number on after the copied rows.
            await chat.append(conn, USER, "user", "again", model=None, now=clock.now())
            hold_id = await usage.hold(
                conn, user_id=USER, chat_id=None, day="d", kind="chat", amount=1, now=1
            )
        assert await db.fetchval("SELECT MAX(id) FROM messages") == 3
        assert hold_id == 2
    finally:
        await db.close()


async def test_copy_refuses_a_database_that_is_not_empty(pg_url, tmp_path) -> None:
    source = tmp_path / "bot.sqlite3"
    await _sqlite_of_today(source)
    db = await empty_database(pg_url)
    await db.execute(
        "INSERT INTO users (id, first_name, created_at, updated_at) VALUES (7, 'x', 1, 1)"
    )
    await db.close()
    proc = await _run_copy(tmp_path, source, pg_url)
    assert proc[0] == 1
    assert proc[1] == [
        f"error: {redact(pg_url)} is not empty (users has rows): "
        "copy only into a new, empty database"
    ]
    check = await asyncpg.connect(pg_url)
    try:
        assert await check.fetchval("SELECT COUNT(*) FROM users") == 1  # nothing merged
    finally:
        await check.close()


async def test_copy_command_copies_and_reports(pg_url, tmp_path) -> None:
    source = tmp_path / "bot.sqlite3"
    await _sqlite_of_today(source)
    await (await empty_database(pg_url)).close()
    code, lines, out = await _run_copy(tmp_path, source, pg_url, with_stdout=True)
    assert code == 0, lines
    assert out.startswith("copied ") and f"to {redact(pg_url)}" in out


async def test_copy_refuses_a_missing_source_and_a_bad_url(tmp_path) -> None:
    code, lines = await _run_copy(tmp_path, tmp_path / "none.sqlite3", UNREACHABLE)
    assert code == 1 and len(lines) == 1 and "is not a database file" in lines[0]
    code, lines = await _run_copy(tmp_path, tmp_path / "none.sqlite3", "mysql://x/y")
    assert code == 2 and lines == ["error: --to must be a postgresql:// URL"]


async def _run_copy(cwd: Path, source: Path, url: str, *, with_stdout: bool = False) -> tuple:
    import asyncio

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "storage",
        "--database",
        str(source),
        "copy",
        "--to",
        url,
        cwd=cwd,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    lines = [line for line in err.decode().splitlines() if line.strip()]
    if with_stdout:
        return proc.returncode, lines, out.decode().strip()
    return proc.returncode, lines


async def test_the_stats_chart_reads_postgresql(pg_url) -> None:
    from bot.services.stats_chart import chart_png, read_series_from

    now = T_CHART
    db = await empty_database(pg_url)
    try:
        await db.execute(
            "INSERT INTO users (id, first_name, created_at, updated_at) VALUES (?, 'u', 0, 0)",
            (USER,),
        )
        await db.execute(
            "INSERT INTO usage_daily (user_id, day, kind, used) VALUES (?, ?, 'chat', 4)",
            (USER, clock.utc_day(now)),
        )
        await db.execute(
            "INSERT INTO payments (charge_id, user_id, tier, days, amount, currency, payload, "
            "created_at) VALUES ('c', ?, 'tier1', 30, 250, 'XTR', 'p', ?)",
            (USER, now - 60),
        )
        series = await read_series_from(db, now)
        assert series.days[-1] == clock.utc_day(now)
        assert (series.active_users[-1], series.requests["chat"][-1]) == (1, 4)
        assert series.stars[-1] == 250 and sum(series.stars) == 250
        png = await chart_png(Path("/nonexistent.sqlite3"), now, db)
        assert png.startswith(b"\x89PNG")
    finally:
        await db.close()


T_CHART = 1_767_225_600 + 12 * 3600


async def test_only_durable_writes_wait_for_the_disk(pg_url) -> None:
    """As on SQLite (synchronous NORMAL, FULL inside durable()): commits don't wait for a
    flush, except a payment's inside ``durable()``; the setting never leaks to the next user
    of the pooled connection."""
    db = await empty_database(pg_url, pool_max=1)
    try:
        show = "SELECT current_setting('synchronous_commit')"
        assert await db.fetchval(show) == "off"
        async with db.transaction() as conn:
            assert (await conn.execute_fetchall(show))[0][0] == "off"
        async with db.durable():
            async with db.transaction() as conn:
                assert (await conn.execute_fetchall(show))[0][0] == "on"
            async with db.autocommit() as conn:
                assert (await conn.execute_fetchall(show))[0][0] == "on"
            assert await db.fetchval(show) == "on"
        assert await db.fetchval(show) == "off"  # the same (only) connection, reset
    finally:
        await db.close()


def test_which_errors_tell_the_user_to_come_back_later() -> None:
    from storage.db import is_unavailable

    assert is_unavailable(sqlite3.OperationalError("database is locked"))
    assert not is_unavailable(sqlite3.OperationalError("no such table: x"))
    assert is_unavailable(asyncpg.ConnectionDoesNotExistError("connection was closed"))
    assert is_unavailable(asyncpg.TooManyConnectionsError("too many clients"))
    assert not is_unavailable(asyncpg.UniqueViolationError("duplicate key"))
    assert not is_unavailable(ValueError("x"))


async def test_both_engines_have_the_same_tables_columns_and_indexes(pg_url, tmp_path) -> None:
    """The PostgreSQL variants of the migrations describe the same schema as the SQLite
    scripts: what one engine's code reads or writes, the other has."""
    lite = await Database(tmp_path / "s.sqlite3").connect()
    db = await empty_database(pg_url)
    try:
        for table in TABLES:
            lite_columns = [r[1] for r in await lite.fetchall(f"PRAGMA table_info({table})")]
            pg_columns = [
                r[0]
                for r in await db.fetchall(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_name = ? ORDER BY ordinal_position",
                    (table,),
                )
            ]
            assert pg_columns == lite_columns, table
        lite_indexes = {
            r[0]
            for r in await lite.fetchall(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            )
        }
        pg_indexes = {
            r[0]
            for r in await db.fetchall(
                "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' "
                "AND indexname NOT LIKE '%_pkey' AND indexname NOT LIKE '%_key'"
            )
        }
        assert pg_indexes == lite_indexes
    finally:
        await db.close()
        await lite.close()


async def test_200_concurrent_spends_on_two_pools_stop_exactly_at_the_limit(pg_url) -> None:
    """Two processes' worth of pools racing with single-statement spends (the gateway's way):
    exactly ``limit`` succeed, numbered 1..limit."""
    a = await empty_database(pg_url)
    b = await PgDatabase(pg_url).connect()
    try:
        await a.execute(
            "INSERT INTO users (id, first_name, created_at, updated_at) VALUES (1, 'u', 0, 0)"
        )

        async def one(db: Database) -> int | None:
            async with db.autocommit() as conn:
                return await usage.spend(conn, user_id=1, day="d", kind="image", limit=10)

        results = await asyncio.gather(*(one(a if i % 2 else b) for i in range(200)))
        assert sorted(r for r in results if r is not None) == list(range(1, 11))
        assert await b.fetchval("SELECT used FROM usage_daily") == 10
    finally:
        await b.close()
        await a.close()


async def test_copy_refuses_an_sqlite_database_of_another_version(tmp_path) -> None:
    from storage.migrations import migrate

    old = Database(tmp_path / "old.sqlite3")
    await old.connect(run_migrations=False)
    await migrate(old.conn, target=2)
    await old.close()
    code, lines = await _run_copy(tmp_path, tmp_path / "old.sqlite3", UNREACHABLE)
    assert code == 1 and len(lines) == 1
    assert "has schema version 2, this code" in lines[0] and "upgrades in place" in lines[0]
