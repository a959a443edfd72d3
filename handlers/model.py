"""/model: pick the chat model from a paged inline keyboard (stored per user)."""

from __future__ import annotations

from contextlib import suppress

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.services.models import ChatModel, ModelCatalog
from bot.texts import Translator
from storage.users import UserRow

PAGE_SIZE = 8
_BUTTON_NAME = 48


class ModelCallback(CallbackData, prefix="mdl"):
    action: str  # "page" | "set"
    page: int = 0
    key: str = ""


def model_keyboard(
    t: Translator, models: list[ChatModel], current: ChatModel, page: int
) -> InlineKeyboardMarkup:
    pages = max(1, -(-len(models) // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    builder = InlineKeyboardBuilder()
    shown = models[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    for model in shown:
        name = (
            model.name if len(model.name) <= _BUTTON_NAME else model.name[: _BUTTON_NAME - 1] + "…"
        )
        mark = "✅ " if model.name == current.name else ""
        builder.button(
            text=f"{mark}{name} · {model.label}",
            callback_data=ModelCallback(action="set", page=page, key=model.key),
        )
    sizes = [1] * len(shown)
    nav = 0
    if page > 0:
        builder.button(
            text=t("model.prev"), callback_data=ModelCallback(action="page", page=page - 1)
        )
        nav += 1
    if page < pages - 1:
        builder.button(
            text=t("model.next"), callback_data=ModelCallback(action="page", page=page + 1)
        )
        nav += 1
    builder.adjust(*sizes, nav or 1)
    return builder.as_markup()


async def render_picker(
    t: Translator, catalog: ModelCatalog, user: UserRow, page: int = 0
) -> tuple[str, InlineKeyboardMarkup]:
    current = catalog.for_user(user.chat_model)
    keyboard = model_keyboard(t, await catalog.models(), current, page)
    return t("model.title", current=current.name), keyboard


async def cmd_model(
    message: Message, t: Translator, user: UserRow, model_catalog: ModelCatalog
) -> None:
    text, keyboard = await render_picker(t, model_catalog, user)
    await message.answer(text, reply_markup=keyboard)


async def on_page(
    query: CallbackQuery,
    callback_data: ModelCallback,
    t: Translator,
    user: UserRow,
    model_catalog: ModelCatalog,
) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        text, keyboard = await render_picker(t, model_catalog, user, callback_data.page)
        with suppress(TelegramBadRequest):  # "message is not modified" on a double tap
            await query.message.edit_text(text, reply_markup=keyboard)


async def on_set(
    query: CallbackQuery,
    callback_data: ModelCallback,
    t: Translator,
    user: UserRow,
    model_catalog: ModelCatalog,
) -> None:
    model = await model_catalog.find(callback_data.key)
    if model is None:
        await query.answer(t("model.gone"), show_alert=True)
        if isinstance(query.message, Message):
            text, keyboard = await render_picker(t, model_catalog, user)
            with suppress(TelegramBadRequest):
                await query.message.edit_text(text, reply_markup=keyboard)
        return
    await model_catalog.choose(user.id, model)
    if not isinstance(query.message, Message):  # too old to edit: say it in the alert
        await query.answer(f"✅ {model.name}", show_alert=True)
        return
    await query.answer()
    with suppress(TelegramBadRequest):
        await query.message.edit_text(t("model.chosen", model=model.name, provider=model.label))


def make_router() -> Router:
    """A fresh router with this module's handlers (one per dispatcher: a router belongs to
    one parent)."""
    router = Router(name=__name__)
    router.message.register(cmd_model, Command("model"))
    router.callback_query.register(on_page, ModelCallback.filter(F.action == "page"))
    router.callback_query.register(on_set, ModelCallback.filter(F.action == "set"))
    return router
