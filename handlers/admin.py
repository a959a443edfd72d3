"""Admin commands: /stats, /grant, /ban, /unban, /refund, /broadcast.

The router's own filter lets only ADMIN_IDS in: for anyone else no handler here matches, the
update falls through to the other routers, and nothing hints that these commands exist.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from aiogram import Bot, Router, html
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject, Filter
from aiogram.types import BufferedInputFile, Message, TelegramObject, User

from bot.config import Settings
from bot.render import tier_name, utc_datetime
from bot.services import clock
from bot.services.admin import AdminService, parse_grant, parse_user_id
from bot.services.broadcast import Broadcaster
from bot.services.payments import ChargeAlreadyRefunded, PaymentService, RefundRefused
from bot.services.stats_chart import chart_png
from bot.texts import Translator
from bot.tiers import FREE, KINDS, TIER1, TIER2, TIERS
from handlers.adapters.messenger import TelegramMessenger
from handlers.adapters.star_subscriptions import renewal_editor

MAX_MESSAGE = 4096

logger = logging.getLogger(__name__)


class IsAdmin(Filter):
    async def __call__(
        self, event: TelegramObject, settings: Settings, event_from_user: User | None = None
    ) -> bool:
        return event_from_user is not None and event_from_user.id in settings.admin_ids


async def cmd_stats(
    message: Message, t: Translator, admin_service: AdminService, settings: Settings
) -> None:
    stats = await admin_service.stats()
    per_tier: dict[str, Any] = {tier: stats.per_tier.get(tier, 0) for tier in TIERS}
    usage = {kind: stats.usage_today.get(kind, 0) for kind in KINDS}
    await message.answer(
        t(
            "admin.stats",
            users=stats.users,
            banned=stats.banned,
            blocked=stats.blocked_bot,
            keys=stats.active_keys,
            day=stats.day,
            stars=stats.stars_this_month,
            **per_tier,
            **usage,
        )
        + "\n"
        + t(
            "admin.stats_subs",
            tier1=stats.subscribers.get(TIER1, (0, 0))[0],
            tier1_stars=stats.subscribers.get(TIER1, (0, 0))[1],
            tier2=stats.subscribers.get(TIER2, (0, 0))[0],
            tier2_stars=stats.subscribers.get(TIER2, (0, 0))[1],
            canceled=stats.canceled_this_month,
        )
    )
    await send_stats_chart(message, t, settings, admin_service)


async def send_stats_chart(
    message: Message, t: Translator, settings: Settings, admin_service: AdminService | None = None
) -> None:
    """The last 30 days as a picture, after the numbers (which already went out)."""
    db = admin_service.db if admin_service is not None else None
    try:
        png = await chart_png(settings.database_path, clock.now(), db)
    except Exception:
        logger.exception("the /stats chart could not be drawn")
        await message.answer(t("admin.stats_chart_failed"))
        return
    await message.answer_photo(
        BufferedInputFile(png, filename="stats.png"), caption=t("admin.stats_chart")
    )
    logger.info("/stats chart sent (%d bytes)", len(png))


async def cmd_grant(
    message: Message, command: CommandObject, t: Translator, payments: PaymentService
) -> None:
    args = parse_grant(command.args)
    if args is None:
        first = (command.args or "").split()[:1]
        if first and parse_user_id(first[0]) is None:
            await message.answer(t("admin.invalid_user_id", text=html.quote(first[0][:64])))
        else:
            await message.answer(t("admin.grant_usage"))
        return
    plan = await payments.grant(args.user_id, args.tier, args.days)
    if plan.tier == FREE or plan.expires_at is None:
        await message.answer(t("admin.granted_free", user_id=args.user_id))
        return
    await message.answer(
        t(
            "admin.granted",
            user_id=args.user_id,
            tier=tier_name(t, plan.tier),
            expires=utc_datetime(plan.expires_at),
        )
    )


async def _set_banned(
    message: Message,
    command: CommandObject,
    t: Translator,
    admin_service: AdminService,
    settings: Settings,
    *,
    banned: bool,
) -> None:
    text = (command.args or "").strip()
    user_id = parse_user_id(text)
    if user_id is None:
        if text:
            await message.answer(t("admin.invalid_user_id", text=html.quote(text[:64])))
        else:
            await message.answer(t("admin.ban_usage" if banned else "admin.unban_usage"))
        return
    if banned and user_id in settings.admin_ids:
        await message.answer(t("admin.ban_admin"))
        return
    if not await admin_service.set_banned(user_id, banned):
        await message.answer(t("admin.unknown_user", user_id=user_id))
        return
    await message.answer(t("admin.banned" if banned else "admin.unbanned", user_id=user_id))


async def cmd_ban(
    message: Message,
    command: CommandObject,
    t: Translator,
    admin_service: AdminService,
    settings: Settings,
) -> None:
    await _set_banned(message, command, t, admin_service, settings, banned=True)


async def cmd_unban(
    message: Message,
    command: CommandObject,
    t: Translator,
    admin_service: AdminService,
    settings: Settings,
) -> None:
    await _set_banned(message, command, t, admin_service, settings, banned=False)


async def cmd_refund(
    message: Message, command: CommandObject, bot: Bot, t: Translator, payments: PaymentService
) -> None:
    charge_id = (command.args or "").strip()
    if not charge_id or len(charge_id) > 256 or any(c.isspace() for c in charge_id):
        await message.answer(t("admin.refund_usage"))
        return

    async def refund_star_payment(user_id: int, charge: str) -> None:
        try:
            await bot.refund_star_payment(user_id=user_id, telegram_payment_charge_id=charge)
        except TelegramBadRequest as exc:
            if "CHARGE_ALREADY_REFUNDED" in exc.message.upper():
                raise ChargeAlreadyRefunded(charge) from exc
            raise RefundRefused(reason=exc.message) from exc

    outcome = await payments.refund(charge_id, refund_star_payment)
    params = {
        "amount": outcome.payment.amount,
        "user_id": outcome.payment.user_id,
        "tier": tier_name(t, outcome.tier),
    }
    if outcome.expires_at is not None:
        text = t("admin.refunded_until", expires=utc_datetime(outcome.expires_at), **params)
    else:
        text = t("admin.refunded", **params)
    if outcome.telegram_had_refunded:
        text += "\n" + t("admin.refund_was_done")
    if outcome.renewal_stopped:
        # Decided with the refund; Telegram is told now (and again at start if need be).
        done = await payments.finish_cancels(renewal_editor(bot))
        key = "admin.refund_renewal_stopped" if done else "admin.refund_renewal_pending"
        text += "\n" + t(key)
    await message.answer(text)


_COMMAND_PREFIX = re.compile(r"^/broadcast(@\w+)?\s*", re.IGNORECASE)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


async def cmd_broadcast(
    message: Message,
    command: CommandObject,
    bot: Bot,
    t: Translator,
    broadcaster: Broadcaster,
) -> None:
    plain = (command.args or "").strip()
    if not plain:
        await message.answer(t("admin.broadcast_usage"))
        return
    if utf16_len(plain) > MAX_MESSAGE:
        await message.answer(t("admin.broadcast_too_long", length=utf16_len(plain)))
        return
    # The admin's formatting is kept: html_text is built by aiogram from the message entities.
    text = _COMMAND_PREFIX.sub("", message.html_text, count=1).strip()
    assert message.from_user is not None
    await broadcaster.start(TelegramMessenger(bot), admin_id=message.from_user.id, text=text, t=t)


def make_router() -> Router:
    """A fresh router with this module's handlers (one per dispatcher: a router belongs to
    one parent)."""
    router = Router(name=__name__)
    router.message.filter(IsAdmin())
    router.callback_query.filter(IsAdmin())
    router.message.register(cmd_stats, Command("stats"))
    router.message.register(cmd_grant, Command("grant"))
    router.message.register(cmd_ban, Command("ban"))
    router.message.register(cmd_unban, Command("unban"))
    router.message.register(cmd_refund, Command("refund"))
    router.message.register(cmd_broadcast, Command("broadcast"))
    return router
