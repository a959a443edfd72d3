"""Shared aiogram filters."""

from __future__ import annotations

import re
from typing import Any

from aiogram import Bot
from aiogram.enums import ChatType, MessageEntityType
from aiogram.filters import Filter
from aiogram.types import Message


async def is_command(message: Message) -> bool:
    """Text or caption that starts with ``/``: everything aiogram's ``Command`` filters can
    match. A router-level filter for routers that take only commands, so plain text (most
    updates) skips them without each of their ``Command`` filters parsing it. A coroutine
    function on purpose: aiogram runs plain functions in a worker thread."""
    text = message.text or message.caption
    return text is not None and text.startswith("/")


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
