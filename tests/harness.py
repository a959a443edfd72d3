"""In-process harness: the real dispatcher from bot.factory, a RecordingSession for the bot,
a temporary SQLite database. Handler tests feed real Update objects through it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from aiogram import Bot, Dispatcher, Router

from bot.clients import Clients
from bot.config import Settings
from bot.factory import create_bot, create_dispatcher
from storage.db import Database
from tests.conftest import TOKEN, make_settings
from tests.fakes.session import RecordingSession, to_update

BOT_ID = int(TOKEN.split(":", 1)[0])


def _no_network(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError(f"network is off in handler tests ({request.url})")


class Harness:
    def __init__(
        self, settings: Settings, db: Database, session: RecordingSession, bot: Bot, dp: Dispatcher
    ) -> None:
        self.settings = settings
        self.db = db
        self.session = session
        self.bot = bot
        self.dp = dp

    async def feed(self, update: dict[str, Any]) -> Any:
        return await self.dp.feed_update(self.bot, to_update(update, self.bot))

    async def message(self, user_id: int, text: str, **kwargs: Any) -> Any:
        return await self.feed(self.session.make_message(user_id, text, **kwargs))

    def texts(self) -> list[str]:
        return self.session.sent_texts()


@asynccontextmanager
async def harness(
    tmp_path: Path,
    *,
    routers: tuple[Router, ...] = (),
    transport: httpx.AsyncBaseTransport | None = None,
    **env: str,
) -> AsyncIterator[Harness]:
    settings = make_settings(tmp_path, **env)
    db = await Database(settings.database_path).connect()
    clients = Clients.create(settings, transport=transport or httpx.MockTransport(_no_network))
    session = RecordingSession(bot_id=BOT_ID)
    bot = create_bot(settings, session=session)
    dp = create_dispatcher(settings, db, clients)
    for router in routers:
        dp.include_router(router)
    # Test routers go first: the chat router's catch-all (last in get_routers) would
    # otherwise answer their commands.
    dp.sub_routers[:] = [*routers, *(r for r in dp.sub_routers if r not in routers)]
    try:
        yield Harness(settings, db, session, bot, dp)
    finally:
        await clients.close()
        await db.close()
