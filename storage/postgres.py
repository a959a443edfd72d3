"""PostgreSQL behind the same face as the SQLite layer (``DATABASE_URL``).

The repositories keep one SQL text for both engines, written for SQLite. What PostgreSQL
needs instead is rewritten here, once per statement text (the result is cached):

* ``?`` placeholders become ``$1, $2, …`` (never inside a quoted literal or a comment);
* SQLite's two-argument scalar ``MAX(a, b)`` / ``MIN(a, b)`` become ``GREATEST`` / ``LEAST``;
* ``IS ?`` / ``IS NOT ?`` (SQLite's null-safe comparisons) become ``IS [NOT] DISTINCT FROM``;
* ``date(x, 'unixepoch')`` becomes the UTC day of a unix time as ``YYYY-MM-DD`` text.

Anything else that differs (the schema's types, version tracking) lives in
:mod:`storage.migrations`, beside the SQLite script it replaces.

:class:`PgConnection` offers what the repositories use of :class:`storage.sqlite.Connection`
(``execute`` returning a cursor with ``fetchone``/``fetchall``/``rowcount``,
``execute_fetchall``, ``executemany``); asyncpg's records are read by index and by column
name, like ``sqlite3.Row``. It subclasses the SQLite class only so that the repositories'
type hints hold for both engines; none of the SQLite code runs.

:class:`PgDatabase` is :class:`storage.db.Database` on an asyncpg pool:

* ``transaction()``: a transaction on a pooled connection that first takes one
  transaction-scoped advisory lock, so write transactions run one at a time across every
  process, as ``BEGIN IMMEDIATE`` makes them on SQLite: the services read and then write
  inside a transaction and rely on nobody writing in between;
* ``autocommit()``: a pooled connection, each statement its own transaction (the quota
  spend is one statement that checks and increments: exact under any concurrency, the row
  lock of ``ON CONFLICT … DO UPDATE`` orders the spends);
* ``snapshot()``: a read-only REPEATABLE READ transaction;
* ``durable()``: ``synchronous_commit = on`` for this task's commits. The pool's connections
  run with ``synchronous_commit = off``, as SQLite runs with ``synchronous = NORMAL``: a
  power cut may lose the last fraction of a second of commits, never consistency, and a
  commit does not wait for a disk flush (measured: with a flush per commit, behind the write
  lock, the gateway managed ~200 requests/s). The few writes that must survive one (a
  payment on arrival) are flushed before they return;
* the "off-loop" reads and writes are simply other pooled connections: the server does the
  work, the event loop only waits. No WAL checkpoints and no ANALYZE (autovacuum does it).
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from storage import sqlite
from storage.db import Database, DatabaseError, durable_requested
from storage.migrations import SchemaTooNew, migrate_postgres
from storage.sqlite import statement_done

# The key of the advisory lock every write transaction takes (any constant; this one spells
# "vcbot" in ASCII).
WRITE_LOCK_KEY = 0x7663626F74
POOL_MAX = 10
CONNECT_TIMEOUT_S = 10.0

_TOKEN_RE = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"|--[^\n]*|\?")
_SCALAR_RE = re.compile(r"\b(MAX|MIN)\(([^(),]+),([^(),]+)\)", re.IGNORECASE)
_UNIXDATE_RE = re.compile(r"\bdate\(([^(),]+),\s*'unixepoch'\)", re.IGNORECASE)
_IS_RE = re.compile(r"\bIS(\s+NOT)?\s+\?", re.IGNORECASE)
_ROWS_RE = re.compile(r"^\s*(?:SELECT|WITH|VALUES)\b|\bRETURNING\b", re.IGNORECASE)


@lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """The PostgreSQL text of a statement written for SQLite (see the module's notes)."""
    count = 0

    def number(match: re.Match[str]) -> str:
        nonlocal count
        if match.group(0) != "?":
            return match.group(0)
        count += 1
        return f"${count}"

    text = _IS_RE.sub(
        lambda m: "IS DISTINCT FROM ?" if m.group(1) else "IS NOT DISTINCT FROM ?", sql
    )
    text = _TOKEN_RE.sub(number, text)
    text = _SCALAR_RE.sub(
        lambda m: (
            ("GREATEST" if m.group(1).upper() == "MAX" else "LEAST")
            + f"({m.group(2)},{m.group(3)})"
        ),
        text,
    )
    return _UNIXDATE_RE.sub(
        lambda m: f"to_char(to_timestamp({m.group(1)}) AT TIME ZONE 'UTC', 'YYYY-MM-DD')", text
    )


@lru_cache(maxsize=1024)
def _returns_rows(sql: str) -> bool:
    return _ROWS_RE.search(sql) is not None


def _count(status: str) -> int:
    """The row count of a command status (``UPDATE 3``, ``INSERT 0 1``); -1 if none."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else -1


def _numeric(text: str) -> int | float:
    """``numeric`` arrives only from ``SUM``/``AVG`` over integer columns: an int when whole
    (as SQLite returns it), else a float."""
    value = Decimal(text)
    return int(value) if value == value.to_integral_value() else float(value)


async def _keep_state(conn: asyncpg.Connection) -> None:
    """The pool's reset when a connection comes back: nothing to send. asyncpg's default sends
    ``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`` - a round trip on every
    release, about a third of a short statement's time - for state this code never leaves
    behind: advisory locks are transaction-scoped, there are no cursors or LISTENs, and the
    one setting changed (``synchronous_commit`` in ``autocommit()``) is reset there."""


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "numeric", encoder=str, decoder=_numeric, schema="pg_catalog", format="text"
    )


class PgCursor(sqlite.Cursor):
    """The rows of one executed statement (already fetched: asyncpg returns them whole)."""

    __slots__ = ("_count", "_rows")

    def __init__(self, rows: list[Any], count: int) -> None:
        self._rows = rows
        self._count = count

    @property
    def rowcount(self) -> int:
        return self._count

    @property
    def lastrowid(self) -> int | None:
        raise NotImplementedError("use INSERT … RETURNING id: PostgreSQL has no rowid")

    @property
    def description(self) -> Any:
        return None

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        size = 1 if size is None else size
        rows, self._rows = self._rows[:size], self._rows[size:]
        return rows

    async def close(self) -> None:
        self._rows = []

    async def __aiter__(self) -> AsyncIterator[Any]:
        for row in await self.fetchall():
            yield row

    async def __aenter__(self) -> PgCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._rows = []


class PgConnection(sqlite.Connection):
    """One pooled asyncpg connection with the repositories' connection surface."""

    def __init__(self, raw: asyncpg.Connection, *, in_transaction: bool = False) -> None:
        self._pg = raw
        self._in_transaction = in_transaction
        self.busy_timeout = 0.0

    @property
    def pg(self) -> asyncpg.Connection:
        return self._pg

    @property
    def in_transaction(self) -> bool:
        return self._in_transaction

    async def execute(self, sql: str, parameters: Iterable[Any] = ()) -> PgCursor:
        return await run(self._pg, sql, tuple(parameters))

    async def execute_fetchall(self, sql: str, parameters: Iterable[Any] = ()) -> list[Any]:
        cursor = await run(self._pg, sql, tuple(parameters))
        return await cursor.fetchall()

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> PgCursor:
        # One statement per row (asyncpg's executemany reports no row count); the callers'
        # batches are small.
        total = 0
        for values in parameters:
            cursor = await run(self._pg, sql, tuple(values))
            total += max(cursor.rowcount, 0)
        return PgCursor([], total)

    async def executescript(self, script: str) -> PgCursor:
        await self._pg.execute(script)
        return PgCursor([], -1)

    async def commit(self) -> None:
        raise RuntimeError("transactions are managed by PgDatabase")

    async def rollback(self) -> None:
        raise RuntimeError("transactions are managed by PgDatabase")

    async def close(self) -> None:
        raise RuntimeError("pooled connections are released by PgDatabase")


async def run(conn: asyncpg.Connection, sql: str, values: tuple[Any, ...]) -> PgCursor:
    """One statement on ``conn``; timed like the SQLite layer's (the wait for the server is
    included here: on PostgreSQL that *is* the statement)."""
    text = translate(sql)
    started = time.perf_counter()
    try:
        if _returns_rows(text):
            rows = await conn.fetch(text, *values)
            return PgCursor(list(rows), len(rows))
        status = await conn.execute(text, *values)
        return PgCursor([], _count(status))
    finally:
        statement_done(sql, started)


def is_unavailable(exc: BaseException) -> bool:
    """PostgreSQL could not run the statement now (connection lost or refused, too many
    connections, the server starting or stopping): nothing was written."""
    return isinstance(
        exc,
        asyncpg.PostgresConnectionError
        | asyncpg.ConnectionDoesNotExistError
        | asyncpg.TooManyConnectionsError
        | asyncpg.CannotConnectNowError
        | asyncpg.AdminShutdownError,
    )


def redact(url: str) -> str:
    """``url`` without its password, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    user = f"{parts.username}@" if parts.username else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


class PgDatabase(Database):
    """:class:`Database` on PostgreSQL (see the module's notes)."""

    engine = "postgresql"

    def __init__(self, url: str, *, maintenance: bool = True, pool_max: int = POOL_MAX) -> None:
        super().__init__(Path(":postgresql:"), maintenance=maintenance)
        self.url = url
        self._pool: asyncpg.Pool | None = None
        self._pool_max = pool_max

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("database is not connected")
        return self._pool

    async def connect(self, *, run_migrations: bool = True) -> PgDatabase:
        try:
            self._pool = await asyncpg.create_pool(
                self.url,
                server_settings={"synchronous_commit": "off"},
                min_size=1,
                max_size=self._pool_max,
                init=_init_connection,
                reset=_keep_state,
                timeout=CONNECT_TIMEOUT_S,
            )
        except (OSError, TimeoutError, asyncpg.PostgresError, ValueError) as exc:
            message = str(exc).replace(self.url, redact(self.url))
            raise DatabaseError(f"cannot connect to {redact(self.url)}: {message}") from None
        try:
            if run_migrations:
                async with self.pool.acquire() as conn:
                    await migrate_postgres(conn)
        except (asyncpg.PostgresError, SchemaTooNew) as exc:
            await self.close()
            raise DatabaseError(f"cannot use {redact(self.url)}: {exc}") from None
        return self

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    @property
    def conn(self) -> sqlite.Connection:
        raise RuntimeError("a PostgreSQL database has no single connection: use the pool")

    def read_now(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        raise RuntimeError("no blocking reads on PostgreSQL")

    async def read_off_loop(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        return await self.fetchall(sql, params)

    async def write_off_loop(self, sql: str, params: Iterable[Any] = ()) -> int:
        return await self.execute(sql, params)

    async def write_many_off_loop(self, sql: str, rows: list[tuple[Any, ...]]) -> int:
        async with self.transaction() as conn:
            cursor = await conn.executemany(sql, rows)
            return cursor.rowcount

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[sqlite.Connection]:
        async with self.pool.acquire() as raw, raw.transaction():
            if durable_requested():
                await raw.execute("SET LOCAL synchronous_commit = on")
            await raw.execute("SELECT pg_advisory_xact_lock($1)", WRITE_LOCK_KEY)
            yield PgConnection(raw, in_transaction=True)

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[sqlite.Connection]:
        async with (
            self.pool.acquire() as raw,
            raw.transaction(isolation="repeatable_read", readonly=True),
        ):
            yield PgConnection(raw, in_transaction=True)

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[sqlite.Connection]:
        async with self.pool.acquire() as raw:
            if not durable_requested():
                yield PgConnection(raw)
                return
            await raw.execute("SET synchronous_commit = on")
            try:
                yield PgConnection(raw)
            finally:
                await raw.execute("RESET synchronous_commit")  # the pool's "off"

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        async with self.autocommit() as conn:
            cursor = await conn.execute(sql, params)
        return cursor.rowcount

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Any:
        async with self.autocommit() as conn:
            cursor = await conn.execute(sql, params)
        return await cursor.fetchone()

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        async with self.autocommit() as conn:
            return await conn.execute_fetchall(sql, params)
