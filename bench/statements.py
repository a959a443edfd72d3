"""``python -m bench.statements [--database-url postgresql://…]``: microseconds per simple
statement through the project's storage layer, one after another (no concurrency).

Two statements, each ``--count`` times (default 2000) after a warm-up: a primary-key read
(``SELECT … FROM users WHERE id = ?`` through ``autocommit()``) and a quota spend (the
single-statement check-and-increment of ``storage.usage.spend``). SQLite runs on a temporary
file; with ``--database-url`` PostgreSQL runs too, on a new database on that server (dropped
afterwards). The PostgreSQL figure includes the round trip to the server: that is the cost.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from storage import usage
from storage.db import Database, open_database


async def measure(db: Database, count: int) -> dict[str, float]:
    await db.execute(
        "INSERT INTO users (id, first_name, created_at, updated_at) VALUES (1, 'b', 0, 0)"
    )
    results: dict[str, float] = {}
    async with db.autocommit() as conn:
        for name in ("read", "spend"):
            for warm in (True, False):
                n = 200 if warm else count
                started = time.perf_counter()
                for i in range(n):
                    if name == "read":
                        await conn.execute_fetchall(
                            "SELECT first_name FROM users WHERE id = ?", (1,)
                        )
                    else:
                        await usage.spend(conn, user_id=1, day=f"d{i % 50}", kind="chat", limit=-1)
                if not warm:
                    results[name] = (time.perf_counter() - started) / n * 1e6
    return results


async def run(options: argparse.Namespace) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        db = await Database(Path(folder) / "s.sqlite3").connect()
        try:
            out["sqlite"] = await measure(db, options.count)
        finally:
            await db.close()
    if options.database_url:
        from bench.gateway import pg_database

        url = await pg_database(options.database_url)
        try:
            db = await open_database(Path("unused"), url).connect()
            try:
                out["postgresql"] = await measure(db, options.count)
            finally:
                await db.close()
        finally:
            await pg_database(options.database_url, drop=url)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.statements")
    parser.add_argument("--database-url", help="also measure PostgreSQL on this server")
    parser.add_argument("--count", type=int, default=2000)
    options = parser.parse_args(argv)
    results = asyncio.run(run(options))
    print(f"{'engine':<12}{'read µs':>10}{'spend µs':>10}")
    for engine, figures in results.items():
        print(f"{engine:<12}{figures['read']:>10.1f}{figures['spend']:>10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
