"""An asyncio face for :mod:`sqlite3` that runs statements on the event loop's own thread.

Why not a worker thread (aiosqlite)? Each statement then costs three thread round trips
(execute, fetch, close), and a worker thread needs the GIL back from a busy event loop: under
load every round trip waits for the interpreter's switch interval (5 ms). Behind the
database's single lock that capped the whole bot at a few dozen updates per second (see
``bench/``). The bot's statements are small indexed lookups and single-row writes on a WAL
database: tens of microseconds each, cheaper run in place than handed to a thread.

The one thing that may not block the loop is waiting for a lock held by another process
(the HTTP API, an operator's ``sqlite3`` shell, a backup). SQLite's own busy handler is off
(``timeout=0``): a locked database raises at once, and :meth:`Connection.execute` waits
*asynchronously* (growing sleeps up to 50 ms) and retries until ``busy_timeout`` seconds have
passed, then raises ``sqlite3.OperationalError("database is locked")`` as before.

The API is the subset of aiosqlite's the repositories use: ``await conn.execute()`` returns a
cursor with ``await fetchone()/fetchall()/close()`` and ``rowcount``/``lastrowid``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

logger = logging.getLogger("storage.slow")

# A statement that keeps the event loop this long is logged (WARNING) by name: every user
# waits for it. Parameters are never logged; the name is the verb and the table.
SLOW_STATEMENT_S = 0.05

_NAME_RE = re.compile(
    r"\b(?:FROM|INTO|UPDATE|TABLE|INDEX|ON)\s+([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE
)


def statement_name(sql: str) -> str:
    """A short name for a statement, safe to log: its verb and first table
    (``SELECT usage_daily``, ``PRAGMA wal_checkpoint``). Never values."""
    words = sql.split(None, 2)
    if not words:
        return "(empty)"
    verb = words[0].upper()
    if verb == "PRAGMA" and len(words) > 1:
        return "PRAGMA " + re.split(r"[\s=(]", words[1], maxsplit=1)[0]
    match = _NAME_RE.search(sql)
    return f"{verb} {match.group(1)}" if match else verb


_BUSY_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)

# Set by a process that exports metrics (``bot.metrics.time_database``): called with each
# event-loop statement's SQL and the seconds it ran. None: nothing is reported.
on_statement: Callable[[str, float], None] | None = None


def statement_done(sql: str, started: float, where: str = "loop", *, report: bool = True) -> None:
    """The one measurement of a statement that began at ``started`` (``time.perf_counter()``):
    reported to :data:`on_statement` when it ran on the event loop (``report=False`` for the
    rows fetched after it, already counted as that statement), and logged by name when it
    took :data:`SLOW_STATEMENT_S` or more. Only the time SQLite worked is measured, never an
    asynchronous wait for a lock: that wait holds up nobody but the caller."""
    elapsed = time.perf_counter() - started
    if report and where == "loop":
        hook = on_statement
        if hook is not None:
            hook(sql, elapsed)
    if elapsed >= SLOW_STATEMENT_S:
        logger.warning(
            "slow statement (%s): %s took %.0f ms", where, statement_name(sql), elapsed * 1000
        )


_FIRST_SLEEP = 0.001
_MAX_SLEEP = 0.05


def is_busy(exc: sqlite3.Error) -> bool:
    """True for "database is locked" / "database table is locked" (any extended code)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _BUSY_CODES
    return "locked" in str(exc)


class Cursor:
    __slots__ = ("_cursor", "_sql")

    def __init__(self, cursor: sqlite3.Cursor, sql: str = "") -> None:
        self._cursor = cursor
        self._sql = sql

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def description(self) -> Any:
        return self._cursor.description

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchall(self) -> list[Any]:
        started = time.perf_counter()
        rows = self._cursor.fetchall()
        statement_done(self._sql, started, report=False)
        return rows

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def close(self) -> None:
        self._cursor.close()

    async def __aiter__(self) -> AsyncIterator[Any]:
        for row in self._cursor:
            yield row

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()


class Connection:
    """One sqlite3 connection in autocommit mode (``isolation_level=None``)."""

    def __init__(self, raw: sqlite3.Connection, busy_timeout: float) -> None:
        self._raw = raw
        self.busy_timeout = busy_timeout

    @property
    def raw(self) -> sqlite3.Connection:
        return self._raw

    @property
    def row_factory(self) -> Any:
        return self._raw.row_factory

    @row_factory.setter
    def row_factory(self, factory: Any) -> None:
        self._raw.row_factory = factory

    @property
    def in_transaction(self) -> bool:
        return self._raw.in_transaction

    @property
    def total_changes(self) -> int:
        return self._raw.total_changes

    async def _retry(self, call: Callable[[], T]) -> T:
        try:
            return call()
        except sqlite3.OperationalError as exc:
            if not is_busy(exc) or self.busy_timeout <= 0:
                raise
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.busy_timeout
        delay = _FIRST_SLEEP
        while True:
            await asyncio.sleep(min(delay, max(deadline - loop.time(), 0)))
            delay = min(delay * 2, _MAX_SLEEP)
            try:
                return call()
            except sqlite3.OperationalError as exc:
                if not is_busy(exc) or loop.time() >= deadline:
                    raise

    async def execute(self, sql: str, parameters: Iterable[Any] = ()) -> Cursor:
        params = parameters if isinstance(parameters, tuple | dict) else tuple(parameters)

        def run() -> sqlite3.Cursor:
            started = time.perf_counter()
            try:
                return self._raw.execute(sql, params)
            finally:
                statement_done(sql, started)

        return Cursor(await self._retry(run), sql)

    async def execute_fetchall(self, sql: str, parameters: Iterable[Any] = ()) -> list[Any]:
        cursor = await self.execute(sql, parameters)
        try:
            return await cursor.fetchall()
        finally:
            await cursor.close()

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> Cursor:
        # Not retried: outside a transaction the rows before a lock error are already written.
        started = time.perf_counter()
        try:
            return Cursor(self._raw.executemany(sql, parameters), sql)
        finally:
            statement_done(sql, started)

    async def executescript(self, script: str) -> Cursor:
        return Cursor(self._raw.executescript(script))

    async def commit(self) -> None:
        started = time.perf_counter()
        try:
            await self._retry(self._raw.commit)
        finally:
            statement_done("COMMIT", started)

    async def rollback(self) -> None:
        self._raw.rollback()

    async def close(self) -> None:
        self._raw.close()


async def connect(path: Path | str, *, busy_timeout: float = 10.0) -> Connection:
    """Open ``path`` in autocommit mode; ``busy_timeout`` seconds of asynchronous waiting for
    locks held by other connections. Raises ``sqlite3.Error`` like ``sqlite3.connect``."""
    raw = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
    return Connection(raw, busy_timeout)
