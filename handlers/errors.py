"""One place where failures become words.

Domain exceptions (``bot.services.errors``) become their friendly text; anything else is
logged with the update id and the user gets a short apology in their language. The user
never gets silence, and never a stack trace.
"""

from __future__ import annotations

import html
import logging
import re
from typing import Any

from aiogram import Bot, Router
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import ErrorEvent, InlineKeyboardMarkup, User

from bot.render import duration
from bot.services.errors import DomainError, QuotaExceeded
from bot.texts import Translator
from bot.tiers import TIER2
from handlers.adapters.guest import answer_guest_query, title_of
from handlers.keyboards import premium_button
from storage.db import is_unavailable

logger = logging.getLogger(__name__)


def _translator(data: dict[str, Any]) -> Translator:
    t = data.get("t")
    if isinstance(t, Translator):
        return t
    sender: User | None = data.get("event_from_user")
    return Translator.for_code(sender.language_code if sender else None)


def render_domain_error(t: Translator, exc: DomainError) -> str:
    params = dict(exc.params)
    if isinstance(exc, QuotaExceeded):
        params["kind"] = t(f"kind.{params.get('kind', 'chat')}")
        params["reset"] = duration(t, int(params.get("reset_in", 0)))
    try:
        return t(exc.text_key, **params)
    except (KeyError, IndexError):
        logger.exception("text %s is missing a parameter", exc.text_key)
        return t("error.generic")


async def tell_user(
    event: ErrorEvent, bot: Bot, text: str, reply_markup: InlineKeyboardMarkup | None = None
) -> None:
    """Answer wherever the failed update came from; a failure here is only logged."""
    update = event.update
    try:
        if update.callback_query is not None:
            query = update.callback_query
            await bot.answer_callback_query(query.id, text=_plain(text)[:200], show_alert=True)
            return
        if update.pre_checkout_query is not None:
            await bot.answer_pre_checkout_query(
                update.pre_checkout_query.id, ok=False, error_message=_plain(text)[:255]
            )
            return
        guest = update.guest_message
        if guest is not None and guest.guest_query_id:
            # The one reply Telegram takes for a guest question: the refusal goes there.
            await answer_guest_query(bot, guest.guest_query_id, text, title=title_of(text))
            return
        message = update.message or update.edited_message
        if message is not None:
            await bot.send_message(message.chat.id, text, reply_markup=reply_markup)
    except TelegramAPIError as exc:
        logger.warning(
            "could not tell the user about an error (update %s): %s", update.update_id, exc
        )


def _plain(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", text))


async def on_domain_error(event: ErrorEvent, bot: Bot, **data: Any) -> None:
    exc = event.exception
    assert isinstance(exc, DomainError)
    # An expected outcome the user is told about (quota, busy, bad input): not an operator
    # matter, and at scale one line per refusal is most of the log.
    logger.debug("update %s: %s", event.update.update_id, type(exc).__name__)
    t = _translator(data)
    markup = None
    if isinstance(exc, QuotaExceeded) and exc.params.get("tier") != TIER2:
        markup = premium_button(t)  # a refused request offers /premium
    await tell_user(event, bot, render_domain_error(t, exc), markup)


async def _database_busy(event: ErrorEvent) -> bool:
    exc = event.exception
    return is_unavailable(exc)


async def on_database_busy(event: ErrorEvent, bot: Bot, **data: Any) -> None:
    """The database stayed locked by another process past the busy timeout (a long backup,
    an operator's shell), or the PostgreSQL server could not be reached: the user is asked to
    come back, nothing was written."""
    logger.warning(
        "update %s (%s): database unavailable (%s)",
        event.update.update_id,
        event.update.event_type,
        type(event.exception).__name__,
    )
    await tell_user(event, bot, _translator(data)("error.db_busy"))


async def on_telegram_failure(event: ErrorEvent, bot: Bot, **data: Any) -> None:
    """Telegram itself failed (5xx, network, flood control) past the session's retries: a
    known outside failure, one line in the log; the apology goes out if Telegram lets it."""
    logger.warning(
        "update %s (%s): Telegram failed: %s",
        event.update.update_id,
        event.update.event_type,
        event.exception,
    )
    await tell_user(event, bot, _translator(data)("error.generic"))


async def on_unexpected_error(event: ErrorEvent, bot: Bot, **data: Any) -> None:
    logger.error(
        "update %s (%s) failed: %r",
        event.update.update_id,
        event.update.event_type,
        event.exception,
        exc_info=event.exception,
    )
    await tell_user(event, bot, _translator(data)("error.generic"))


def make_router() -> Router:
    """A fresh router with this module's handlers (one per dispatcher: a router belongs to
    one parent)."""
    router = Router(name=__name__)
    router.errors.register(on_domain_error, ExceptionTypeFilter(DomainError))
    router.errors.register(on_database_busy, _database_busy)
    router.errors.register(
        on_telegram_failure,
        ExceptionTypeFilter(TelegramServerError, TelegramNetworkError, TelegramRetryAfter),
    )
    router.errors.register(on_unexpected_error)
    return router
