"""``python -m storage backup PATH`` / ``python -m storage restore PATH`` /
``python -m storage copy --to postgresql://…`` (see :mod:`storage.copy`).

**backup** copies the database at ``DATABASE_PATH`` (or ``--database``) to PATH with SQLite's
online backup API, in one step: the copy is one consistent moment of the database even while
the bot and the HTTP API keep writing (in WAL mode the copy reads a snapshot and writers are
not stopped). It is written beside PATH first, checked (``PRAGMA quick_check``), then renamed
into place, so PATH is never a half-written file. An existing PATH is not overwritten.

**restore** replaces the database with the copy at PATH, but only when no process has the
database open. Two checks, both needing no cooperation from the other processes:

* the -shm file's "dead man switch" byte: every connection to a WAL database holds a shared
  POSIX lock on it while it is open, so an exclusive lock that cannot be taken means someone
  has the database open (even idle);
* then an exclusive SQLite lock (``locking_mode=EXCLUSIVE`` and ``BEGIN EXCLUSIVE`` with no
  busy wait), kept while the copy is written into the database through that very connection,
  so no process can open it in between.

Limits: POSIX locks are seen by processes on the same machine (or container sharing the
volume's kernel); over a network file system (NFS, SMB) they may not be, and neither check
can be trusted there - stop the processes first. A process that opened the file but has not
read it yet holds no lock. The check answers for the moment of the restore only: a process
started afterwards simply opens the restored database.

Exit status: 0 done, 1 refused or failed (one line on stderr), 2 bad usage.
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import os
import sqlite3
import sys
from pathlib import Path

from dotenv import find_dotenv, load_dotenv

from storage.migrations import LATEST

DEFAULT_PATH = "data/bot.sqlite3"
# Byte offset of the "dead man switch" lock in the -shm file (SQLite's unix VFS): each
# connection to a WAL database holds a shared lock there for as long as it is open.
_SHM_DMS_OFFSET = 128


class Refused(Exception):
    """The command cannot be done; the message says why."""


def database_path(given: str | None) -> Path:
    if given:
        return Path(given)
    return Path(os.environ.get("DATABASE_PATH", "").strip() or DEFAULT_PATH)


def _quick_check(conn: sqlite3.Connection, what: str) -> None:
    try:
        result = conn.execute("PRAGMA quick_check").fetchone()
    except sqlite3.DatabaseError as exc:
        raise Refused(f"{what} is not a usable SQLite database ({exc})") from None
    if result is None or result[0] != "ok":
        raise Refused(f"{what} failed SQLite's integrity check: {result[0] if result else '?'}")


def backup(source: Path, target: Path) -> None:
    if not source.is_file():
        raise Refused(f"no database at {source}")
    if target.exists():
        raise Refused(f"{target} exists already; choose a new file name")
    if not target.parent.is_dir():
        raise Refused(f"no folder {target.parent} to write the backup in")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    # A plain connection (a read-only one cannot open a WAL database whose -shm is gone).
    src = sqlite3.connect(source, timeout=10)
    try:
        dst = sqlite3.connect(partial)
        try:
            # pages=-1: the whole database in one step, from one read snapshot. Copied in
            # slices, every write by the bot in between would restart the copy.
            src.backup(dst, pages=-1)
            dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
            _quick_check(dst, "the copy")
        finally:
            dst.close()
        with open(partial, "rb") as handle:
            os.fsync(handle.fileno())
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        src.close()


def _shm_in_use(database: Path) -> bool:
    """Whether another process holds the WAL "dead man switch" lock of ``database``.

    Must run before this process opens the database itself: closing this descriptor drops
    every POSIX lock this process holds on the file, SQLite's included."""
    shm = database.with_name(database.name + "-shm")
    try:
        fd = os.open(shm, os.O_RDWR)
    except FileNotFoundError:
        return False
    except PermissionError:
        raise Refused(f"cannot open {shm} to check who uses the database") from None
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, _SHM_DMS_OFFSET)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return True
        raise
    finally:
        os.close(fd)  # releases the probe's lock too
    return False


def restore(source: Path, target: Path) -> None:
    if not source.is_file():
        raise Refused(f"no backup at {source}")
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    try:
        _quick_check(src, str(source))
        version = int(src.execute("PRAGMA user_version").fetchone()[0])
        if version > LATEST:
            raise Refused(f"{source} has schema version {version}, newer than this code ({LATEST})")
        in_use = f"{target} is open in another process (the bot or the API?); stop it first"
        if target.exists() and _shm_in_use(target):
            raise Refused(in_use)
        target.parent.mkdir(parents=True, exist_ok=True)
        dst = sqlite3.connect(target, timeout=0, isolation_level=None)
        try:
            dst.execute("PRAGMA busy_timeout = 0")
            dst.execute("PRAGMA locking_mode = EXCLUSIVE")
            try:
                # The lock stays after COMMIT in exclusive locking mode, until close.
                dst.execute("BEGIN EXCLUSIVE")
                dst.execute("COMMIT")
            except sqlite3.OperationalError:
                raise Refused(in_use) from None
            src.backup(dst, pages=-1)
            _quick_check(dst, str(target))
        finally:
            dst.close()
    finally:
        src.close()


def copy_command(database: Path, url: str) -> int:
    """``copy --to URL``; asyncpg is imported only for this command."""
    import asyncio

    import asyncpg

    from storage.copy import CopyRefused, copy_to_postgres
    from storage.db import DatabaseError
    from storage.postgres import redact

    if not url.startswith(("postgresql://", "postgres://")):
        print("error: --to must be a postgresql:// URL", file=sys.stderr)
        return 2
    try:
        counts = asyncio.run(copy_to_postgres(database, url))
    except (CopyRefused, DatabaseError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (asyncpg.PostgresError, sqlite3.Error, OSError) as exc:
        first_line = (str(exc).splitlines() or [""])[0]
        print(f"error: {type(exc).__name__}: {first_line}", file=sys.stderr)
        return 1
    total = sum(counts.values())
    detail = ", ".join(f"{table} {n}" for table, n in counts.items())
    print(f"copied {total} rows from {database} to {redact(url)} ({detail})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m storage",
        description="Back up or restore the SQLite database, or copy it to PostgreSQL.",
    )
    parser.add_argument(
        "--database", help=f"the database file (default: DATABASE_PATH, else {DEFAULT_PATH})"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("backup", help="write a consistent copy while the bot runs").add_argument(
        "path"
    )
    commands.add_parser(
        "restore", help="replace the database with a copy (the bot and API stopped)"
    ).add_argument("path")
    commands.add_parser(
        "copy", help="copy the SQLite database into an empty PostgreSQL database"
    ).add_argument("--to", required=True, metavar="POSTGRESQL_URL")
    args = parser.parse_args(argv)
    load_dotenv(find_dotenv(usecwd=True), override=False)
    database = database_path(args.database)
    try:
        if args.command == "copy":
            return copy_command(database, args.to)
        if args.command == "backup":
            backup(database, Path(args.path))
            print(f"backed up {database} to {args.path}")
        else:
            restore(Path(args.path), database)
            print(f"restored {database} from {args.path}")
    except Refused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (sqlite3.Error, OSError) as exc:
        first_line = (str(exc).splitlines() or [""])[0]
        print(f"error: {type(exc).__name__}: {first_line}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
