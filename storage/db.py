"""One SQLite database shared by the bot and the HTTP API.

A :class:`Database` owns one aiosqlite connection in autocommit mode. Every statement and
every transaction goes through an asyncio lock, so a transaction opened by one coroutine is
never joined by another coroutine's statement. Other processes are kept apart by SQLite
itself (WAL, ``BEGIN IMMEDIATE`` and a busy timeout).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from storage.migrations import SchemaTooNew, migrate

BUSY_TIMEOUT_MS = 10_000
READ_NOW_BUSY_TIMEOUT_MS = 200


class DatabaseError(Exception):
    """The database file can't be opened or used (operator problem)."""


class Database:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._reader: sqlite3.Connection | None = None

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise RuntimeError("database is not connected")
        return self._conn

    async def connect(self, *, run_migrations: bool = True) -> Database:
        if str(self.path) != ":memory:":
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseError(
                    f"cannot create folder {self.path.parent}: {exc.strerror}"
                ) from None
        pending = aiosqlite.connect(self.path, isolation_level=None)
        # aiosqlite's worker thread is non-daemon: a connection left open by a crash path
        # would keep the process alive after main() returned. Make it a daemon thread.
        worker = getattr(pending, "_thread", None)
        if worker is not None:
            worker.daemon = True
        try:
            conn = await pending
        except sqlite3.Error as exc:
            raise DatabaseError(f"cannot open {self.path}: {exc}") from None
        conn.row_factory = aiosqlite.Row
        self._conn = conn
        try:
            await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            await conn.execute("PRAGMA journal_mode = WAL")
            await conn.execute("PRAGMA synchronous = NORMAL")
            await conn.execute("PRAGMA foreign_keys = ON")
            if run_migrations:
                async with self._lock:
                    await migrate(conn)
        except (sqlite3.Error, SchemaTooNew) as exc:
            await self.close()
            raise DatabaseError(f"cannot use {self.path}: {exc}") from None
        return self

    async def close(self) -> None:
        if self._reader is not None:
            reader, self._reader = self._reader, None
            reader.close()
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()

    def read_now(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """A blocking read on a private read-only connection, in the caller's thread.

        For hot paths where the hop to the connection's thread costs more than the read
        itself (an indexed lookup takes microseconds). In WAL mode a reader never waits for
        writers; a short busy timeout bounds the rare cases that do wait (a concurrent WAL
        recovery), and then ``sqlite3.OperationalError`` is raised: fall back to the async
        methods. Only after :meth:`connect`; not for ``:memory:`` databases.
        """
        if self._conn is None:
            raise RuntimeError("database is not connected")
        reader = self._reader
        if reader is None:
            uri = self.path.resolve().as_uri() + "?mode=ro"
            reader = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            reader.row_factory = sqlite3.Row
            reader.execute(f"PRAGMA busy_timeout = {READ_NOW_BUSY_TIMEOUT_MS}")
            reader.execute("PRAGMA query_only = ON")
            self._reader = reader
        return reader.execute(sql, tuple(params)).fetchall()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on error). The caller owns it."""
        async with self._lock:
            conn = self.conn
            await conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            else:
                await conn.execute("COMMIT")

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[aiosqlite.Connection]:
        """The connection under the lock, outside any transaction: each statement commits on
        its own. For a repository call that is a single statement (a read, or a write that
        checks and changes in one go), it saves the BEGIN and COMMIT round trips."""
        async with self._lock:
            yield self.conn

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """One statement in its own implicit transaction; returns rowcount."""
        async with self._lock:
            cursor = await self.conn.execute(sql, tuple(params))
            count = cursor.rowcount
            await cursor.close()
            return count

    # Reads go to the connection's thread in one hop (execute + fetch + close together):
    # every hop is a thread switch, and under load each one costs real latency.

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
        """The first row of a query meant to return at most one."""
        async with self._lock:
            rows = await self.conn.execute_fetchall(sql, tuple(params))
        return next(iter(rows), None)

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        async with self._lock:
            return list(await self.conn.execute_fetchall(sql, tuple(params)))

    async def fetchval(self, sql: str, params: Iterable[Any] = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]
