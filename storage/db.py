"""One SQLite database shared by the bot and the HTTP API.

A :class:`Database` owns one connection in autocommit mode (:mod:`storage.sqlite`: statements
run on the event loop's thread, waits for other processes' locks are asynchronous). Every
statement and every transaction goes through an asyncio lock, so a transaction opened by one
coroutine is never joined by another coroutine's statement. Other processes are kept apart by
SQLite itself (WAL, ``BEGIN IMMEDIATE``) and a 10 s busy timeout; while another process
holds the write lock, a waiting writer does not hold the asyncio lock, so reads go on.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

from storage import sqlite
from storage.migrations import SchemaTooNew, migrate
from storage.sqlite import is_busy, statement_timer

BUSY_TIMEOUT_MS = 10_000
READ_NOW_BUSY_TIMEOUT_MS = 200

T = TypeVar("T")

# Set inside ``Database.durable()``: the writes of this task commit with synchronous = FULL.
# A context variable, not a connection setting flipped for the block: the connection is
# shared, and another task's commit in between must neither pay for the flush nor, worse,
# switch it off for this one.
_durable: ContextVar[bool] = ContextVar("durable", default=False)


class DatabaseError(Exception):
    """The database file can't be opened or used (operator problem)."""


class Database:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._conn: sqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._reader: sqlite3.Connection | None = None

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
        if self.path.is_dir():
            raise DatabaseError(f"{self.path} is a folder, not a database file")
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
            await self._check_writable()
        except (sqlite3.Error, SchemaTooNew) as exc:
            await self.close()
            raise DatabaseError(f"cannot use {self.path}: {exc}") from None
        return self

    async def _check_writable(self) -> None:
        """Fail now, not at the first payment: SQLite opens a file it may not write (a
        read-only file, or its -wal/-shm files can't be written) read-only without a word,
        and ``BEGIN IMMEDIATE`` still succeeds there. Only a real write tells; this one is
        rolled back."""
        await self._begin_immediate()
        raw = self.conn.raw
        try:
            raw.execute("CREATE TABLE write_probe (x INTEGER)")
        finally:
            raw.execute("ROLLBACK")
            self._lock.release()

    async def close(self) -> None:
        if self._reader is not None:
            reader, self._reader = self._reader, None
            reader.close()
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()

    async def _locked(self, attempt: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``attempt`` on the connection under the lock. While another process holds
        the database, the lock is *not* kept during the wait: this process's readers go on
        (WAL lets them), and the attempt is repeated with growing sleeps until the busy
        timeout has passed."""
        conn = self.conn
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        delay = 0.001
        while True:
            async with self._lock:
                try:
                    with self._synchronous(conn.raw):
                        return attempt(conn.raw)
                except sqlite3.OperationalError as exc:
                    if not is_busy(exc):
                        raise
                    now = loop.time()
                    deadline = now + conn.busy_timeout if deadline is None else deadline
                    if now >= deadline:
                        raise
            await asyncio.sleep(min(delay, max(deadline - loop.time(), 0.0)))
            delay = min(delay * 2, 0.05)

    async def _begin_immediate(self) -> None:
        """``BEGIN IMMEDIATE`` with this process's lock held on return. While another
        process has the write lock, the wait happens with this process's lock released."""
        conn = self.conn
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        delay = 0.001
        durable = _durable.get()
        while True:
            await self._lock.acquire()
            try:
                if durable:
                    conn.raw.execute("PRAGMA synchronous = FULL")
                conn.raw.execute("BEGIN IMMEDIATE")
                return  # the lock stays held: the transaction is this coroutine's
            except sqlite3.OperationalError as exc:
                if durable:
                    conn.raw.execute("PRAGMA synchronous = NORMAL")
                self._lock.release()
                if not is_busy(exc):
                    raise
                now = loop.time()
                deadline = now + conn.busy_timeout if deadline is None else deadline
                if now >= deadline:
                    raise
            except BaseException:
                if durable:
                    conn.raw.execute("PRAGMA synchronous = NORMAL")
                self._lock.release()
                raise
            await asyncio.sleep(min(delay, max(deadline - loop.time(), 0.0)))
            delay = min(delay * 2, 0.05)

    @contextmanager
    def _synchronous(self, raw: sqlite3.Connection) -> Iterator[None]:
        """With the lock held: the commits inside are flushed to disk when the calling task
        is in :meth:`durable`. Setting, write, commit and restore share one hold."""
        if not _durable.get():
            yield
            return
        raw.execute("PRAGMA synchronous = FULL")
        try:
            yield
        finally:
            raw.execute("PRAGMA synchronous = NORMAL")

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
        if str(self.path) == ":memory:":
            raise sqlite3.OperationalError("no quick reads of an in-memory database")
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
    async def transaction(self) -> AsyncIterator[sqlite.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on error). The caller owns it."""
        await self._begin_immediate()
        conn = self.conn
        try:
            try:
                yield conn
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            try:
                await conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.raw.execute("ROLLBACK")
                raise
        finally:
            if _durable.get():
                conn.raw.execute("PRAGMA synchronous = NORMAL")
            self._lock.release()

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[sqlite.Connection]:
        """A read-only view: a deferred ``BEGIN`` … ``COMMIT``. Several reads inside see
        one consistent state, and no write lock is taken: in WAL mode the reads go on while
        another process (or connection) is writing. Only for reads."""
        async with self._lock:
            conn = self.conn
            conn.raw.execute("BEGIN")
            try:
                yield conn
            finally:
                if conn.in_transaction:
                    conn.raw.execute("COMMIT")

    @asynccontextmanager
    async def durable(self) -> AsyncIterator[None]:
        """This task's commits inside are flushed to disk before they return
        (``synchronous = FULL``): with the usual ``NORMAL`` in WAL mode a power cut may lose
        the last commits (never consistency). For the few writes that must survive one: a
        payment on arrival. Each write sets FULL, commits and restores NORMAL in one hold
        of the lock, so overlapping durable writes (webhook mode) each get their flush and
        other tasks' commits in between keep NORMAL."""
        token = _durable.set(True)
        try:
            yield
        finally:
            _durable.reset(token)

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[sqlite.Connection]:
        """The connection under the lock, outside any transaction: each statement commits on
        its own. For a repository call that is a single statement (a read, or a write that
        checks and changes in one go), it saves the BEGIN and COMMIT. A write in it that
        finds the database locked by another process waits with the lock held (unlike
        :meth:`transaction`)."""
        async with self._lock:
            conn = self.conn
            with self._synchronous(conn.raw):
                yield conn

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """One statement in its own implicit transaction; returns rowcount."""
        values = tuple(params)

        def attempt(raw: sqlite3.Connection) -> int:
            cursor = raw.execute(sql, values)
            try:
                return cursor.rowcount
            finally:
                cursor.close()

        started = time.perf_counter()
        try:
            return await self._locked(attempt)
        finally:
            statement_timer(sql, started)

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        values = tuple(params)

        def attempt(raw: sqlite3.Connection) -> sqlite3.Row | None:
            cursor = raw.execute(sql, values)
            try:
                row: sqlite3.Row | None = cursor.fetchone()
                return row
            finally:
                cursor.close()

        started = time.perf_counter()
        try:
            return await self._locked(attempt)
        finally:
            statement_timer(sql, started)

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        values = tuple(params)

        def attempt(raw: sqlite3.Connection) -> list[sqlite3.Row]:
            cursor = raw.execute(sql, values)
            try:
                return cursor.fetchall()
            finally:
                cursor.close()

        started = time.perf_counter()
        try:
            return await self._locked(attempt)
        finally:
            statement_timer(sql, started)

    async def fetchval(self, sql: str, params: Iterable[Any] = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]
