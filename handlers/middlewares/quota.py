"""Spend a quota unit for handlers flagged ``flags={"quota": "image"}``.

An inner middleware (flags are known only once a handler matched). The handler receives the
spent :class:`~bot.services.quota.Ticket` as ``quota``; if the handler raises, the unit is
given back before the error goes on to the error router. A handler that delivered nothing
without raising calls ``await quota.refund()`` itself. The unit is held (see
:class:`~bot.services.quota.Ticket`) until the handler returns, so a unit spent by a process
that dies mid-answer is given back at the next start.

``admit(user_id, kind)``, when given, runs first and may refuse the update by raising a
domain error: a request that would be refused anyway (the chat queue is full) spends and
gives back nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.flags import get_flag
from aiogram.types import Message, TelegramObject

from bot.services.quota import QuotaService


class QuotaMiddleware(BaseMiddleware):
    def __init__(
        self, quota: QuotaService, admit: Callable[[int, str], None] | None = None
    ) -> None:
        self.quota = quota
        self.admit = admit

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        kind = get_flag(data, "quota")
        user = data.get("user")
        if kind is None or user is None:
            return await handler(event, data)
        if self.admit is not None:
            self.admit(user.id, kind)
        chat = data.get("event_chat")
        if chat is None or (isinstance(event, Message) and event.guest_query_id):
            # A guest question comes from a chat the bot is not in: news of an interrupted
            # answer (see Ticket) goes to the user's private chat instead.
            chat = user
        ticket = await self.quota.spend(user.id, kind, hold=True, chat_id=chat.id)
        data["quota"] = ticket
        try:
            result = await handler(event, data)
        except BaseException:
            await ticket.refund()
            raise
        await ticket.settle()
        return result
