"""How both fronts run (``python -m bot`` and ``python -m api``): the event loop, and the
one-line error and exit code 2 for a problem the operator must fix."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.config import Settings
    from storage.db import Database


class StartupError(Exception):
    """A one-line problem the operator must fix; exit code 2."""


def fail(message: str) -> int:
    """``error: <message>`` on stderr; the exit code for it."""
    print(f"error: {message}", file=sys.stderr)
    return 2


def run(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` on uvloop when it is installed (Linux, macOS), else on asyncio's loop.

    uvloop's event loop and transports are written in C: in ``bench/`` the event loop and
    the HTTP plumbing were a third of the bot's CPU on the standard loop, and a fifth of
    the gateway's.
    """
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def run_front(main: Coroutine[Any, Any, None]) -> int:
    """Run a front until it stops; returns the process's exit code (2 after a
    :class:`StartupError`, told in one line)."""
    try:
        run(main)
    except StartupError as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        pass
    return 0


async def connect_database(settings: Settings, opened: AsyncExitStack) -> Database:
    """The database the settings name, connected, and closed when ``opened`` closes; one that
    cannot be opened is a :class:`StartupError` naming DATABASE_URL or DATABASE_PATH."""
    from storage.db import DatabaseError, open_database

    db = open_database(settings.database_path, settings.database_url)
    try:
        await db.connect()
    except DatabaseError as exc:
        variable = "DATABASE_URL" if settings.database_url else "DATABASE_PATH"
        raise StartupError(f"{variable}: {exc}") from None
    opened.push_async_callback(db.close)
    return db
