"""/start, /help and the main menu."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandStart
from aiogram.types import CallbackQuery, Message

from bot.commands import admin_commands, user_commands
from bot.config import Settings
from bot.texts import Translator
from handlers.filters import CallbackIs
from handlers.keyboards import main_menu


def help_text(t: Translator, is_admin: bool) -> str:
    lines = [t("help.title")]
    lines += [f"/{c.name} — {t(c.text_key)}" for c in user_commands()]
    if is_admin and admin_commands():
        lines += ["", t("help.admin_title")]
        lines += [f"/{c.name} — {t(c.text_key)}" for c in admin_commands()]
    lines += ["", t("help.more")]
    return "\n".join(lines)


async def cmd_start(message: Message, t: Translator) -> None:
    name = message.from_user.first_name if message.from_user else ""
    await message.answer(t("start", name=name), reply_markup=main_menu(t))


async def cmd_help(message: Message, t: Translator, settings: Settings) -> None:
    is_admin = message.from_user is not None and message.from_user.id in settings.admin_ids
    await message.answer(help_text(t, is_admin))


async def menu_help(query: CallbackQuery, t: Translator, settings: Settings) -> None:
    await query.answer()
    if query.message is not None:
        await query.message.answer(help_text(t, query.from_user.id in settings.admin_ids))


def make_router() -> Router:
    """A fresh router with this module's handlers (one per dispatcher: a router belongs to
    one parent)."""
    router = Router(name=__name__)
    router.message.register(cmd_start, CommandStart())
    router.message.register(cmd_help, Command("help"))
    router.callback_query.register(menu_help, CallbackIs("menu:help"))
    return router
