"""The Telegram front: one router per feature, collected in order by :func:`get_routers`.

The error router comes first (it only handles error events); catch-all routers (chat) last.
"""

from __future__ import annotations

from aiogram import Router


def get_routers() -> list[Router]:
    from handlers import channel, errors, keys, start, usage

    return [errors.router, start.router, usage.router, keys.router, channel.router]
