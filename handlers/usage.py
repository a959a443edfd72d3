"""/usage: tier, expiry and today's use against the limits."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot.render import bar, utc_datetime
from bot.services.payments import PaymentService
from bot.services.quota import QuotaService
from bot.texts import Translator
from handlers.filters import CallbackIs
from handlers.keyboards import premium_button
from handlers.premium_view import renewal_line
from storage import admin as admin_repo
from storage.users import UserRow


async def usage_text(
    t: Translator,
    quota_service: QuotaService,
    user_id: int,
    payments: PaymentService | None = None,
) -> str:
    state = await quota_service.tier_of(user_id)
    tier_name = t(f"tier.{state.tier}")
    lines = [t("usage.title")]
    if state.expires_at is not None:
        lines.append(t("usage.tier_until", tier=tier_name, expires=utc_datetime(state.expires_at)))
    else:
        lines.append(t("usage.tier", tier=tier_name))
    subscription = await payments.subscription_of(user_id) if payments is not None else None
    if subscription is not None:
        lines.append(renewal_line(t, subscription, state.expires_at))
    lines.append("")
    for item in await quota_service.today(user_id):
        kind = t(f"kind.{item.kind}")
        if item.unlimited:
            lines.append(t("usage.line_unlimited", kind=kind, used=item.used))
        else:
            lines.append(
                t(
                    "usage.line",
                    kind=kind,
                    used=item.used,
                    limit=item.limit,
                    bar=bar(item.used, item.limit),
                )
            )
    async with quota_service.db.transaction() as conn:
        key = await admin_repo.key_status(conn, user_id)
    lines.append("")
    lines.append(t("usage.key", status=t(f"usage.key_{key}")))
    return "\n".join(lines)


async def cmd_usage(
    message: Message,
    t: Translator,
    quota_service: QuotaService,
    user: UserRow,
    payments: PaymentService,
) -> None:
    await message.answer(
        await usage_text(t, quota_service, user.id, payments), reply_markup=premium_button(t)
    )


async def menu_usage(
    query: CallbackQuery,
    t: Translator,
    quota_service: QuotaService,
    user: UserRow,
    payments: PaymentService,
) -> None:
    await query.answer()
    if query.message is not None:
        await query.message.answer(
            await usage_text(t, quota_service, user.id, payments),
            reply_markup=premium_button(t),
        )


def make_router() -> Router:
    """A fresh router with this module's handlers (one per dispatcher: a router belongs to
    one parent)."""
    router = Router(name=__name__)
    router.message.register(cmd_usage, Command("usage"))
    router.callback_query.register(menu_usage, CallbackIs("menu:usage"))
    return router
