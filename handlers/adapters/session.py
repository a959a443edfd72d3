"""The Bot API session: aiogram's stock aiohttp session, reading ``getUpdates`` one update
at a time.

aiogram validates a ``getUpdates`` answer as one batch: a single update it cannot read (a
field a newer Bot API added in a shape this aiogram does not know) fails the whole batch,
polling retries the same offset, gets the same batch - and the bot stops receiving anything.
:meth:`TolerantAiohttpSession.check_response` (aiogram's public hook for turning an answer
into a result) reads the updates one by one instead: an unreadable one is logged and replaced
by an empty update with its id (handled as an unknown type), so the offset moves past it.
Every other answer is checked by aiogram as usual.

Behind a proxy (``Settings.telegram_proxy``), aiogram connects through aiohttp-socks, whose
errors are not aiohttp's: :class:`ProxyFailures` turns them into ``TelegramNetworkError``,
the failure every caller already handles, and :data:`PROXY_ERRORS` names them for the file
downloads, which bypass request middlewares.
"""

from __future__ import annotations

import logging
from typing import Any, cast

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import GetUpdates, Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import Update
from aiohttp_socks import ProxyConnectionError, ProxyError, ProxyTimeoutError
from pydantic import ValidationError

from bot.metrics import UNREADABLE_UPDATES

logger = logging.getLogger(__name__)

# The proxy can't be reached, refuses the tunnel (407, 403…) or is too slow.
PROXY_ERRORS = (ProxyConnectionError, ProxyError, ProxyTimeoutError)


class ProxyFailures(BaseRequestMiddleware):
    """A proxy's failure as ``TelegramNetworkError`` (aiogram translates aiohttp's errors
    only). Registered last, so that it sits next to the request."""

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        try:
            return await make_request(bot, method)
        except PROXY_ERRORS as exc:
            raise TelegramNetworkError(method=method, message=f"proxy: {exc}") from None


class TolerantAiohttpSession(AiohttpSession):
    def check_response(
        self, bot: Bot, method: TelegramMethod[TelegramType], status_code: int, content: str
    ) -> Response[TelegramType]:
        if isinstance(method, GetUpdates) and status_code == 200:
            updates = self.read_updates(bot, content)
            if updates is not None:
                answer = Response[list[Update]](ok=True, result=updates)
                return cast(Response[TelegramType], answer)
        return super().check_response(bot, method, status_code, content)

    def read_updates(self, bot: Bot, raw: str) -> list[Update] | None:
        """The updates of a ``getUpdates`` answer, one by one. ``None``: not a successful
        answer; aiogram's own checks report it."""
        try:
            data: Any = self.json_loads(raw)
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("ok") is not True:
            return None
        items = data.get("result")
        if not isinstance(items, list):
            return None
        updates: list[Update] = []
        for item in items:
            update = read_update(bot, item)
            if update is not None:
                updates.append(update)
            elif isinstance(item, dict) and isinstance(item.get("update_id"), int):
                updates.append(Update.model_validate({"update_id": item["update_id"]}))
        return updates


def read_update(bot: Bot, item: Any) -> Update | None:
    """``item`` (one update as Telegram sent it) as an Update; None, told in one WARNING line,
    when this aiogram cannot read it (an ERROR line naming the charge when it carried a
    payment: nothing was credited, and Telegram will not send it again)."""
    try:
        return Update.model_validate(item, context={"bot": bot})
    except ValidationError as exc:
        update_id = item.get("update_id") if isinstance(item, dict) else None
        logger.warning(
            "update %s could not be read and is skipped: %d problem(s), first: %s",
            update_id,
            exc.error_count(),
            exc.errors()[0]["loc"] if exc.errors() else "?",
        )
        paid = _payment_in(item)
        UNREADABLE_UPDATES.labels(payment="yes" if paid is not None else "no").inc()
        if paid is not None:
            logger.error(
                "update %s carried a payment that could not be read, so nothing was credited: "
                "charge %s, %s %s, from user %s; check it and credit it with /grant",
                update_id,
                paid.get("telegram_payment_charge_id"),
                paid.get("total_amount"),
                paid.get("currency"),
                paid.get("user_id"),
            )
        return None


def _payment_in(item: Any) -> dict[str, Any] | None:
    """What an unreadable update says of a successful payment, as far as it can be read."""
    message = item.get("message") if isinstance(item, dict) else None
    paid = message.get("successful_payment") if isinstance(message, dict) else None
    if not isinstance(paid, dict):
        return None
    sender = message.get("from") if isinstance(message, dict) else None
    return {**paid, "user_id": sender.get("id") if isinstance(sender, dict) else None}
