"""Guest mode: the bot mentioned in a chat it is not a member of (a ``guest_message``
update). The question is the message without the mention; when it replies to another
message, that message is quoted to the model (alone, it is the question). Answered once
through ``answerGuestQuery`` by :class:`bot.services.guest.GuestAnswers`."""

from __future__ import annotations

import re

from aiogram import Bot, Router
from aiogram.types import Message

from bot.services.guest import GuestAnswers
from bot.services.quota import Ticket
from bot.texts import Translator
from handlers.adapters.guest import TelegramGuestFront
from storage.users import UserRow

QUOTE_LIMIT = 4000  # a quoted message is one Telegram message at most anyway


def guest_question(message: Message, bot_username: str | None) -> str:
    text = message.text or message.caption or ""
    if bot_username:
        text = re.sub(rf"@{re.escape(bot_username)}\b", "", text, flags=re.IGNORECASE)
    question = text.strip()
    reply = message.reply_to_message
    quoted = ((reply.text or reply.caption or "") if reply is not None else "").strip()
    if not quoted:
        return question
    quoted = quoted[:QUOTE_LIMIT]
    if not question:
        return quoted
    return f'About this message:\n"""\n{quoted}\n"""\n\n{question}'


async def on_guest_message(
    message: Message,
    bot: Bot,
    t: Translator,
    user: UserRow,
    quota: Ticket,
    guest_answers: GuestAnswers,
) -> None:
    me = await bot.me()
    front = TelegramGuestFront(bot, t, message.guest_query_id or "", me.username)
    await guest_answers.answer(
        front,
        t,
        user_id=user.id,
        question=guest_question(message, me.username),
        quota=quota,
        stored_model=user.chat_model,
    )


def make_router() -> Router:
    """A fresh router with this module's handlers (one per dispatcher: a router belongs to
    one parent)."""
    router = Router(name=__name__)
    router.guest_message.register(on_guest_message, flags={"quota": "chat"})
    return router
