"""/premium: tiers, prices and limits; buttons that send a Stars invoice (30 days), give a
monthly subscription's invoice link, stop or resume the renewal, or start the trial."""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, LabeledPrice, Message

from bot.config import Settings
from bot.render import tier_name, utc_datetime
from bot.services.payments import (
    SUBSCRIPTION_PERIOD,
    AlreadySubscribed,
    LowerTierRefused,
    NoRenewal,
    PaymentService,
    SubscriptionEditRefused,
    TrialUnavailable,
)
from bot.services.quota import QuotaService
from bot.texts import Translator
from bot.tiers import PAID_TIERS
from handlers.adapters.star_subscriptions import renewal_editor
from handlers.keyboards import PremiumCb, premium_keyboard, subscribe_link_keyboard
from handlers.premium_view import daily_counts, premium_text
from handlers.replies import send_to_chat
from storage.users import UserRow

logger = logging.getLogger(__name__)


async def premium_screen(
    t: Translator,
    user_id: int,
    *,
    quota_service: QuotaService,
    payments: PaymentService,
    settings: Settings,
) -> tuple[str, InlineKeyboardMarkup]:
    state = await quota_service.tier_of(user_id)
    trial = await payments.trial_info(user_id)
    subscription = await payments.subscription_of(user_id)
    text = premium_text(
        t,
        state=state,
        trial=trial,
        limits=settings.limits,
        prices=payments.prices,
        trial_cooldown_days=settings.trial_cooldown_days,
        subscription=subscription,
    )
    markup = premium_keyboard(
        t, state=state, trial=trial, prices=payments.prices, subscription=subscription
    )
    return text, markup


async def cmd_premium(
    message: Message,
    t: Translator,
    user: UserRow,
    quota_service: QuotaService,
    payments: PaymentService,
    settings: Settings,
) -> None:
    text, markup = await premium_screen(
        t, user.id, quota_service=quota_service, payments=payments, settings=settings
    )
    await message.answer(text, reply_markup=markup)


async def show_premium(
    query: CallbackQuery,
    bot: Bot,
    t: Translator,
    user: UserRow,
    quota_service: QuotaService,
    payments: PaymentService,
    settings: Settings,
) -> None:
    await query.answer()
    text, markup = await premium_screen(
        t, user.id, quota_service=quota_service, payments=payments, settings=settings
    )
    await send_to_chat(query, text, markup)


async def buy(
    query: CallbackQuery,
    callback_data: PremiumCb,
    bot: Bot,
    t: Translator,
    user: UserRow,
    payments: PaymentService,
    settings: Settings,
) -> None:
    tier = callback_data.tier
    if tier not in PAID_TIERS:  # a forged or stale button: nothing to sell
        await query.answer(t("premium.unknown_tier"), show_alert=True)
        return
    try:
        invoice = await payments.create_invoice(user.id, tier)
    except LowerTierRefused as exc:
        current = tier_name(t, exc.params["current"])
        text = t("premium.lower_tier", tier=tier_name(t, tier), current=current)
        await query.answer(text, show_alert=True)
        return
    await query.answer()
    counts = daily_counts(t, settings.limits[tier])
    name = tier_name(t, tier)
    chat_id = query.message.chat.id if query.message is not None else query.from_user.id
    await bot.send_invoice(
        chat_id=chat_id,
        title=t("premium.invoice_title", tier=name, days=invoice.days),
        description=t("premium.invoice_description", tier=name, days=invoice.days, **counts),
        payload=invoice.payload,
        currency=invoice.currency,
        prices=[
            LabeledPrice(
                label=t("premium.invoice_label", tier=name, days=invoice.days),
                amount=invoice.amount,
            )
        ],
        provider_token="",
    )


