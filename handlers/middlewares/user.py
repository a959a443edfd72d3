"""The one outer ``update`` middleware: load the sender, choose the language, track work.

Registered on ``dp.update`` so messages, callbacks, payments, pre-checkout queries and
chat-member updates all see ``user`` (a ``UserRow`` or None), ``lang`` and ``t``.
Bots are not stored. Every update's task is tracked so shutdown can wait for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

from aiogram import BaseMiddleware
from aiogram.exceptions import TelegramAPIError
from aiogram.types import TelegramObject, Update, User

from bot.logs import log_request_id, log_user_id
from bot.metrics import UPDATES
from bot.services.users import UserService
from bot.texts import Translator


class InFlight:
    """Tasks handling updates right now; shutdown waits for them (bounded)."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()

    def add_current(self) -> asyncio.Task[Any] | None:
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)
        return task

    async def wait(self, seconds: float) -> int:
        """Wait for the tracked tasks; returns how many were still running at the deadline."""
        me = asyncio.current_task()
        pending = {task for task in self.tasks if task is not me and not task.done()}
        if not pending:
            return 0
        _, still = await asyncio.wait(pending, timeout=seconds)
        return len(still)


# Update types as Telegram names them: a closed set, so a bounded metric label.
_UPDATE_TYPES = tuple(name for name in Update.model_fields if name != "update_id")


def _update_label(event: TelegramObject) -> str | None:
    """``update-<id>`` for the log lines of this update; counts it by type on the way."""
    if not isinstance(event, Update):
        return None
    kind = next((name for name in _UPDATE_TYPES if getattr(event, name, None) is not None), None)
    UPDATES.labels(kind or "other").inc()
    return f"update-{event.update_id}"


class UserMiddleware(BaseMiddleware):
    def __init__(self, users: UserService, inflight: InFlight | None = None) -> None:
        self.users = users
        self.inflight = inflight

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        task = self.inflight.add_current() if self.inflight is not None else None
        sender: User | None = data.get("event_from_user")
        # Every log line written for this update names it and its sender (JSON lines).
        update_token = log_request_id.set(_update_label(event))
        user_token = log_user_id.set(sender.id if sender is not None else None)
        try:
            data["t"] = Translator.for_code(sender.language_code if sender else None)
            data["lang"] = data["t"].lang
            data["user"] = None
            if sender is not None and sender.is_bot:
                if not await self._bot_update_goes_on(event, data):
                    return None
            elif sender is not None:
                data["user"] = await self.users.touch(
                    sender.id,
                    username=sender.username,
                    first_name=sender.first_name,
                    last_name=sender.last_name,
                    language_code=sender.language_code,
                )
            return await handler(event, data)
        finally:
            log_user_id.reset(user_token)
            log_request_id.reset(update_token)
            if task is not None and self.inflight is not None:
                self.inflight.tasks.discard(task)

    @staticmethod
    async def _bot_update_goes_on(event: TelegramObject, data: dict[str, Any]) -> bool:
        """Bots are not users of this bot: messages and callbacks from them are not handled.
        In groups Telegram presents anonymous admins as a bot; a command from one gets a short
        hint rather than silence. Other updates (a chat-member change made by another bot,
        say) still reach their handlers, with ``user`` None."""
        if not isinstance(event, Update):
            return True
        message = event.message or event.edited_message
        if message is None and event.callback_query is None:
            return True
        if (
            message is not None
            and message.sender_chat is not None
            and (message.text or "").startswith("/")
        ):
            with suppress(TelegramAPIError):
                await message.reply(data["t"]("anonymous_admin"))
        return False
