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


class DatabaseError(Exception):
    """The database file can't be opened or used (operator problem)."""


class Database:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

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
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()

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
    async def reading(self) -> AsyncIterator[aiosqlite.Connection]:
        """The connection for reads by a repository function, under the lock but with no
        ``BEGIN IMMEDIATE``: no write lock is taken, so other processes are not held up."""
        async with self._lock:
            yield self.conn

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """One statement in its own implicit transaction; returns rowcount."""
        async with self._lock:
            cursor = await self.conn.execute(sql, tuple(params))
            count = cursor.rowcount
            await cursor.close()
            return count

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
        async with self._lock:
            cursor = await self.conn.execute(sql, tuple(params))
            try:
                return await cursor.fetchone()
            finally:
                await cursor.close()

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        async with self._lock:
            cursor = await self.conn.execute(sql, tuple(params))
            try:
                return list(await cursor.fetchall())
            finally:
                await cursor.close()

    async def fetchval(self, sql: str, params: Iterable[Any] = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]
