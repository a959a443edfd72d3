"""Telegram Stars payments: pre-checkout answers, successful payments (receipts; a
subscription's renewals too) and ``subscription`` updates (cancelled, re-enabled, failed)."""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotSubscriptionUpdated, Message, PreCheckoutQuery

from bot.config import Settings
from bot.render import tier_name, utc_datetime
from bot.services.payments import CreditOutcome, PaymentService
from bot.services.users import UserService
from bot.texts import Translator
from handlers.adapters.star_subscriptions import renewal_editor
from handlers.filters import has_successful_payment
from handlers.premium_view import receipt_text

logger = logging.getLogger(__name__)

# Telegram cancels the payment when pre-checkout is not answered within 10 seconds.
PRE_CHECKOUT_BUDGET = 7.0


async def pre_checkout(query: PreCheckoutQuery, t: Translator, payments: PaymentService) -> None:
    try:
        reason = await asyncio.wait_for(
            payments.check_pre_checkout(
                user_id=query.from_user.id,
                payload=query.invoice_payload,
                currency=query.currency,
                amount=query.total_amount,
            ),
            PRE_CHECKOUT_BUDGET,
        )
    except TimeoutError:
        logger.warning("pre-checkout check of user %d timed out", query.from_user.id)
        reason = "premium.pc_busy"
    if reason is None:
        await query.answer(ok=True)
        return
    logger.info("pre-checkout of user %d refused: %s", query.from_user.id, reason)
    await query.answer(ok=False, error_message=t(reason))


async def successful_payment(
    message: Message,
    bot: Bot,
    t: Translator,
    payments: PaymentService,
    settings: Settings,
    users: UserService,
) -> None:
    paid = message.successful_payment
    assert paid is not None and message.from_user is not None
    try:
        outcome = await payments.receive(
            user_id=message.from_user.id,
            charge_id=paid.telegram_payment_charge_id,
            provider_charge_id=paid.provider_payment_charge_id or None,
            payload=paid.invoice_payload,
            currency=paid.currency,
            amount=paid.total_amount,
            recurring=bool(paid.is_recurring),
            period_end=paid.subscription_expiration_date,
        )
    except Exception:
        # Telegram does not deliver this update again: leave everything needed to credit or
        # refund it by hand in the log (a recorded payment is credited at the next start).
        logger.error(
            "successful payment not processed: charge %s, user %d, %d %s, payload %r",
            paid.telegram_payment_charge_id,
            message.from_user.id,
            paid.total_amount,
            paid.currency,
            paid.invoice_payload,
        )
        raise
    await message.answer(receipt_text(t, outcome))
    if outcome.status == "unmatched":
        await tell_admins_unmatched(bot, settings, users, outcome)
    if outcome.stops_renewal:
        # The lower plan's renewal was stopped in the database with the credit; Telegram is
        # told now (and again at start if this does not get through).
        await payments.finish_cancels(renewal_editor(bot))


async def subscription_changed(
    update: BotSubscriptionUpdated, bot: Bot, t: Translator, payments: PaymentService
) -> None:
    change = await payments.subscription_changed(
        user_id=update.user.id, payload=update.invoice_payload, state=update.state
    )
    if change is None or not change.tell_failure:
        return
    sub = change.subscription
    expires = change.tier_expires_at or sub.period_end
    text = t(
        "premium.sub_failed",
        tier=tier_name(t, sub.tier),
        expires=utc_datetime(expires),
        amount=sub.amount,
    )
    try:
        await bot.send_message(update.user.id, text)
    except TelegramAPIError as exc:
        logger.warning("could not tell user %d of a failed renewal: %s", update.user.id, exc)


async def tell_admins_unmatched(
    bot: Bot, settings: Settings, users: UserService, outcome: CreditOutcome
) -> None:
    for admin_id in sorted(settings.admin_ids):
        admin = await users.get(admin_id)
        t = Translator.for_code(admin.language_code if admin else None)
        text = t(
            "admin.unmatched_payment",
            charge_id=outcome.charge_id,
            amount=outcome.amount,
            user_id=outcome.user_id,
        )
        try:
            await bot.send_message(admin_id, text)
        except TelegramAPIError as exc:
            logger.warning("could not tell admin %d about an unmatched payment: %s", admin_id, exc)


def make_router() -> Router:
    """A fresh router with this module's handlers (one per dispatcher: a router belongs to
    one parent)."""
    router = Router(name=__name__)
    router.pre_checkout_query.register(pre_checkout)
    router.message.register(successful_payment, has_successful_payment)
    # Registering it puts "subscription" in allowed_updates (resolve_used_update_types).
    router.subscription.register(subscription_changed)
    return router
