"""Start and stop what premium and admin features do in the background.

``start_premium_jobs`` (a dispatcher startup hook): the admin command menu, crediting of
payments a previous run recorded but did not credit, the expiry reminder task, and the
broadcasts a previous run left unfinished. ``stop_premium_jobs`` (a shutdown hook, registered
before the one that closes the database) stops the reminders and the broadcasts; broadcasts
save their progress per recipient and resume at the next start.
"""

from __future__ import annotations

import logging

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramAPIError

from bot.commands import register_admin_commands
from bot.config import Settings
from bot.premium_view import receipt_text
from bot.services.broadcast import Broadcaster
from bot.services.payments import PaymentService
from bot.services.reminders import Reminders
from bot.services.retention import Retention
from bot.services.users import UserService
from bot.texts import Translator
from storage.db import Database

logger = logging.getLogger(__name__)


async def credit_left_over_payments(bot: Bot, payments: PaymentService, users: UserService) -> int:
    """Credit payments recorded but not credited (the bot stopped half-way); send receipts."""
    credited = 0
    for outcome in await payments.credit_pending():
        if outcome.status != "credited":
            continue
        credited += 1
        user = await users.get(outcome.user_id)
        t = Translator.for_code(user.language_code if user else None)
        try:
            await bot.send_message(outcome.user_id, receipt_text(t, outcome))
        except TelegramAPIError as exc:
            logger.warning("could not send the receipt of %s: %s", outcome.charge_id, exc)
    return credited


async def start_premium_jobs(
    bot: Bot,
    settings: Settings,
    payments: PaymentService,
    users: UserService,
    reminders: Reminders,
    broadcaster: Broadcaster,
) -> None:
    if settings.admin_ids:
        try:
            await register_admin_commands(bot, settings.admin_ids)
        except TelegramAPIError as exc:
            logger.warning("could not register the admin command menu: %s", exc)
    try:
        await credit_left_over_payments(bot, payments, users)
    except Exception:
        logger.exception("crediting left-over payments failed; they are retried at next start")
    reminders.start(bot)
    try:
        await broadcaster.resume(bot)
    except Exception:
        logger.exception("could not resume broadcasts")


async def stop_premium_jobs(reminders: Reminders, broadcaster: Broadcaster) -> None:
    await reminders.stop()
    await broadcaster.stop()


async def start_retention(dispatcher: Dispatcher, settings: Settings, db: Database) -> None:
    """A startup hook: the retention job (``RETENTION_DAYS``; 0 = off)."""
    job = Retention(db, days=settings.retention_days)
    dispatcher["retention"] = job
    job.start()


async def stop_retention(dispatcher: Dispatcher) -> None:
    """A shutdown hook, registered before the one that closes the database."""
    job = dispatcher.workflow_data.pop("retention", None)
    if isinstance(job, Retention):
        await job.stop()
