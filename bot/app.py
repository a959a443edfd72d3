"""The running bot: open the database, build bot and dispatcher, poll or serve webhooks.

Imported by ``bot.__main__`` only after the settings parsed, so a configuration error is
reported at once, without paying for importing aiogram first.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from contextlib import suppress
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramAPIError, TelegramNetworkError, TelegramUnauthorizedError
from aiohttp import web

from bot.clients import Clients
from bot.commands import register_commands
from bot.config import Settings
from bot.factory import create_bot, create_dispatcher
from bot.loop import StartupError
from bot.middlewares.user import InFlight
from bot.payment_journal import JournalingRequestHandler, PaymentJournal
from bot.premium_jobs import start_premium_jobs, start_retention, stop_premium_jobs, stop_retention
from bot.services.reconcile import on_shutdown_keys, on_startup_keys
from bot.services.recovery import give_back_interrupted
from storage.db import Database, DatabaseError

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

    assert settings.webhook_url is not None and settings.webhook_secret is not None
    path = urlsplit(settings.webhook_url).path or "/"
    app = web.Application()
    JournalingRequestHandler(
        journal=PaymentJournal(dp["payments"], dp["users"]),
        dispatcher=dp,
        bot=bot,
        secret_token=settings.webhook_secret,
        max_in_flight=settings.max_concurrent_updates,
    ).register(app, path=path)

    async def set_webhook(bot: Bot) -> None:
        await bot.set_webhook(
            settings.webhook_url,
            secret_token=settings.webhook_secret,
            allowed_updates=dp.resolve_used_update_types(),
            drop_pending_updates=False,
        )

    dp.startup.register(set_webhook)
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
    db = Database(settings.database_path)
    try:
        await db.connect()
    except DatabaseError as exc:
        raise StartupError(f"DATABASE_PATH: {exc}") from None
    clients = Clients.create(settings)
    bot = create_bot(settings)
    dp = create_dispatcher(settings, db, clients)
    dp.startup.register(on_startup)
    dp.startup.register(give_back_interrupted)
    dp.startup.register(on_startup_keys)
    # Before on_shutdown: the key re-check must stop while the database is still open.
    dp.shutdown.register(on_shutdown_keys)
    dp.startup.register(start_premium_jobs)
    dp.shutdown.register(stop_premium_jobs)  # before on_shutdown closes the database
    dp.startup.register(start_retention)
    dp.shutdown.register(stop_retention)  # before on_shutdown closes the database
    dp.shutdown.register(on_shutdown)
    freeze_startup_heap()
    try:
        try:
            me = await bot.get_me()
        except TelegramNetworkError as exc:
            raise StartupError(
                f"TELEGRAM_API_URL: cannot reach {settings.telegram_api_url} ({exc.message})"
            ) from None
        logger.info("started as @%s (id %d)", me.username, me.id)
        if settings.webhook_url:
            await run_webhook(bot, dp, settings)
        else:
            bot.session.middleware(PaymentJournal(dp["payments"], dp["users"]))
            await run_polling(bot, dp, settings)
    except TelegramUnauthorizedError:
        raise StartupError("BOT_TOKEN: Telegram refused this token (Unauthorized)") from None
    finally:
        await bot.session.close()
        await clients.close()
        await db.close()
