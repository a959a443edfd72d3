"""The Telegram front: one router per feature, collected in order by :func:`get_routers`.

Each feature module has ``make_router()``, which builds a new router on every call: an
aiogram router belongs to one parent, and tests build many dispatchers in one process.

The error router comes first (it only handles error events); catch-all routers (chat) last.
"""

from __future__ import annotations

from aiogram import Router

from handlers.filters import is_command


def _commands_only(name: str, *routers: Router) -> Router:
    """A group of routers whose message handlers all need a command: other messages skip
    the whole group with one check (see :func:`handlers.filters.is_command`); their callback
    queries and other updates pass through as before."""
    group = Router(name=name)
    group.message.filter(is_command)
    group.include_routers(*routers)
    return group


def get_routers() -> list[Router]:
    from handlers import (
        admin,
        cancel,
        channel,
        chat,
        conversations,
        documents,
        errors,
        fallback,
        guest,
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

    # Order: errors first (it has only error handlers; an error event - a refusal such as
    # "still answering" - propagates from the top and stops there). Payments
    # (successful_payment messages) and admin (filtered to ADMIN_IDS) before anything that
    # could take a message; photos before /image and friends (a captioned photo is a
    # question for the vision model); chat holds the catch-all text handler, so it comes
    # after every command. Channel (chat members only) goes last, out of the messages' way.
    # Measured in bench/: plain text used to be checked against every Command filter of 13
    # routers before it reached chat.
    routers = [
        errors.make_router(),
        payments.make_router(),
        _commands_only(
            "commands",
            admin.make_router(),
            start.make_router(),
            usage.make_router(),
            premium.make_router(),
            keys.make_router(),
            model.make_router(),
        ),
        conversations.make_router(),
        photo.make_router(),
        documents.make_router(),
        _commands_only(
            "media-commands",
            cancel.make_router(),
            images.make_router(),
            settings.make_router(),
        ),
        chat.make_router(),
        guest.make_router(),  # guest_message updates only
        fallback.make_router(),  # callback queries no other router took
        channel.make_router(),
    ]
    return routers
