"""/model: pick the chat model from a paged inline keyboard. The choice belongs to the
conversation it is made in (a topic remembers its own); outside topics it is also the user's
default for new conversations."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.services.chat import ChatService
from bot.services.models import ModelCatalog
from bot.texts import Translator
from handlers.conversations import conversation_key
from handlers.keyboards import ModelCallback, model_keyboard
from handlers.replies import replace_screen
from storage.users import UserRow


async def render_picker(
    t: Translator,
    catalog: ModelCatalog,
    user: UserRow,
    page: int = 0,
    chosen: str | None = None,
) -> tuple[str, InlineKeyboardMarkup]:
    current = catalog.for_user(chosen or user.chat_model)
    keyboard = model_keyboard(t, await catalog.models(), current, page)
    return t("model.title", current=current.name), keyboard


async def conversation_model(
    message: Message, user: UserRow, chat_service: ChatService
) -> str | None:
    row = await chat_service.conversation.get(conversation_key(message, user.id))
    return row.model if row is not None else None


async def cmd_model(
    message: Message,
    t: Translator,
    user: UserRow,
    model_catalog: ModelCatalog,
    chat_service: ChatService,
) -> None:
    chosen = await conversation_model(message, user, chat_service)
    text, keyboard = await render_picker(t, model_catalog, user, chosen=chosen)
    await message.answer(text, reply_markup=keyboard)


async def on_page(
    query: CallbackQuery,
    callback_data: ModelCallback,
    t: Translator,
    user: UserRow,
    model_catalog: ModelCatalog,
    chat_service: ChatService,
) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        chosen = await conversation_model(query.message, user, chat_service)
        text, keyboard = await render_picker(
            t, model_catalog, user, callback_data.page, chosen=chosen
        )
        await replace_screen(query, text, keyboard)


async def on_set(
    query: CallbackQuery,
    callback_data: ModelCallback,
    t: Translator,
    user: UserRow,
    model_catalog: ModelCatalog,
    chat_service: ChatService,
) -> None:
    model = await model_catalog.find(callback_data.key)
    if model is None:
        await query.answer(t("model.gone"), show_alert=True)
        if isinstance(query.message, Message):
            text, keyboard = await render_picker(t, model_catalog, user)
            await replace_screen(query, text, keyboard)
        return
    if isinstance(query.message, Message):
        key = conversation_key(query.message, user.id)
        await chat_service.conversation.update(key, model=model.name)
        if key.thread == 0:
            await model_catalog.choose(user.id, model)
    else:
        await model_catalog.choose(user.id, model)
    if not isinstance(query.message, Message):  # too old to edit: say it in the alert
        await query.answer(f"✅ {model.name}", show_alert=True)
        return
    await query.answer()
    await replace_screen(query, t("model.chosen", model=model.name, provider=model.label))


def make_router() -> Router:
    """A fresh router with this module's handlers (one per dispatcher: a router belongs to
    one parent)."""
    router = Router(name=__name__)
    router.message.register(cmd_model, Command("model"))
    router.callback_query.register(on_page, ModelCallback.filter(F.action == "page"))
    router.callback_query.register(on_set, ModelCallback.filter(F.action == "set"))
    return router
