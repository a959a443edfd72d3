"""Session middleware: a send refused with 429 is retried after ``retry_after``.

Registered on ``bot.session.middleware``, so every Bot API call shares it. The wait is
bounded (``max_wait`` per attempt, ``max_attempts`` in all); past that the error goes up and
the error router decides what the user hears.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogram.client.session.middlewares.base import BaseRequestMiddleware
from aiogram.exceptions import TelegramRetryAfter, TelegramServerError
from aiogram.methods import GetUpdates, TelegramMethod

logger = logging.getLogger(__name__)


class RetryAfterMiddleware(BaseRequestMiddleware):
    def __init__(
        self, max_attempts: int = 5, max_wait: float = 60.0, server_error_delay: float = 1.0
    ) -> None:
        self.max_attempts = max_attempts
        self.max_wait = max_wait
        self.server_error_delay = server_error_delay

    async def __call__(self, make_request: Any, bot: Any, method: TelegramMethod[Any]) -> Any:
        if isinstance(method, GetUpdates):
            return await make_request(bot, method)
        attempt = 1
        while True:
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                if attempt >= self.max_attempts or exc.retry_after > self.max_wait:
                    raise
                logger.warning(
                    "flood control on %s: retrying in %s s (attempt %d)",
                    method.__api_method__,
                    exc.retry_after,
                    attempt,
                )
                await asyncio.sleep(exc.retry_after)
            except TelegramServerError:
                if attempt >= min(self.max_attempts, 3):
                    raise
                logger.warning("Telegram server error on %s, retrying", method.__api_method__)
                await asyncio.sleep(self.server_error_delay * attempt)
            attempt += 1
