"""One SQLite database shared by the bot and the HTTP API.

A :class:`Database` owns one connection in autocommit mode (:mod:`storage.sqlite`: statements
run on the event loop's thread, waits for other processes' locks are asynchronous). Every
statement and every transaction goes through an asyncio lock, so a transaction opened by one
coroutine is never joined by another coroutine's statement. Other processes are kept apart by
SQLite itself (WAL, ``BEGIN IMMEDIATE``) and a 10 s busy timeout; while another process
holds the write lock, a waiting writer does not hold the asyncio lock, so reads go on.

Work that may take long runs on the database's own thread instead (:class:`OffLoop`): the
whole-table reads (admin statistics) on a read-only connection, and the upkeep on a second
connection - WAL checkpoints every second, statistics for the planner, retention deletes.
SQLite lets go of the GIL while it works, so the event loop goes on meanwhile. Every
statement that keeps the loop 50 ms or more is logged by name (``storage.slow``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

from storage import sqlite
from storage.migrations import SchemaTooNew, migrate
from storage.sqlite import is_busy, statement_done

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
READ_NOW_BUSY_TIMEOUT_MS = 200

# WAL upkeep. SQLite's automatic checkpoint runs inside the COMMIT that crosses the limit,
# on the event loop (20-30 ms, measured). Here a PASSIVE checkpoint runs every
# CHECKPOINT_INTERVAL seconds on the database's thread, so a commit never reaches the limit
# in practice; the automatic one stays on, set high, as the backstop if that thread is stuck
# (the WAL can't grow without bound). Both processes (bot and API) open the database through
# this class, so both use the same settings, and each runs the checkpoint: whichever gets
# there first does the work, the other finds nothing to do.
CHECKPOINT_INTERVAL = 1.0
WAL_BACKSTOP_PAGES = 8192  # ~32 MB with 4 KiB pages
WAL_SIZE_LIMIT = 64 * 1024 * 1024  # the -wal file is truncated back to this after a reset
# Planner statistics (sqlite_stat1): refreshed at start and then hourly. ``analysis_limit``
# makes ANALYZE sample about this many rows per index: milliseconds even at a million users.
ANALYZE_INTERVAL = 3600.0
ANALYSIS_LIMIT = 1000
OFF_LOOP_BUSY_TIMEOUT_S = 5.0

T = TypeVar("T")

# Set inside ``Database.durable()``: the writes of this task commit with synchronous = FULL.
# A context variable, not a connection setting flipped for the block: the connection is
# shared, and another task's commit in between must neither pay for the flush nor, worse,
# switch it off for this one.
_durable: ContextVar[bool] = ContextVar("durable", default=False)


def is_unavailable(exc: BaseException) -> bool:
    """The database could not be used just now, nothing was written: SQLite locked by another
    process past the busy timeout, or PostgreSQL's connection lost, refused or out of slots.
    The user may simply try again."""
    if isinstance(exc, sqlite3.OperationalError):
        return is_busy(exc)
    if type(exc).__module__.startswith("asyncpg"):
        from storage.postgres import is_unavailable as server_unavailable

        return server_unavailable(exc)
    return False


def durable_requested() -> bool:
    """True inside ``Database.durable()`` (for the PostgreSQL engine's commits)."""
    return _durable.get()


class DatabaseError(Exception):
    """The database file can't be opened or used (operator problem)."""


class OffLoop:
    """Two connections, each used from one thread of its own: a read-only one for heavy
    reads and a read-write one for upkeep. Separate threads, so a read never queues behind
    an upkeep write that waits for the other process's lock; one thread per connection, so
    a connection is never used by two threads. (This is what aiosqlite does; plain executors
    are used because their idle threads do not keep the process alive at exit when a caller
    forgets :meth:`close`.)"""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._read_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-read")
        self._upkeep_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-upkeep")
        self._ro: sqlite3.Connection | None = None
        self._rw: sqlite3.Connection | None = None

    def _open(self, readonly: bool) -> sqlite3.Connection:
        if readonly:
            uri = self.path.resolve().as_uri() + "?mode=ro"
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA query_only = ON")
        else:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=0
            )
            conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_BACKSTOP_PAGES}")
            conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
        conn.execute(f"PRAGMA busy_timeout = {int(OFF_LOOP_BUSY_TIMEOUT_S * 1000)}")
        conn.row_factory = sqlite3.Row
        return conn

    def _reader(self) -> sqlite3.Connection:
        if self._ro is None:
            self._ro = self._open(readonly=True)
        return self._ro

    def _writer(self) -> sqlite3.Connection:
        if self._rw is None:
            self._rw = self._open(readonly=False)
        return self._rw

    async def _run(self, call: Callable[[], T], *, reading: bool = False) -> T:
        thread = self._read_thread if reading else self._upkeep_thread
        return await asyncio.get_running_loop().run_in_executor(thread, call)

    async def read(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        def call() -> list[sqlite3.Row]:
            started = time.perf_counter()
            try:
                return self._reader().execute(sql, params).fetchall()
            finally:
                statement_done(sql, started, "off-loop")

        return await self._run(call, reading=True)

    async def write(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        """One statement in its own transaction; returns rowcount. It waits for the write
        lock on this thread (busy timeout), never on the event loop."""

        def call() -> int:
            started = time.perf_counter()
            try:
                cursor = self._writer().execute(sql, params)
                count = cursor.rowcount
                cursor.close()
                return count
            finally:
                statement_done(sql, started, "off-loop")

        return await self._run(call)

    async def write_many(self, sql: str, rows: list[tuple[Any, ...]]) -> int:
        """``executemany`` in one ``BEGIN IMMEDIATE`` transaction; returns rowcount."""

        def call() -> int:
            conn = self._writer()
            conn.execute("BEGIN IMMEDIATE")  # waits for the write lock here, on this thread
            started = time.perf_counter()
            try:
                count = conn.executemany(sql, rows).rowcount
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            finally:
                statement_done(sql, started, "off-loop")
            return count

        return await self._run(call)

    async def checkpoint(self) -> tuple[int, int, int]:
        """A PASSIVE checkpoint: (busy, WAL frames, frames copied back). It never waits for
        readers or writers; what it can't copy now is copied next time."""
        rows = await self.write_rows("PRAGMA wal_checkpoint(PASSIVE)")
        row = rows[0]
        return int(row[0]), int(row[1]), int(row[2])

    async def write_rows(self, sql: str) -> list[sqlite3.Row]:
        def call() -> list[sqlite3.Row]:
            started = time.perf_counter()
            try:
                return self._writer().execute(sql).fetchall()
            finally:
                statement_done(sql, started, "off-loop")

        return await self._run(call)

    async def analyze(self) -> None:
        def call() -> None:
            conn = self._writer()
            conn.execute(f"PRAGMA analysis_limit = {ANALYSIS_LIMIT}")
            conn.execute("ANALYZE")

        await self._run(call)

    async def close(self) -> None:
        def close_reader() -> None:
            if self._ro is not None:
                self._ro.close()
                self._ro = None

        def close_writer() -> None:
            if self._rw is not None:
                self._rw.close()
                self._rw = None

        with contextlib.suppress(RuntimeError):  # the executors are already shut down
            await self._run(close_reader, reading=True)
            await self._run(close_writer)
        self._read_thread.shutdown(wait=False)
        self._upkeep_thread.shutdown(wait=False)


class Database:
    # "sqlite" here; storage.postgres.PgDatabase says "postgresql".
    engine = "sqlite"

    def __init__(self, path: Path | str, *, maintenance: bool = True) -> None:
        self.path = Path(path)
        self._conn: sqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._reader: sqlite3.Connection | None = None
        self._maintenance = maintenance
        self._off_loop: OffLoop | None = None
        self._upkeep: asyncio.Task[None] | None = None

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
            await conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_BACKSTOP_PAGES}")
            await conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
            if run_migrations:
                async with self._lock:
                    await migrate(conn)
            await self._check_writable()
        except (sqlite3.Error, SchemaTooNew) as exc:
            await self.close()
            raise DatabaseError(f"cannot use {self.path}: {exc}") from None
        if str(self.path) != ":memory:":
            self._off_loop = OffLoop(self.path)
            if self._maintenance:
                self._upkeep = asyncio.create_task(self._keep_up(), name="sqlite-upkeep")
        return self

    @property
    def off_loop(self) -> OffLoop | None:
        """The connections on the database's own thread; None for ``:memory:``."""
        return self._off_loop

    async def read_off_loop(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """A read that may scan a whole table: on the read-only connection of the database's
        thread, so the event loop goes on meanwhile. (An in-memory database has no second
        connection: there it runs the usual way.)"""
        if self._off_loop is None:
            return await self.fetchall(sql, params)
        return await self._off_loop.read(sql, tuple(params))

    async def write_off_loop(self, sql: str, params: Iterable[Any] = ()) -> int:
        """One write statement on the database's thread (it waits for the write lock there,
        not on the loop); returns rowcount. Keep it small: it holds the write lock while it
        runs."""
        if self._off_loop is None:
            return await self.execute(sql, params)
        return await self._off_loop.write(sql, tuple(params))

    async def write_many_off_loop(self, sql: str, rows: list[tuple[Any, ...]]) -> int:
        """``executemany`` in one transaction on the database's thread; returns rowcount."""
        if self._off_loop is None:
            async with self.transaction() as conn:
                cursor = await conn.executemany(sql, rows)
                return cursor.rowcount
        return await self._off_loop.write_many(sql, rows)

    async def _keep_up(self) -> None:
        """Checkpoint the WAL every second and refresh the planner's statistics hourly, all
        on the database's thread."""
        off_loop = self._off_loop
        assert off_loop is not None
        loop = asyncio.get_running_loop()
        next_analyze = loop.time()
        while True:
            try:
                if loop.time() >= next_analyze:
                    next_analyze = loop.time() + ANALYZE_INTERVAL
                    await off_loop.analyze()
                await off_loop.checkpoint()
            except sqlite3.Error as exc:
                if not is_busy(exc):
                    logger.warning("database upkeep failed: %s", exc)
            await asyncio.sleep(CHECKPOINT_INTERVAL)

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
        upkeep, self._upkeep = self._upkeep, None
        if upkeep is not None:
            upkeep.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await upkeep
        off_loop, self._off_loop = self._off_loop, None
        if off_loop is not None:
            await off_loop.close()
        if self._reader is not None:
            reader, self._reader = self._reader, None
            reader.close()
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()

    async def _locked(self, attempt: Callable[[sqlite3.Connection], T], sql: str) -> T:
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
                    started = time.perf_counter()
                    try:
                        with self._synchronous(conn.raw):
                            return attempt(conn.raw)
                    finally:
                        statement_done(sql, started)
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
        started = time.perf_counter()
        try:
            return reader.execute(sql, tuple(params)).fetchall()
        finally:
            statement_done(sql, started)

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

        return await self._locked(attempt, sql)

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        values = tuple(params)

        def attempt(raw: sqlite3.Connection) -> sqlite3.Row | None:
            cursor = raw.execute(sql, values)
            try:
                row: sqlite3.Row | None = cursor.fetchone()
                return row
            finally:
                cursor.close()

        return await self._locked(attempt, sql)

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        values = tuple(params)

        def attempt(raw: sqlite3.Connection) -> list[sqlite3.Row]:
            cursor = raw.execute(sql, values)
            try:
                return cursor.fetchall()
            finally:
                cursor.close()

        return await self._locked(attempt, sql)

    async def fetchval(self, sql: str, params: Iterable[Any] = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]


def open_database(
    path: Path | str, url: str | None = None, *, maintenance: bool = True
) -> Database:
    """The database the settings name: PostgreSQL at ``url`` (``DATABASE_URL``) when given,
    else the SQLite file at ``path``. Not yet connected. asyncpg is imported only here, only
    when PostgreSQL is used."""
    if url:
        from storage.postgres import PgDatabase

        return PgDatabase(url, maintenance=maintenance)
    return Database(path, maintenance=maintenance)
