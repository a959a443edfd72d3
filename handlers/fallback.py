"""Buttons nothing else understands: from a keyboard of an older version of the bot, or
forged. Answered with a short alert, so the button never just spins."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.types import CallbackQuery

from bot.texts import Translator

logger = logging.getLogger(__name__)


async def unknown_button(query: CallbackQuery, t: Translator) -> None:
    logger.debug("unknown callback data %r from user %d", query.data, query.from_user.id)
    await query.answer(t("fallback.stale_button"), show_alert=True)


def make_router() -> Router:
    """A fresh router with this module's handlers (one per dispatcher: a router belongs to
    one parent)."""
    router = Router(name=__name__)
    router.callback_query.register(unknown_button)
    return router
