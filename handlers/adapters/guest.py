""":class:`bot.services.guest.GuestFront` in Telegram: one ``answerGuestQuery`` with an
``InlineQueryResultArticle`` holding the answer as Telegram HTML.

The article's message is cut to one message (Telegram counts 4096 characters after entity
parsing; :data:`~bot.services.markdown.MESSAGE_LIMIT` keeps a margin) with a note and a link
to the private chat when the answer is longer. HTML that Telegram refuses anyway is sent
once more as plain text, as the streaming writers do.
"""

from __future__ import annotations

import html
import re
import secrets

from aiogram import Bot
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import InlineKeyboardMarkup, InlineQueryResultArticle, InputTextMessageContent

from bot.services.markdown import MESSAGE_LIMIT, to_parts, utf16_len
from bot.texts import Translator
from handlers.adapters.streaming import is_parse_error
from handlers.keyboards import private_chat_keyboard

TITLE_LIMIT = 64  # what a chat shows of an article's title; longer ones are cut there anyway


def plain(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def title_of(text: str) -> str:
    first = plain(text).strip().split("\n", 1)[0].strip()
    return (first[: TITLE_LIMIT - 1] + "…") if len(first) > TITLE_LIMIT else first or "…"


async def answer_guest_query(
    bot: Bot,
    query_id: str,
    text: str,
    *,
    title: str,
    fallback: str | None = None,
    reply_markup: InlineKeyboardMarkup | None = None,
) -> None:
    """Answer ``query_id`` with ``text`` (Telegram HTML); ``fallback``: the plain text sent
    if Telegram cannot parse the HTML."""

    def article(body: str, parse_mode: str | None) -> InlineQueryResultArticle:
        return InlineQueryResultArticle(
            id=secrets.token_hex(8),
            title=title,
            input_message_content=InputTextMessageContent(message_text=body, parse_mode=parse_mode),
            reply_markup=reply_markup,
        )

    try:
        await bot.answer_guest_query(guest_query_id=query_id, result=article(text, ParseMode.HTML))
    except TelegramBadRequest as exc:
        if not is_parse_error(exc):
            raise
        await bot.answer_guest_query(
            guest_query_id=query_id, result=article(fallback or plain(text), None)
        )


class TelegramGuestFront:
    def __init__(self, bot: Bot, t: Translator, query_id: str, bot_username: str | None) -> None:
        self.bot = bot
        self.t = t
        self.query_id = query_id
        self.bot_username = bot_username

    def _markup(self) -> InlineKeyboardMarkup | None:
        return private_chat_keyboard(self.t, self.bot_username) if self.bot_username else None

    async def answer(self, markdown: str) -> None:
        cut = self.t("guest.cut")
        parts = to_parts(markdown)
        if not parts:
            await self.notice(self.t("guest.failed"))
            return
        head = parts[0]
        body, source = head.html, head.source
        if len(parts) > 1:
            # Cut again with room for the note: the article is the one message there is.
            head = to_parts(markdown, MESSAGE_LIMIT - utf16_len(cut) - 2)[0]
            body = f"{head.html}\n\n{cut}"
            source = f"{head.source}\n\n{plain(cut)}"
        await answer_guest_query(
            self.bot,
            self.query_id,
            body,
            title=self.t("guest.title"),
            fallback=source,
            reply_markup=self._markup(),
        )

    async def notice(self, text: str) -> None:
        await answer_guest_query(
            self.bot, self.query_id, text, title=title_of(text), reply_markup=self._markup()
        )
