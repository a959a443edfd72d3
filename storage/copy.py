"""``python -m storage copy --to postgresql://…``: move an SQLite database into an empty
PostgreSQL database, every table, in one PostgreSQL transaction.

The PostgreSQL database is first brought to the latest schema (the same migrations the bot
runs), then refused unless every table is empty: a copy never merges into data already
there. The SQLite file is read in one read transaction (one consistent moment; stop the bot
and the API first anyway, or what they write after that moment stays behind). The rows go
in with COPY; the identity columns' sequences then continue after the highest copied id, so
new messages, holds and broadcasts number on as before.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from storage.migrations import LATEST
from storage.postgres import PgDatabase, redact

# Parents before children (foreign keys are checked row by row during COPY).
TABLES = (
    "users",
    "user_tiers",
    "api_keys",
    "invoices",
    "payments",
    "usage_daily",
    "quota_holds",
    "messages",
    "conversations",
    "broadcasts",
    "star_subscriptions",
)
IDENTITY_TABLES = ("quota_holds", "messages", "broadcasts")
BATCH = 5000


class CopyRefused(Exception):
    """The copy can't be done; the message says why."""


def _open_source(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise CopyRefused(f"{path} is not a database file")
    src = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    version = int(src.execute("PRAGMA user_version").fetchone()[0])
    if version != LATEST:
        src.close()
        raise CopyRefused(
            f"{path} has schema version {version}, this code {LATEST}: "
            "start this version of the bot on it once (it upgrades in place), then copy"
        )
    return src


async def copy_to_postgres(source: Path, url: str) -> dict[str, int]:
    """Copy every table of the SQLite database at ``source`` into the empty PostgreSQL
    database at ``url``; returns the rows copied per table."""
    src = _open_source(source)
    counts: dict[str, int] = {}
    try:
        src.execute("BEGIN")  # one read snapshot for every table
        target = await PgDatabase(url, pool_max=1).connect()
        try:
            async with target.pool.acquire() as raw, raw.transaction():
                for table in TABLES:
                    if await raw.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table})"):
                        raise CopyRefused(
                            f"{redact(url)} is not empty ({table} has rows): "
                            "copy only into a new, empty database"
                        )
                for table in TABLES:
                    columns = [row[1] for row in src.execute(f"PRAGMA table_info({table})")]
                    cursor = src.execute(f"SELECT {', '.join(columns)} FROM {table}")
                    counts[table] = 0
                    while batch := cursor.fetchmany(BATCH):
                        await raw.copy_records_to_table(table, records=batch, columns=columns)
                        counts[table] += len(batch)
                for table in IDENTITY_TABLES:
                    await raw.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"COALESCE(MAX(id), 0) + 1, false) FROM {table}"
                    )
        finally:
            await target.close()
    finally:
        src.close()
    return counts