async def subscribe(
    query: CallbackQuery,
    callback_data: PremiumCb,
    bot: Bot,
    t: Translator,
    user: UserRow,
    payments: PaymentService,
    settings: Settings,
) -> None:
    """A monthly plan: an invoice link with ``subscription_period``, as a URL button."""
    tier = callback_data.tier
    if tier not in PAID_TIERS:
        await query.answer(t("premium.unknown_tier"), show_alert=True)
        return
    try:
        invoice = await payments.create_invoice(user.id, tier, subscription=True)
    except LowerTierRefused as exc:
        current = tier_name(t, exc.params["current"])
        await query.answer(
            t("premium.lower_tier", tier=tier_name(t, tier), current=current), show_alert=True
        )
        return
    except AlreadySubscribed as exc:
        await query.answer(
            t("premium.sub_already", tier=tier_name(t, exc.params["tier"])), show_alert=True
        )
        return
    counts = daily_counts(t, settings.limits[tier])
    name = tier_name(t, tier)
    try:
        url = await bot.create_invoice_link(
            title=t("premium.sub_invoice_title", tier=name),
            description=t("premium.sub_invoice_description", tier=name, **counts),
            payload=invoice.payload,
            currency=invoice.currency,
            prices=[
                LabeledPrice(label=t("premium.sub_invoice_label", tier=name), amount=invoice.amount)
            ],
            subscription_period=SUBSCRIPTION_PERIOD,
        )
    except TelegramAPIError as exc:
        logger.warning("could not create a subscription link for user %d: %s", user.id, exc)
        await query.answer(t("premium.sub_link_failed"), show_alert=True)
        return
    await query.answer()
    await send_to_chat(
        query,
        t("premium.sub_offer", tier=name, amount=invoice.amount),
        subscribe_link_keyboard(t, url=url, tier=tier, amount=invoice.amount),
    )


async def change_renewal(
    query: CallbackQuery,
    callback_data: PremiumCb,
    bot: Bot,
    t: Translator,
    user: UserRow,
    quota_service: QuotaService,
    payments: PaymentService,
    settings: Settings,
) -> None:
    """Stop or resume the renewal of the plan in force (editUserStarSubscription)."""
    resume = callback_data.action == "resume"
    try:
        if resume:
            row = await payments.resume_renewal(user.id, renewal_editor(bot))
        else:
            row = await payments.cancel_renewal(user.id, renewal_editor(bot))
    except NoRenewal:
        await query.answer(t("premium.sub_nothing"), show_alert=True)
        return
    except (SubscriptionEditRefused, TelegramAPIError) as exc:
        logger.warning("renewal change of user %d failed: %s", user.id, exc)
        await query.answer(t("premium.sub_change_failed"), show_alert=True)
        return
    await query.answer()
    state = await quota_service.tier_of(user.id)
    expires = utc_datetime(state.expires_at or row.period_end)
    if resume:
        text = t(
            "premium.sub_resumed", tier=tier_name(t, row.tier), date=utc_datetime(row.period_end)
        )
    else:
        text = t("premium.sub_canceled", tier=tier_name(t, row.tier), date=expires)
    screen, markup = await premium_screen(
        t, user.id, quota_service=quota_service, payments=payments, settings=settings
    )
    await send_to_chat(query, text + "\n\n" + screen, markup)


async def take_trial(
    query: CallbackQuery, bot: Bot, t: Translator, user: UserRow, payments: PaymentService
) -> None:
    try:
        expires = await payments.take_trial(user.id)
    except TrialUnavailable as exc:
        if exc.paid_tier is not None:
            text = t("premium.trial_have_tier", tier=tier_name(t, exc.paid_tier))
        elif exc.next_at is not None:
            text = t("premium.trial_wait", date=utc_datetime(exc.next_at))
        else:
            text = t("premium.trial_for_free_only")
        await query.answer(text, show_alert=True)
        return
    await query.answer()
    await send_to_chat(query, t("premium.trial_started", expires=utc_datetime(expires)))


def make_router() -> Router:
    """A fresh router with this module's handlers (one per dispatcher: a router belongs to
    one parent)."""
    router = Router(name=__name__)
    router.message.register(cmd_premium, Command("premium"))
    router.callback_query.register(show_premium, PremiumCb.filter(F.action == "show"))
    router.callback_query.register(buy, PremiumCb.filter(F.action == "buy"))
    router.callback_query.register(subscribe, PremiumCb.filter(F.action == "sub"))
    router.callback_query.register(
        change_renewal, PremiumCb.filter(F.action.in_({"cancel", "resume"}))
    )
    router.callback_query.register(take_trial, PremiumCb.filter(F.action == "trial"))
    return router
