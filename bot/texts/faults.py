"""Texts for what goes wrong outside a feature: restarts, an overloaded database, stale
buttons."""

from __future__ import annotations

EN = {
    "restart.interrupted": (
        "⚠️ The bot was restarted while it was working on your request ({kind}). "
        "Nothing was used up: please send it again."
    ),
    "error.db_busy": "⏳ The bot is very busy right now. Please try again in a minute.",
    "fallback.stale_button": "⌛ This button is no longer active. Please send the command again.",
}

RU = {
    "restart.interrupted": (
        "⚠️ Бот перезапустился, пока выполнял ваш запрос ({kind}). "
        "Лимит не списан — отправьте запрос ещё раз."
    ),
    "error.db_busy": "⏳ Бот сейчас перегружен. Попробуйте ещё раз через минуту.",
    "fallback.stale_button": "⌛ Эта кнопка больше не работает. Отправьте команду ещё раз.",
}
