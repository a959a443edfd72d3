"""A successful payment is written down before Telegram is told it arrived.

Telegram delivers ``successful_payment`` once. With long polling, aiogram confirms a batch of
updates by asking for the next one - right after it has *started* handling them - so a bot
killed between that moment and the handler's first write would lose a paid-for purchase:
Telegram never sends it again. With webhooks, aiogram answers 200 before handling.

:class:`PaymentJournal` closes that window. As a session middleware it sees what
``getUpdates`` returns before the polling loop does, and records every successful payment in
it (``PaymentService.record``: idempotent, keyed by the charge id) first - subscription
renewals included, and the ``subscription`` updates (cancelled, re-enabled, failed). If the record
fails, the batch is refused (the middleware raises), aiogram's polling backs off and asks
again with the same offset, and Telegram sends the same updates again. The handler records
again (a no-op) and credits; a payment recorded but not credited is credited at the next
start (``handlers.adapters.jobs``). The webhook handler calls :meth:`PaymentJournal.note` the same
way, after the secret check and before the 200.
"""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.types import Update

from bot.services import clock
from bot.services.payments import PaymentService
from bot.services.users import UserService

logger = logging.getLogger(__name__)


class PaymentJournal(BaseRequestMiddleware):
    def __init__(self, payments: PaymentService, users: UserService) -> None:
        self.payments = payments
        self.users = users

    async def __call__(self, make_request: Any, bot: Bot, method: TelegramMethod[Any]) -> Any:
        result = await make_request(bot, method)
        if isinstance(method, GetUpdates) and result:
            for update in result:
                await self.note(update)
        return result

    async def note(self, update: Update) -> None:
        """Record the payment (or the subscription's new state) in ``update``, if there is
        one. Raises when it cannot."""
        if update.subscription is not None:
            await self.note_subscription(update)
            return
        message = update.message
        paid = message.successful_payment if message is not None else None
        if paid is None or message is None or message.from_user is None:
            return
        sender = message.from_user
        try:
            # The payer's row first (payments reference users): as the update middleware
            # would, a moment later.
            await self.users.touch(
                sender.id,
                username=sender.username,
                first_name=sender.first_name,
                last_name=sender.last_name,
                language_code=sender.language_code,
            )
            async with self.payments.db.durable():  # on disk before Telegram hears of it
                await self.payments.record(
                    user_id=message.from_user.id,
                    charge_id=paid.telegram_payment_charge_id,
                    provider_charge_id=paid.provider_payment_charge_id or None,
                    payload=paid.invoice_payload,
                    currency=paid.currency,
                    amount=paid.total_amount,
                    now=clock.now(),
                    recurring=bool(paid.is_recurring),
                    period_end=paid.subscription_expiration_date,
                )
        except Exception:
            logger.exception(
                "could not record payment %s of user %d on arrival; it will be fetched again",
                paid.telegram_payment_charge_id,
                message.from_user.id,
            )
            raise

    async def note_subscription(self, update: Update) -> None:
        """A subscription cancelled, re-enabled or failed is recorded the same way, so that
        /premium does not promise a renewal that will not come. The one-time failure notice
        is left to the handler."""
        change = update.subscription
        assert change is not None
        try:
            async with self.payments.db.durable():
                await self.payments.subscription_changed(
                    user_id=change.user.id,
                    payload=change.invoice_payload,
                    state=change.state,
                    now=clock.now(),
                    notice=False,
                )
        except Exception:
            logger.exception(
                "could not record the %r subscription update of user %d; it will be fetched again",
                change.state,
                change.user.id,
            )
            raise
