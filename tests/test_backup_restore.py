"""``python -m storage backup`` / ``restore`` as processes, next to a live ``python -m api``
(a process holding the database, as the bot does) and a writer that never stops."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path

import pytest

from storage.db import Database
from tests.e2e_helpers import ROOT, clean_env, start_api

# Inserts rows two at a time, each pair in one transaction: any consistent copy of the table
# holds an even number of rows.
_WRITER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], timeout=10, isolation_level=None)
conn.execute("PRAGMA journal_mode = WAL")
conn.execute("CREATE TABLE IF NOT EXISTS pairs (n INTEGER)")
print("writing", flush=True)
n = 0
while True:
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO pairs VALUES (?)", (n,))
    time.sleep(0.001)
    conn.execute("INSERT INTO pairs VALUES (?)", (n,))
    conn.execute("COMMIT")
    n += 1
"""


async def storage_cli(tmp_path: Path, *args: str, database: Path) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "storage",
        *args,
        cwd=tmp_path,
        env={**clean_env({"DATABASE_PATH": str(database)}), "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def _seed(path: Path, *names: str) -> None:
    db = Database(path)
    await db.connect()
    try:
        for i, name in enumerate(names, start=1):
            await db.execute(
                "INSERT INTO users (id, first_name, created_at, updated_at) VALUES (?, ?, 0, 0)",
                (i, name),
            )
    finally:
        await db.close()


def _names(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [row[0] for row in conn.execute("SELECT first_name FROM users ORDER BY id")]
    finally:
        conn.close()


async def test_backup_while_the_api_runs_then_restore_only_once_it_stopped(tmp_path, upstream):
    database = tmp_path / "data" / "bot.sqlite3"
    await _seed(database, "ann", "bob")
    api, _ = await start_api(tmp_path, upstream.url)
    try:
        code, out, err = await storage_cli(tmp_path, "backup", "copy.sqlite3", database=database)
        assert (code, err) == (0, ""), err
        assert "backed up" in out
        copy = tmp_path / "copy.sqlite3"
        assert _names(copy) == ["ann", "bob"]
        assert not (tmp_path / "copy.sqlite3.partial").exists()

        # Written after the backup: the restore would take it away.
        conn = sqlite3.connect(database, timeout=10)
        conn.execute(
            "INSERT INTO users (id, first_name, created_at, updated_at) VALUES (3, 'cid', 0, 0)"
        )
        conn.commit()
        conn.close()

        code, out, err = await storage_cli(tmp_path, "restore", "copy.sqlite3", database=database)
        assert code == 1
        assert "open in another process" in err and len(err.strip().splitlines()) == 1
        assert _names(database) == ["ann", "bob", "cid"]  # untouched
    finally:
        assert await api.stop() == 0

    code, out, err = await storage_cli(tmp_path, "restore", "copy.sqlite3", database=database)
    assert (code, err) == (0, ""), err
    assert _names(database) == ["ann", "bob"]
    # The restored database opens and passes the bot's own start-up checks.
    db = Database(database)
    await db.connect()
    await db.close()


async def test_restore_refuses_while_an_idle_connection_is_open(tmp_path):
    database = tmp_path / "bot.sqlite3"
    await _seed(database, "ann")
    code, _, err = await storage_cli(tmp_path, "backup", "copy.sqlite3", database=database)
    assert code == 0, err
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1]); "
        "c.execute('SELECT 1 FROM users').fetchall(); print('open', flush=True); time.sleep(60)",
        str(database),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert await asyncio.wait_for(holder.stdout.readline(), 20) == b"open\n"
        code, _, err = await storage_cli(tmp_path, "restore", "copy.sqlite3", database=database)
        assert code == 1 and "open in another process" in err
    finally:
        holder.kill()
        await holder.wait()
    code, _, err = await storage_cli(tmp_path, "restore", "copy.sqlite3", database=database)
    assert code == 0, err


async def test_a_backup_during_constant_writes_is_one_consistent_moment(tmp_path):
    database = tmp_path / "busy.sqlite3"
    writer = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _WRITER, str(database), stdout=asyncio.subprocess.PIPE
    )
    try:
        assert writer.stdout is not None
        assert await asyncio.wait_for(writer.stdout.readline(), 20) == b"writing\n"
        await asyncio.sleep(0.3)
        counts = []
        for i in range(3):
            code, _, err = await storage_cli(tmp_path, "backup", f"b{i}.sqlite3", database=database)
            assert code == 0, err
            conn = sqlite3.connect(tmp_path / f"b{i}.sqlite3")
            counts.append(conn.execute("SELECT COUNT(*) FROM pairs").fetchone()[0])
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            conn.close()
    finally:
        writer.kill()
        await writer.wait()
    assert all(count % 2 == 0 for count in counts), counts
    assert counts[-1] > 0


@pytest.mark.parametrize("command", ["backup", "restore"])
async def test_refusals_are_one_line_and_exit_1(tmp_path, command):
    database = tmp_path / "bot.sqlite3"
    await _seed(database, "ann")
    if command == "backup":
        (tmp_path / "exists.sqlite3").write_bytes(b"keep me")
        code, _, err = await storage_cli(tmp_path, "backup", "exists.sqlite3", database=database)
        assert code == 1 and "exists already" in err
        assert (tmp_path / "exists.sqlite3").read_bytes() == b"keep me"
        code, _, err = await storage_cli(
            tmp_path, "backup", "x.sqlite3", database=tmp_path / "missing.sqlite3"
        )
        assert code == 1 and "no database" in err
        code, _, err = await storage_cli(
            tmp_path, "backup", "no/such/folder/x.sqlite3", database=database
        )
        assert code == 1 and "no folder no/such/folder to write the backup in" in err
    else:
        (tmp_path / "junk.sqlite3").write_bytes(b"not a database at all" * 100)
        code, _, err = await storage_cli(tmp_path, "restore", "junk.sqlite3", database=database)
        assert code == 1 and "not a usable SQLite database" in err
        code, _, err = await storage_cli(tmp_path, "restore", "nope.sqlite3", database=database)
        assert code == 1 and "no backup" in err
        assert _names(database) == ["ann"]
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


async def test_restore_refuses_a_backup_from_a_newer_version(tmp_path):
    database = tmp_path / "bot.sqlite3"
    await _seed(database, "ann")
    newer = tmp_path / "newer.sqlite3"
    conn = sqlite3.connect(newer)
    conn.execute("PRAGMA user_version = 999")
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    code, _, err = await storage_cli(tmp_path, "restore", "newer.sqlite3", database=database)
    assert code == 1 and "newer than this code" in err
    assert _names(database) == ["ann"]


async def test_usage_errors_exit_2(tmp_path):
    code, _, err = await storage_cli(tmp_path, "vacuum", database=tmp_path / "x")
    assert code == 2 and "usage" in err
