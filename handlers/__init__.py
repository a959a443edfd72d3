"""The Telegram front: one router per feature, collected in order by :func:`get_routers`.

The error router comes first (it only handles error events); catch-all routers (chat) last.
"""

from __future__ import annotations

from aiogram import Router


def _detached(router: Router) -> Router:
    """Module-level routers can belong to one dispatcher at a time. Tests build many
    dispatchers in one process, so a router is detached from its previous parent first."""
    parent = router.parent_router
    if parent is not None:
        parent.sub_routers.remove(router)
        router._parent_router = None
    return router


def get_routers() -> list[Router]:
    from handlers import (
        admin,
        cancel,
        channel,
        chat,
        errors,
        images,
        keys,
        model,
        payments,
        photo,
        premium,
        settings,
        start,
        usage,
    )

    # admin (filtered to ADMIN_IDS) and payments before anything that could take a message;
    # chat holds the catch-all text handler: keep it last.
    routers = [
        errors.router,
        admin.router,
        payments.router,
        start.router,
        usage.router,
        premium.router,
        keys.router,
        channel.router,
        model.router,
        photo.router,
        cancel.router,
        images.router,
        settings.router,
        chat.router,
    ]
    return [_detached(r) for r in routers]
