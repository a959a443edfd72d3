"""editUserStarSubscription as the plain call the payment service takes."""

from __future__ import annotations

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest

from bot.services.payments import EditCall, SubscriptionEditRefused


def renewal_editor(bot: Bot) -> EditCall:
    """``call(user_id, charge_id, is_canceled)``. A Bad Request is Telegram's final answer
    (SubscriptionEditRefused); network trouble and the like propagate as they are."""

    async def call(user_id: int, charge_id: str, is_canceled: bool) -> bool:
        try:
            return await bot.edit_user_star_subscription(
                user_id=user_id, telegram_payment_charge_id=charge_id, is_canceled=is_canceled
            )
        except TelegramBadRequest as exc:
            raise SubscriptionEditRefused(exc.message) from exc

    return call
