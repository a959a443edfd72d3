"""Session middleware: flood control (429) is waited out; a 5xx is retried only when a
repeat cannot reach the user twice.

Registered on ``bot.session.middleware``, so every Bot API call shares it.

* **429** (``retry_after``): the call was refused, nothing happened; it is retried after the
  wait Telegram names, for every method. The wait is bounded (``max_wait`` per attempt,
  ``max_attempts`` in all); past that the error goes up and the flow that called decides.
* **5xx**: Telegram may have done the work before failing (a message sent, then a 502 from
  its front). Retried only for calls whose repeat is harmless: reads (``get*``), edits
  (``edit*``, a repeat writes the same text), drafts, chat actions, answers to callback and
  pre-checkout queries, and settings (``set*``/``delete*`` of webhook, commands, ...).
  Anything that sends something new (``sendMessage``, ``sendPhoto``, ``sendInvoice``,
  ``refundStarPayment``, ``copyMessage``, ...) is not retried: the error goes up and the
  user-facing flow decides (an apology with a retry button, a refund kept pending, ...).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogram.client.session.middlewares.base import BaseRequestMiddleware
from aiogram.exceptions import TelegramRetryAfter, TelegramServerError
from aiogram.methods import GetUpdates, TelegramMethod

from bot.metrics import TELEGRAM_FLOOD_WAITS

logger = logging.getLogger(__name__)

# Method names (as the Bot API spells them) that may be repeated after a 5xx.
_REPEATABLE_PREFIXES = ("get", "edit", "set", "delete")
_REPEATABLE = frozenset(
    {
        "sendChatAction",
        "sendMessageDraft",
        "sendRichMessageDraft",
        "answerCallbackQuery",
        "answerPreCheckoutQuery",
    }
)


def repeatable_on_server_error(api_method: str) -> bool:
    """Whether a call of ``api_method`` may be sent again after a 5xx."""
    return api_method in _REPEATABLE or api_method.startswith(_REPEATABLE_PREFIXES)


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
        name = method.__api_method__
        attempt = 1
        while True:
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                TELEGRAM_FLOOD_WAITS.labels(name).inc()
                if attempt >= self.max_attempts or exc.retry_after > self.max_wait:
                    raise
                logger.warning(
                    "flood control on %s: retrying in %s s (attempt %d)",
                    name,
                    exc.retry_after,
                    attempt,
                )
                await asyncio.sleep(exc.retry_after)
            except TelegramServerError:
                if not repeatable_on_server_error(name) or attempt >= min(self.max_attempts, 3):
                    raise
                logger.warning("Telegram server error on %s, retrying", name)
                await asyncio.sleep(self.server_error_delay * attempt)
            attempt += 1
