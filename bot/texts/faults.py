"""Texts for what goes wrong outside a feature: restarts, an overloaded database."""

from __future__ import annotations

EN = {
    "restart.interrupted": (
        "⚠️ The bot was restarted while it was working on your request ({kind}). "
        "Nothing was used up: please send it again."
    ),
    "error.db_busy": "⏳ The bot is very busy right now. Please try again in a minute.",
}

RU = {
    "restart.interrupted": (
        "⚠️ Бот перезапустился, пока выполнял ваш запрос ({kind}). "
        "Лимит не списан — отправьте запрос ещё раз."
    ),
    "error.db_busy": "⏳ Бот сейчас перегружен. Попробуйте ещё раз через минуту.",
}
