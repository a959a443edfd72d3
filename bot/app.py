"""The running bot: open the database, build bot and dispatcher, poll or serve webhooks.

Imported by ``bot.__main__`` only after the settings parsed, so a configuration error is
reported at once, without paying for importing aiogram first.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from contextlib import AsyncExitStack, suppress
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramAPIError, TelegramNetworkError, TelegramUnauthorizedError
from aiohttp import web

from bot.clients import Clients
from bot.commands import register_commands
from bot.config import Settings
from bot.factory import create_bot, create_dispatcher
from bot.loop import StartupError, connect_database
from bot.metrics import time_database, track_queue
from bot.ops_http import add_ops_routes
from bot.shared_limits import open_shared
from handlers.adapters.jobs import (
    give_back_on_startup,
    on_shutdown_keys,
    on_startup_keys,
    start_premium_jobs,
    start_retention,
    stop_premium_jobs,
    stop_retention,
)
from handlers.adapters.payment_journal import PaymentJournal
from handlers.adapters.webhook import WebhookHandler
from handlers.middlewares.user import InFlight
from storage.db import Database

logger = logging.getLogger("bot")


async def on_startup(bot: Bot, settings: Settings) -> None:
    try:
        await register_commands(bot)
    except TelegramAPIError as exc:
        logger.warning("could not register the command menu: %s", exc)
    if settings.required_channel is None:
        logger.warning("REQUIRED_CHANNEL is not set: API keys are not gated by a channel")


async def on_shutdown(
    dispatcher: Dispatcher, settings: Settings, inflight: InFlight, clients: Clients, db: Database
) -> None:
    left = await inflight.wait(settings.shutdown_timeout)
    if left:
        logger.warning(
            "shutdown: %d update(s) still running after %.0f s", left, settings.shutdown_timeout
        )
    await clients.close()
    await db.close()
    logger.info("shutdown complete")


async def run_polling(bot: Bot, dp: Dispatcher, settings: Settings) -> None:
    await bot.delete_webhook(drop_pending_updates=False)
    await dp.start_polling(
        bot,
        allowed_updates=dp.resolve_used_update_types(),
        handle_signals=True,
        close_bot_session=True,
        # Updates being handled at once. Past it, polling waits and the rest stay queued at
        # Telegram: memory stays bounded in a burst (~40 kB per update in flight).
        tasks_concurrency_limit=settings.max_concurrent_updates,
    )


async def run_webhook(bot: Bot, dp: Dispatcher, settings: Settings) -> None:
    from aiogram.webhook.aiohttp_server import setup_application

    url, secret = settings.webhook_url, settings.webhook_secret
    assert url is not None and secret is not None
    path = urlsplit(url).path or "/"
    app = web.Application()
    WebhookHandler(
        journal=PaymentJournal(dp["payments"], dp["users"]),
        dispatcher=dp,
        bot=bot,
        secret_token=secret,
        max_in_flight=settings.max_concurrent_updates,
    ).register(app, path=path)

    async def set_webhook(bot: Bot) -> None:
        await bot.set_webhook(
            url,
            secret_token=secret,
            allowed_updates=dp.resolve_used_update_types(),
            drop_pending_updates=False,
            # Deliveries Telegram keeps open at once (1-100): no more than can be handled.
            max_connections=max(1, min(100, settings.max_concurrent_updates)),
        )

    dp.startup.register(set_webhook)
    add_ops_routes(app, dp["db"], settings.metrics_token)
    setup_application(app, dp, bot=bot)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=settings.shutdown_timeout)
    await runner.setup()
    site = web.TCPSite(runner, host="0.0.0.0", port=settings.port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise StartupError(f"PORT: cannot listen on {settings.port}: {exc.strerror}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    logger.info("serving webhooks on port %d at %s", settings.port, path)
    try:
        await stop.wait()
    finally:
        logger.info("stopping the webhook server")
        await runner.cleanup()


async def start_ops_server(settings: Settings, db: Database) -> web.AppRunner | None:
    """``/health`` and ``/metrics`` on ``BOT_HTTP_PORT`` (None when it is not set, or when
    the webhook server on the same port answers them already)."""
    port = settings.bot_http_port
    if port is None or (settings.webhook_url and port == settings.port):
        return None
    app = web.Application()
    add_ops_routes(app, db, settings.metrics_token)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host="0.0.0.0", port=port).start()
    except OSError as exc:
        await runner.cleanup()
        raise StartupError(f"BOT_HTTP_PORT: cannot listen on {port}: {exc.strerror}") from None
    logger.info("health and metrics on port %d", port)
    return runner


def track_queues(dp: Dispatcher) -> None:
    """Queue lengths read at every scrape of /metrics."""
    inflight: InFlight = dp["inflight"]
    generations = dp["generations"]
    track_queue("updates_in_flight", lambda: len(inflight.tasks))
    track_queue("generations_running", lambda: generations.queue.active)
    track_queue("generations_waiting", lambda: generations.queue.waiting)


def freeze_startup_heap() -> None:
    """Take everything built at start-up out of the garbage collector's sight.

    Importing aiogram leaves ~200,000 long-lived objects (pydantic models and schemas). Every
    full collection walked all of them: 50-500 ms with the event loop stopped, dozens of
    times an hour under load - the worst spikes in ``bench/``'s p99. They never become
    garbage, so they are frozen once (``gc.freeze``) after a last collection.
    """
    gc.collect()
    gc.freeze()


async def amain(settings: Settings) -> None:
    async with AsyncExitStack() as opened:  # whatever fails, what was opened is closed
        db = await connect_database(settings, opened)
        shared = await open_shared(settings.redis_url, settings.redis_key_prefix)
        if shared is not None:  # closed after the dispatcher stopped: no update uses it then
            opened.push_async_callback(shared.close)
        clients = Clients.create(settings)
        opened.push_async_callback(clients.close)
        bot = create_bot(settings)
        opened.push_async_callback(bot.session.close)
        await run_bot(settings, bot, create_dispatcher(settings, db, clients, shared_limits=shared))


async def run_bot(settings: Settings, bot: Bot, dp: Dispatcher) -> None:
    """Check the token, then serve updates (webhook or polling) until stopped."""
    dp.startup.register(on_startup)
    dp.startup.register(give_back_on_startup)
    dp.startup.register(on_startup_keys)
    # Before on_shutdown: the key re-check must stop while the database is still open.
    dp.shutdown.register(on_shutdown_keys)
    dp.startup.register(start_premium_jobs)
    dp.shutdown.register(stop_premium_jobs)  # before on_shutdown closes the database
    dp.startup.register(start_retention)
    dp.shutdown.register(stop_retention)  # before on_shutdown closes the database
    dp.shutdown.register(on_shutdown)
    time_database()
    track_queues(dp)
    ops: web.AppRunner | None = None
    freeze_startup_heap()
    try:
        try:
            me = await bot.get_me()
        except TelegramNetworkError as exc:
            raise StartupError(unreachable(settings, exc.message)) from None
        logger.info("started as @%s (id %d)", me.username, me.id)
        ops = await start_ops_server(settings, dp["db"])
        if settings.webhook_url:
            await run_webhook(bot, dp, settings)
        else:
            bot.session.middleware(PaymentJournal(dp["payments"], dp["users"]))
            await run_polling(bot, dp, settings)
    except TelegramUnauthorizedError:
        raise StartupError("BOT_TOKEN: Telegram refused this token (Unauthorized)") from None
    finally:
        if ops is not None:
            await ops.cleanup()


def unreachable(settings: Settings, reason: str) -> str:
    """The one line for a Bot API that does not answer, naming the proxy when there is one."""
    if settings.telegram_proxy is None:
        return f"TELEGRAM_API_URL: cannot reach {settings.telegram_api_url} ({reason})"
    proxy = urlsplit(settings.telegram_proxy)
    return (
        f"{settings.telegram_proxy_variable}: cannot reach {settings.telegram_api_url} through "
        f"the proxy {proxy.hostname}:{proxy.port} ({reason})"  # a port is required
    )
