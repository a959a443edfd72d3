"""/premium: tiers, prices and limits; buttons that send a Stars invoice or start the trial."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, LabeledPrice, Message

from bot.config import Settings
from bot.render import tier_name, utc_datetime
from bot.services.payments import LowerTierRefused, PaymentService, TrialUnavailable
from bot.services.quota import QuotaService
from bot.texts import Translator
from bot.tiers import PAID_TIERS
from handlers.keyboards import PremiumCb, premium_keyboard
from handlers.premium_view import premium_text
from handlers.replies import send_to_chat
from storage.users import UserRow


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
    text = premium_text(
        t,
        state=state,
        trial=trial,
        limits=settings.limits,
        prices=payments.prices,
        trial_cooldown_days=settings.trial_cooldown_days,
    )
    return text, premium_keyboard(t, state=state, trial=trial, prices=payments.prices)


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
    limits = settings.limits[tier]
    counts = {
        kind: t("premium.unlimited") if value < 0 else value for kind, value in limits.daily.items()
    }
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
    router.callback_query.register(take_trial, PremiumCb.filter(F.action == "trial"))
    return router
