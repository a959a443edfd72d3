"""The command menu: one list used by /help and registered with setMyCommands at start."""

from __future__ import annotations

from dataclasses import dataclass

from aiogram import Bot
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault

from bot.texts import LANGUAGES, get_text


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    admin: bool = False

    @property
    def text_key(self) -> str:
        return f"cmd.{self.name}"


# Order is the order of the menu and of /help. Features append their commands here.
COMMANDS: tuple[Command, ...] = (
    Command("start"),
    Command("help"),
    Command("usage"),
    Command("chat"),
    Command("new"),
    Command("model"),
    Command("persona"),
    Command("history"),
    Command("image"),
    Command("gif"),
    Command("settings"),
    Command("cancel"),
    Command("key"),
    Command("premium"),
    Command("stats", admin=True),
    Command("grant", admin=True),
    Command("ban", admin=True),
    Command("unban", admin=True),
    Command("refund", admin=True),
    Command("broadcast", admin=True),
)


def user_commands() -> list[Command]:
    return [c for c in COMMANDS if not c.admin]


def admin_commands() -> list[Command]:
    return [c for c in COMMANDS if c.admin]


def bot_commands(lang: str) -> list[BotCommand]:
    return [
        BotCommand(command=c.name, description=get_text(lang, c.text_key)) for c in user_commands()
    ]


async def register_commands(bot: Bot) -> None:
    """Default menu in English, plus one per other language."""
    await bot.set_my_commands(bot_commands("en"), scope=BotCommandScopeDefault())
    for lang in LANGUAGES:
        if lang != "en":
            await bot.set_my_commands(
                bot_commands(lang), scope=BotCommandScopeDefault(), language_code=lang
            )


def all_bot_commands(lang: str) -> list[BotCommand]:
    return [BotCommand(command=c.name, description=get_text(lang, c.text_key)) for c in COMMANDS]


async def register_admin_commands(bot: Bot, admin_ids: frozenset[int]) -> None:
    """Admins see the admin commands in their own chat's menu; nobody else does.
    Raises TelegramAPIError (e.g. an admin who never wrote to the bot: chat not found)."""
    for admin_id in sorted(admin_ids):
        scope = BotCommandScopeChat(chat_id=admin_id)
        await bot.set_my_commands(all_bot_commands("en"), scope=scope)
        for lang in LANGUAGES:
            if lang != "en":
                await bot.set_my_commands(all_bot_commands(lang), scope=scope, language_code=lang)
