"""The command menu: one list used by /help and registered with setMyCommands at start."""

from __future__ import annotations

from dataclasses import dataclass

from aiogram import Bot
from aiogram.types import BotCommand, BotCommandScopeDefault

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
    Command("image"),
    Command("gif"),
    Command("settings"),
    Command("cancel"),
    Command("key"),
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
