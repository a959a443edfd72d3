"""/persona (who answers in this conversation) and /history (the conversations, one exported
as a Markdown file). A conversation is the chat, or the topic of a chat with topics."""

from __future__ import annotations

from datetime import UTC, datetime

from aiogram import Bot, Router
from aiogram.enums import ChatType
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, CallbackQuery, Message

from bot.services.chat import ChatService
from bot.services.conversation import Key
from bot.services.export import export_markdown, export_name
from bot.texts import Translator
from handlers.keyboards import (
    HistoryCallback,
    PersonaCallback,
    history_keyboard,
    persona_keyboard,
)
from handlers.replies import replace_screen

HISTORY_ROWS = 20


def conversation_key(message: Message, user_id: int) -> Key:
    """The conversation ``message`` belongs to: the user's (private) or the group's, and
    its topic."""
    scope = user_id if message.chat.type == ChatType.PRIVATE else message.chat.id
    thread = message.message_thread_id if message.is_topic_message else None
    return Key(scope, thread or 0)


async def cmd_persona(message: Message, t: Translator, chat_service: ChatService) -> None:
    assert message.from_user is not None
    key = conversation_key(message, message.from_user.id)
    row = await chat_service.conversation.get(key)
    current = chat_service.persona(row.persona if row else None)
    await message.answer(
        t("persona.title", current=current.title(t.lang)),
        reply_markup=persona_keyboard(chat_service.personas, current, t.lang),
    )


async def on_persona(
    query: CallbackQuery, callback_data: PersonaCallback, t: Translator, chat_service: ChatService
) -> None:
    persona = next((p for p in chat_service.personas if p.key == callback_data.key), None)
    if persona is None:
        await query.answer(t("persona.gone"), show_alert=True)
        return
    if not isinstance(query.message, Message):
        await query.answer(t("persona.gone"), show_alert=True)
        return
    key = conversation_key(query.message, query.from_user.id)
    await chat_service.conversation.update(key, persona=persona.key)
    await query.answer()
    await replace_screen(query, t("persona.chosen", persona=persona.title(t.lang)))


def _name(t: Translator, title: str | None, thread: int) -> str:
    if title:
        return title
    return t("history.main") if thread == 0 else f"#{thread}"


async def cmd_history(message: Message, t: Translator, chat_service: ChatService) -> None:
    assert message.from_user is not None
    scope = conversation_key(message, message.from_user.id).scope
    rows = [r for r in await chat_service.conversation.listing(scope, HISTORY_ROWS) if r.messages]
    if not rows:
        await message.answer(t("history.empty"))
        return
    lines = [t("history.title")]
    for number, row in enumerate(rows, 1):
        when = datetime.fromtimestamp(row.last_used_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
        name = _name(t, row.title, row.thread)
        lines.append(
            t(
                "history.row",
                number=number,
                name=name,
                when=when,
                messages=t.plural("plural.messages", row.messages),
            )
        )
    await message.answer(
        "\n".join(lines), reply_markup=history_keyboard(t, [r.thread for r in rows])
    )


async def on_export(
    query: CallbackQuery,
    callback_data: HistoryCallback,
    bot: Bot,
    t: Translator,
    chat_service: ChatService,
) -> None:
    if not isinstance(query.message, Message):
        await query.answer(t("history.gone"), show_alert=True)
        return
    # The scope comes from who pressed and where: nobody exports another's conversation.
    scope = conversation_key(query.message, query.from_user.id).scope
    key = Key(scope, callback_data.thread)
    row = await chat_service.conversation.get(key)
    turns = await chat_service.conversation.transcript(key)
    if row is None or not turns:
        await query.answer(t("history.gone"), show_alert=True)
        return
    await query.answer()
    name = _name(t, row.title, row.thread)
    data = export_markdown(name, turns).encode("utf-8")
    thread = query.message.message_thread_id if query.message.is_topic_message else None
    await bot.send_document(
        query.message.chat.id,
        BufferedInputFile(data, filename=export_name(name)),
        caption=t("history.caption", name=name, messages=t.plural("plural.messages", len(turns))),
        message_thread_id=thread,
    )


def make_router() -> Router:
    """A fresh router with this module's handlers."""
    router = Router(name=__name__)
    router.message.register(cmd_persona, Command("persona"))
    router.message.register(cmd_history, Command("history"))
    router.callback_query.register(on_persona, PersonaCallback.filter())
    router.callback_query.register(on_export, HistoryCallback.filter())
    return router
