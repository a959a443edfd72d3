""":class:`bot.services.messenger.Messenger` through the Bot API."""

from __future__ import annotations

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import InlineKeyboardMarkup

from bot.services.messenger import (
    DeliveryError,
    FloodWait,
    Keyboard,
    PremiumOffer,
    RecipientGone,
    TextRefused,
    Unreachable,
)
from handlers.keyboards import premium_button


def delivery_error(exc: TelegramAPIError) -> DeliveryError:
    """The service-side kind of a Bot API error."""
    if isinstance(exc, TelegramForbiddenError):
        return RecipientGone(exc.message)
    if isinstance(exc, TelegramRetryAfter):
        return FloodWait(exc.message, exc.retry_after)
    if isinstance(exc, TelegramBadRequest):
        return TextRefused(exc.message)
    if isinstance(exc, TelegramServerError):
        return Unreachable(exc.message, server=True)
    if isinstance(exc, TelegramNetworkError):
        return Unreachable(exc.message, server=False)
    return DeliveryError(exc.message)


def markup(keyboard: Keyboard | None) -> InlineKeyboardMarkup | None:
    if isinstance(keyboard, PremiumOffer):
        return premium_button(keyboard.t)
    return None


class TelegramMessenger:
    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send(self, chat_id: int, text: str, *, keyboard: Keyboard | None = None) -> int:
        try:
            message = await self.bot.send_message(chat_id, text, reply_markup=markup(keyboard))
        except TelegramAPIError as exc:
            raise delivery_error(exc) from exc
        return message.message_id

    async def edit(self, chat_id: int, message_id: int, text: str) -> None:
        try:
            await self.bot.edit_message_text(text=text, chat_id=chat_id, message_id=message_id)
        except TelegramAPIError as exc:
            raise delivery_error(exc) from exc
