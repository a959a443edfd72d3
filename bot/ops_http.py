"""``/metrics`` and ``/health`` for an aiohttp application (the gateway, the bot's own
``BOT_HTTP_PORT`` server, or its webhook server).

``/metrics`` answers only whom :func:`bot.metrics.metrics_allowed` lets in (the bearer
``METRICS_TOKEN``, else loopback clients): a 404 for everyone else, so the endpoint is not
advertised. The exposition is built off the event loop: with the process collector it reads
``/proc``, and a scrape must not stall updates.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.metrics import exposition, metrics_allowed
from storage.db import Database

logger = logging.getLogger(__name__)

HEALTH_TIMEOUT = 2.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def metrics_handler(token: str | None) -> Handler:
    async def metrics(request: web.Request) -> web.Response:
        if not metrics_allowed(token, request.headers.get("Authorization"), request.remote):
            raise web.HTTPNotFound()
        body, content_type = await asyncio.to_thread(exposition)
        response = web.Response(body=body)
        # prometheus-client's type carries parameters aiohttp's content_type= refuses.
        response.headers["Content-Type"] = content_type
        return response

    return metrics


def health_handler(db: Database) -> Handler:
    async def health(request: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT):
                await db.fetchval("SELECT 1")
        except Exception as exc:
            logger.warning("health: database unreachable (%s)", type(exc).__name__)
            return web.json_response(
                {"status": "unavailable", "database": "unreachable"}, status=503
            )
        return web.json_response({"status": "ok", "database": "ok"})

    return health


def add_ops_routes(app: web.Application, db: Database, token: str | None) -> None:
    app.router.add_get("/metrics", metrics_handler(token))
    app.router.add_get("/health", health_handler(db))
