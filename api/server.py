"""The running gateway: open the database, serve ``create_app`` until SIGTERM/SIGINT.

Imported by ``api.__main__`` only after the settings parsed. On a signal the listening socket
closes at once, requests in flight get up to ``SHUTDOWN_TIMEOUT`` seconds to finish, then
the HTTP clients, the Redis client (``REDIS_URL``) and the database are closed.

The listening socket is opened here (not with ``web.TCPSite``) so every connection goes
through :class:`api.connections.HeadDeadlines`: a client gets ``API_CLIENT_TIMEOUT`` seconds
to send a complete request head, and an idle keep-alive connection is closed after
``KEEPALIVE_TIMEOUT`` seconds. aiohttp's own complaints about malformed requests (it logs them
with a traceback) become one INFO line.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import signal
from contextlib import AsyncExitStack, suppress

from aiohttp import web

from api.app import CONNECTIONS, create_app
from bot.clients import Clients
from bot.config import Settings
from bot.loop import StartupError, connect_database
from bot.metrics import time_database
from bot.shared_limits import open_shared

logger = logging.getLogger("api")

KEEPALIVE_TIMEOUT = 75.0


class _NoTracebacks(logging.Filter):
    """aiohttp logs a request it cannot parse (or a client that vanished mid-answer) with a
    traceback at ERROR: anyone can trigger that, so it becomes one INFO line naming the
    error."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info:
            error = record.exc_info[1]
            record.msg = f"{record.getMessage()}: {type(error).__name__}: {error}"
            record.args = None
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


http_logger = logging.getLogger("api.http")
http_logger.addFilter(_NoTracebacks())


def protocol_options() -> dict[str, object]:
    """aiohttp's connection settings for the gateway (``web.AppRunner`` keyword arguments).

    ``lingering_time=0``: an answer given before the body was read (a 401, a 413, a 408)
    closes the connection at once; by default aiohttp would keep reading and discarding
    the announced body for 10 more seconds.
    """
    return {
        "keepalive_timeout": KEEPALIVE_TIMEOUT,
        "lingering_time": 0,
        "logger": http_logger,
    }


async def serve(settings: Settings) -> None:
    async with AsyncExitStack() as opened:  # whatever fails, what was opened is closed
        db = await connect_database(settings, opened)
        clients = Clients.create(settings)
        opened.push_async_callback(clients.close)
        time_database()
        shared = await open_shared(settings.redis_url, settings.redis_key_prefix)
        if shared is not None:
            opened.push_async_callback(shared.close)
        app = create_app(settings, db, clients, shared=shared)
        runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=settings.shutdown_timeout,
            **protocol_options(),  # type: ignore[arg-type]
        )
        await runner.setup()
        assert runner.server is not None
        loop = asyncio.get_running_loop()
        try:
            listener = await loop.create_server(
                app[CONNECTIONS].factory(runner.server),
                settings.api_host,
                settings.api_port,
                backlog=1024,
                reuse_address=True,
            )
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
        for sig in (signal.SIGTERM, signal.SIGINT):
            with suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            logger.info("stopping: requests in flight get up to %.0f s", settings.shutdown_timeout)
            listener.close()
            await runner.cleanup()
    logger.info("shutdown complete")
