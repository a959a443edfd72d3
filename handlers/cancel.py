"""/cancel: stop whatever long wait the user has running (any feature that opened a scope in
``bot.services.cancel.CancelRegistry``), or say clearly that there is nothing to stop."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from bot.services.cancel import CancelRegistry
from bot.texts import TEXTS, Translator
from storage.users import UserRow


def describe(t: Translator, label: str) -> str:
    """``cancel.what.<label>`` if a feature defined it, else the label itself."""
    key = f"cancel.what.{label}"
    return t(key) if key in TEXTS[t.lang] else label


async def cmd_cancel(
    message: Message, t: Translator, user: UserRow, cancels: CancelRegistry
) -> None:
    labels = cancels.cancel(user.id)
    if not labels:
        await message.answer(t("cancel.nothing"))
        return
    what = ", ".join(dict.fromkeys(describe(t, label) for label in labels))
    await message.answer(t("cancel.done", what=what))


def make_router() -> Router:
    """A fresh router with this module's handlers (one per dispatcher: a router belongs to
    one parent)."""
    router = Router(name=__name__)
    router.message.register(cmd_cancel, Command("cancel"))
    return router
