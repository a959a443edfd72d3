"""The floor: a bare aiogram bot that echoes text, nothing else.

``python -m bench.echo_bot`` with ``BOT_TOKEN`` and ``TELEGRAM_API_URL`` in the environment.
aiogram as it comes: its aiohttp session, its polling loop, the standard event loop; only the
per-update ``aiogram.event`` log lines are silenced (as in ``bot.logs``). The difference to the
real bot is what the real bot does per update (database, quotas, memory, upstream calls) and
how it does it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message

dp = Dispatcher()


@dp.message(F.text)
async def echo(message: Message) -> None:
    await message.answer(message.text or "")


async def amain() -> None:
    session = AiohttpSession(api=TelegramAPIServer.from_base(os.environ["TELEGRAM_API_URL"]))
    bot = Bot(os.environ["BOT_TOKEN"], session=session)
    await dp.start_polling(bot, allowed_updates=dp.resolve_used_update_types())


def main() -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)
    asyncio.run(amain())
    return 0


if __name__ == "__main__":
    sys.exit(main())
