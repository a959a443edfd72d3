"""The Telegram front: one router per feature, collected in order by :func:`get_routers`.

The error router comes first (it only handles error events); catch-all routers (chat) last.
"""

from __future__ import annotations

from aiogram import Router


def get_routers() -> list[Router]:
    from handlers import admin, errors, payments, premium, start, usage

    return [
        errors.router,
        admin.router,
        payments.router,
        start.router,
        usage.router,
        premium.router,
    ]
