"""The front's filters, written as coroutine functions or async ``Filter`` classes.

aiogram runs a filter that is not a coroutine function - magic filters such as ``F.text``
included - in a worker thread (``asyncio.to_thread``). Each is a pure attribute lookup, but
the thread round trip costs far more, and under load the worker waits for the GIL behind the
busy event loop. A plain text message passes half a dozen filters on its way to the chat
handler, so the ones on that path are written here as async code instead.
``tests/test_aiogram_assumptions.py`` checks that aiogram still behaves so and that no
message filter of the bot goes to a thread.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from aiogram import Bot
from aiogram.enums import ChatType, MessageEntityType
from aiogram.filters import Filter
from aiogram.types import CallbackQuery, Document, Message


async def is_command(message: Message) -> bool:
    """Text or caption that starts with ``/``: everything aiogram's ``Command`` filters can
    match. A router-level filter for routers that take only commands, so plain text (most
    updates) skips them without each of their ``Command`` filters parsing it. A coroutine
    function on purpose: aiogram runs plain functions in a worker thread."""
    text = message.text or message.caption
    return text is not None and text.startswith("/")


async def plain_text(message: Message) -> bool:
    """Non-empty text that is not a command (``F.text & ~F.text.startswith("/")``)."""
    text = message.text
    return text is not None and text != "" and not text.startswith("/")


async def command_for_me(message: Message, bot: Bot) -> bool:
    """A command the bot answers even when it does not know it (the "unknown command"
    answer): any command in a private chat; in a group only one addressed to the bot by name
    (``/stats@bot``): a bare ``/x`` there may be meant for another bot, and stays unanswered."""
    text = message.text
    if text is None or not text.startswith("/"):
        return False
    if message.chat.type == ChatType.PRIVATE:
        return True
    _, at, name = text.split(maxsplit=1)[0].partition("@")
    username = (await bot.me()).username if at else None
    return username is not None and name.lower() == username.lower()


async def not_private(message: Message) -> bool:
    return message.chat.type != ChatType.PRIVATE


async def has_photo(message: Message) -> bool:
    return bool(message.photo)


async def has_document(message: Message) -> bool:
    return message.document is not None


async def has_successful_payment(message: Message) -> bool:
    return message.successful_payment is not None


class HasImageDocument(Filter):
    """A document that is an image (as ``check`` decides: by MIME type or file name)."""

    def __init__(self, check: Callable[[Document], bool]) -> None:
        self.check = check

    async def __call__(self, message: Message) -> bool:
        return message.document is not None and self.check(message.document)


class PrivateContent(Filter):
    """A message in a private chat whose content type is one of ``types``."""

    def __init__(self, types: Iterable[str]) -> None:
        self.types = frozenset(types)

    async def __call__(self, message: Message) -> bool:
        return message.chat.type == ChatType.PRIVATE and message.content_type in self.types


class CallbackIs(Filter):
    """A callback query whose data is exactly ``data``."""

    def __init__(self, data: str) -> None:
        self.data = data

    async def __call__(self, query: CallbackQuery) -> bool:
        return query.data == self.data


class Addressed(Filter):
    """Messages meant for the bot: everything in a private chat; in groups only a mention
    of the bot or a reply to one of its messages. Gives the handler ``prompt``: the text
    (or caption) without the mention."""

    async def __call__(self, message: Message, bot: Bot) -> bool | dict[str, Any]:
        text = message.text or message.caption or ""
        if message.chat.type == ChatType.PRIVATE:
            return {"prompt": text.strip()}
        if message.chat.type not in (ChatType.GROUP, ChatType.SUPERGROUP):
            return False
        me = await bot.me()
        mention = f"@{me.username}".lower() if me.username else None
        addressed = _replies_to(message, me.id)
        for entity in message.entities or message.caption_entities or []:
            if entity.type == MessageEntityType.MENTION and mention:
                addressed = addressed or entity.extract_from(text).lower() == mention
            elif entity.type == MessageEntityType.TEXT_MENTION and entity.user is not None:
                addressed = addressed or entity.user.id == me.id
        if not addressed:
            return False
        if mention:
            text = re.sub(re.escape(mention) + r"\b", "", text, flags=re.IGNORECASE)
        return {"prompt": text.strip()}


def _replies_to(message: Message, bot_id: int) -> bool:
    reply = message.reply_to_message
    if reply is None or reply.from_user is None or reply.from_user.id != bot_id:
        return False
    # In forum topics every message "replies" to the topic's first message.
    return not (message.is_topic_message and reply.message_id == message.message_thread_id)
