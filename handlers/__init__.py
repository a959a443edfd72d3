"""The Telegram front: one router per feature, collected in order by :func:`get_routers`.

The error router comes first (it only handles error events); catch-all routers (chat) last.
"""

from __future__ import annotations

from aiogram import Router


def get_routers() -> list[Router]:
    from handlers import chat, errors, model, photo, start, usage

    # chat holds the catch-all text handler: keep it last.
    return [errors.router, start.router, usage.router, model.router, photo.router, chat.router]
