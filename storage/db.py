"""One SQLite database shared by the bot and the HTTP API.

A :class:`Database` owns one connection in autocommit mode (:mod:`storage.sqlite`: statements
run on the event loop's thread, waits for other processes' locks are asynchronous). Every
statement and every transaction goes through an asyncio lock, so a transaction opened by one
coroutine is never joined by another coroutine's statement. Other processes are kept apart by
SQLite itself (WAL, ``BEGIN IMMEDIATE``) and a 10 s busy timeout.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from storage import sqlite
from storage.migrations import SchemaTooNew, migrate

BUSY_TIMEOUT_MS = 10_000


class DatabaseError(Exception):
    """The database file can't be opened or used (operator problem)."""


class Database:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._conn: sqlite.Connection | None = None
        self._lock = asyncio.Lock()

    @property
    def conn(self) -> sqlite.Connection:
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
        try:
            conn = await sqlite.connect(self.path, busy_timeout=BUSY_TIMEOUT_MS / 1000)
        except sqlite3.Error as exc:
            raise DatabaseError(f"cannot open {self.path}: {exc}") from None
        conn.row_factory = sqlite3.Row
        self._conn = conn
        try:
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
    async def transaction(self) -> AsyncIterator[sqlite.Connection]:
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

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """One statement in its own implicit transaction; returns rowcount."""
        async with self._lock:
            cursor = await self.conn.execute(sql, tuple(params))
            count = cursor.rowcount
            await cursor.close()
            return count

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        async with self._lock:
            cursor = await self.conn.execute(sql, tuple(params))
            try:
                return await cursor.fetchone()
            finally:
                await cursor.close()

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        async with self._lock:
            cursor = await self.conn.execute(sql, tuple(params))
            try:
                return list(await cursor.fetchall())
            finally:
                await cursor.close()

    async def fetchval(self, sql: str, params: Iterable[Any] = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]
