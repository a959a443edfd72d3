"""Dispatcher startup and shutdown hooks: the background work of the services, started with
a :class:`TelegramMessenger` (and, for keys, a :class:`TelegramMembership`).

``give_back_on_startup``: units of requests the last stop cut off are given back and their
users told. ``start_premium_jobs``: the admin command menu, crediting of payments a previous
run recorded but did not credit, the task that stops the subscription renewals decided on
but not confirmed by Telegram (editUserStarSubscription; :class:`RenewalStops`), the expiry
reminder task, and the broadcasts a previous run left unfinished. ``stop_premium_jobs``
(registered before the hook that closes the database) stops those tasks and the broadcasts;
broadcasts save their progress per recipient and resume at the next start.
``on_startup_keys``/``on_shutdown_keys``: the key re-check task.
``start_retention``/``stop_retention``: the retention job (``RETENTION_DAYS``).
"""

from __future__ import annotations

import logging

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramAPIError

from bot.commands import register_admin_commands
from bot.config import Settings
from bot.services.broadcast import Broadcaster
from bot.services.keys import KeyService
from bot.services.payments import PaymentService
from bot.services.quota import QuotaService
from bot.services.reconcile import KeyNotifier, KeyReconciler
from bot.services.recovery import give_back_interrupted
from bot.services.reminders import Reminders
from bot.services.renewal_stops import RenewalStops
from bot.services.retention import Retention
from bot.services.subscription import Channel
from bot.services.users import UserService
from bot.texts import Translator
from handlers.adapters.membership import TelegramMembership
from handlers.adapters.messenger import TelegramMessenger
from handlers.adapters.star_subscriptions import renewal_editor
from handlers.premium_view import receipt_text
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
    dispatcher: Dispatcher,
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
    # Renewals decided to stop (a move to a higher plan, a refund) but not confirmed by
    # Telegram: left over by the last run, or refused for a moment later on.
    stops = RenewalStops(payments, renewal_editor(bot))
    dispatcher["renewal_stops"] = stops
    stops.start()
    reminders.start(TelegramMessenger(bot))
    try:
        await broadcaster.resume(TelegramMessenger(bot))
    except Exception:
        logger.exception("could not resume broadcasts")


async def stop_premium_jobs(
    dispatcher: Dispatcher, reminders: Reminders, broadcaster: Broadcaster
) -> None:
    stops = dispatcher.workflow_data.pop("renewal_stops", None)
    if isinstance(stops, RenewalStops):
        await stops.stop()
    await reminders.stop()
    await broadcaster.stop()


async def give_back_on_startup(bot: Bot, quota_service: QuotaService, users: UserService) -> None:
    await give_back_interrupted(TelegramMessenger(bot), quota_service, users)


async def on_startup_keys(
    bot: Bot,
    dispatcher: Dispatcher,
    settings: Settings,
    key_service: KeyService,
    channel_gate: Channel | None,
) -> None:
    """Check that the bot can read the channel's members, then start the re-check task."""
    if channel_gate is None:
        return
    membership = TelegramMembership(bot, channel_gate)
    await membership.probe()
    reconciler = KeyReconciler(
        key_service,
        membership,
        KeyNotifier(TelegramMessenger(bot), key_service, channel_gate),
        per_second=settings.key_recheck_per_second,
        interval=settings.key_recheck_interval,
    )
    dispatcher["key_reconciler"] = reconciler
    reconciler.start()


async def on_shutdown_keys(dispatcher: Dispatcher) -> None:
    reconciler = dispatcher.workflow_data.pop("key_reconciler", None)
    if isinstance(reconciler, KeyReconciler):
        await reconciler.stop()


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
