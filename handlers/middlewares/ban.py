"""Banned users get one clear "blocked" answer to everything, and no handler runs for them.

An outer ``update`` middleware registered right after the user middleware (it reads
``user``). Exceptions: admins are never blocked; a successful payment still goes through (the
money has moved: it must be recorded, and the admin can refund it); chat-member updates go
through silently (they keep keys and ``blocked_bot`` right). In groups a banned user is only
answered when they address the bot with a command, so a group is not flooded.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.types import TelegramObject, Update

from bot.texts import Translator
from handlers.adapters.guest import answer_guest_query, title_of
from storage.users import UserRow

logger = logging.getLogger(__name__)


def _plain(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", text))


class BanMiddleware(BaseMiddleware):
    def __init__(self, admin_ids: frozenset[int]) -> None:
        self.admin_ids = admin_ids

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: UserRow | None = data.get("user")
        if user is None or not user.is_banned or user.id in self.admin_ids:
            return await handler(event, data)
        if not isinstance(event, Update):
            return None
        message = event.message
        if message is not None and message.successful_payment is not None:
            return await handler(event, data)
        if event.my_chat_member is not None or event.chat_member is not None:
            return await handler(event, data)
        t: Translator = data["t"]
        bot: Bot = data["bot"]
        text = t("error.banned")
        try:
            if event.callback_query is not None:
                await bot.answer_callback_query(
                    event.callback_query.id, text=_plain(text), show_alert=True
                )
            elif event.pre_checkout_query is not None:
                await bot.answer_pre_checkout_query(
                    event.pre_checkout_query.id, ok=False, error_message=_plain(text)
                )
            elif event.guest_message is not None and event.guest_message.guest_query_id:
                await answer_guest_query(
                    bot, event.guest_message.guest_query_id, text, title=title_of(text)
                )
            elif message is not None and (
                message.chat.type == ChatType.PRIVATE or (message.text or "").startswith("/")
            ):
                await bot.send_message(message.chat.id, text)
        except TelegramAPIError as exc:
            logger.info("could not tell banned user %d: %s", user.id, exc)
        return None
