"""The webhook endpoint: Telegram's deliveries, answered 200 once they are safe to confirm.

A small aiohttp handler on aiogram's public API (``Dispatcher.feed_update``), instead of
aiogram's ``SimpleRequestHandler``, because two things must happen *before* the 200 and
that handler offers no public place for them:

* a successful payment (or a subscription's new state) is recorded durably
  (:meth:`PaymentJournal.note`); if it cannot be,
  the answer is a 500 and Telegram delivers the update again later;
* a slot among ``max_in_flight`` updates being handled at once (``MAX_CONCURRENT_UPDATES``,
  as in polling) is taken. Updates are handled after the 200; past the limit the 200 waits
  for a free slot, so Telegram (at most ``max_connections`` deliveries open, set with the
  webhook) stops sending and the rest wait at Telegram, as they do with polling.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.methods import TelegramMethod
from aiogram.types import Update
from aiohttp import web

from handlers.adapters.payment_journal import PaymentJournal
from handlers.adapters.session import read_update

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class WebhookHandler:
    def __init__(
        self,
        *,
        dispatcher: Dispatcher,
        bot: Bot,
        secret_token: str,
        journal: PaymentJournal,
        max_in_flight: int | None = None,
        **data: Any,
    ) -> None:
        self.dispatcher = dispatcher
        self.bot = bot
        self.secret = secret_token.encode()
        self.journal = journal
        self.data = data
        self.slots = asyncio.Semaphore(max_in_flight) if max_in_flight else None
        self.tasks: set[asyncio.Task[None]] = set()  # strong references until they finish

    def register(self, app: web.Application, path: str) -> None:
        app.router.add_post(path, self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self.secret):
            return web.Response(text="Unauthorized", status=401)
        try:
            raw: Any = await request.json(loads=self.bot.session.json_loads)
        except ValueError:
            return web.Response(text="not a JSON update", status=400)
        if not isinstance(raw, dict):
            return web.Response(text="not a JSON update", status=400)
        update = read_update(self.bot, raw)
        if update is None:  # confirmed and skipped, as polling does: else it comes back forever
            return web.json_response({})
        try:
            await self.journal.note(update)  # does nothing unless it is a payment
        except Exception:  # logged by the journal
            return web.Response(text="payment not recorded, retry", status=500)
        if self.slots is not None:
            await self.slots.acquire()
        task = asyncio.create_task(self._feed(update))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return web.json_response({})

    async def _feed(self, update: Update) -> None:
        try:
            result = await self.dispatcher.feed_update(self.bot, update, **self.data)
            if isinstance(result, TelegramMethod):
                await self.dispatcher.silent_call_request(self.bot, result)
        except Exception:  # the dispatcher's error router has had its say already
            logger.exception("webhook update could not be handled")
        finally:
            if self.slots is not None:
                self.slots.release()
