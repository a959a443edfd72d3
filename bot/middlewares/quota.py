"""Spend a quota unit for handlers flagged ``flags={"quota": "image"}``.

An inner middleware (flags are known only once a handler matched). The handler receives the
spent :class:`~bot.services.quota.Ticket` as ``quota``; if the handler raises, the unit is
given back before the error goes on to the error router. A handler that delivered nothing
without raising calls ``await quota.refund()`` itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.flags import get_flag
from aiogram.types import TelegramObject

from bot.services.quota import QuotaService


class QuotaMiddleware(BaseMiddleware):
    def __init__(self, quota: QuotaService) -> None:
        self.quota = quota

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
        ticket = await self.quota.spend(user.id, kind)
        data["quota"] = ticket
        try:
            return await handler(event, data)
        except BaseException:
            await ticket.refund()
            raise
