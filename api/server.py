"""The running gateway: open the database, serve ``create_app`` until SIGTERM/SIGINT.

Imported by ``api.__main__`` only after the settings parsed. On a signal the listening socket
closes at once, requests in flight get up to ``SHUTDOWN_TIMEOUT`` seconds to finish, then
the HTTP clients and the database are closed.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import signal
from contextlib import suppress

from aiohttp import web

from api.app import create_app
from bot.clients import Clients
from bot.config import Settings
from bot.loop import StartupError
from storage.db import Database, DatabaseError

logger = logging.getLogger("api")


async def serve(settings: Settings) -> None:
    db = Database(settings.database_path)
    try:
        await db.connect()
    except DatabaseError as exc:
        raise StartupError(f"DATABASE_PATH: {exc}") from None
    clients = Clients.create(settings)
    try:
        app = create_app(settings, db, clients)
        runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=settings.shutdown_timeout
        )
        await runner.setup()
        site = web.TCPSite(runner, settings.api_host, settings.api_port, backlog=1024)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            # A port in use or reserved is the port's fault; a name that doesn't resolve or
            # an address this machine doesn't have is the host's.
            name = "API_PORT" if exc.errno in (errno.EADDRINUSE, errno.EACCES) else "API_HOST"
            raise StartupError(
                f"{name}: cannot listen on {settings.api_host}:{settings.api_port}: "
                f"{exc.strerror or exc}"
            ) from None
        # Everything built so far lives until shutdown: keep it out of the collector's way.
        gc.collect()
        gc.freeze()
        logger.info("gateway listening on http://%s:%d", settings.api_host, settings.api_port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            logger.info("stopping: requests in flight get up to %.0f s", settings.shutdown_timeout)
            await runner.cleanup()
    finally:
        await clients.close()
        await db.close()
    logger.info("shutdown complete")
