"""Answering a button press with a screen: the helpers every callback handler shares."""

from __future__ import annotations

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message


async def replace_screen(
    query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None
) -> bool:
    """Show ``text`` in place of the message the button was on. A double tap ("message is
    not modified") counts as shown. False when the message can't be edited (too old to be
    accessible, deleted, ...)."""
    if not isinstance(query.message, Message):
        return False
    try:
        await query.message.edit_text(text, reply_markup=markup)
    except TelegramBadRequest as exc:
        return "message is not modified" in exc.message
    return True


async def send_to_chat(
    query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None
) -> None:
    """A new message in the chat the button was in (the user's private chat if unknown)."""
    chat_id = query.message.chat.id if query.message is not None else query.from_user.id
    await _bot(query).send_message(chat_id, text, reply_markup=markup)


async def show_screen(
    query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None
) -> None:
    """:func:`replace_screen`, else :func:`send_to_chat`."""
    if not await replace_screen(query, text, markup):
        await send_to_chat(query, text, markup)


def _bot(query: CallbackQuery) -> Bot:
    """The bot the update came through (aiogram binds it to every object it parses)."""
    if query.bot is None:
        raise RuntimeError("a callback query without its bot")
    return query.bot
