"""PostgreSQL for the tests: a database of their own per test run (``TEST_DATABASE_URL``
names the server), emptied before each test that uses it."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from storage.copy import TABLES  # every table of the schema but schema_version
from storage.db import Database
from storage.postgres import PgDatabase


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


async def create_database(base: str) -> str:
    """A new empty database ``t_<random>`` on the server of ``base``; returns its URL."""
    name = "t_" + secrets.token_hex(6)
    conn = await asyncpg.connect(base)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(base, name)


async def drop_database(base: str, url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    conn = await asyncpg.connect(base)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def empty_database(url: str, **options: int) -> PgDatabase:
    """The run's database at the latest schema, with every table empty and the identity
    columns starting at 1 again: each test starts as on a new SQLite file."""
    database = await PgDatabase(url, **options).connect()  # type: ignore[arg-type]
    await database.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    return database


async def reopen(db: Database) -> Database:
    """Another connection to the same database, whatever its engine (e.g. a restart)."""
    if isinstance(db, PgDatabase):
        return await PgDatabase(db.url).connect()
    return await Database(db.path).connect()


class fresh_database:
    """A database of its own for one test (when it must start with no schema at all)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.url = ""

    async def __aenter__(self) -> str:
        self.url = await create_database(self.base)
        return self.url

    async def __aexit__(self, *exc: object) -> None:
        await drop_database(self.base, self.url)
