"""Dispatcher tuning that aiogram does not offer as an option.

aiogram runs every callback that is not a coroutine function in a worker thread
(``asyncio.to_thread``) - including the magic filters (``F.text``, ``F.data == "x"``), which
are pure attribute lookups. Each one then costs a thread round trip, and under load the
worker waits for the GIL behind the busy event loop (the interpreter's 5 ms switch interval).
A text message passes through a dozen such filters on its way to the chat handler
(``bench/`` showed ~10 thread hand-offs per update). :func:`inline_magic_filters` makes
them plain awaitables evaluated in place; their results do not change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from aiogram import Router
from aiogram.dispatcher.event.handler import FilterObject


def _inline(resolve: Callable[..., Any]) -> Callable[..., Any]:
    async def call(*args: Any, **kwargs: Any) -> Any:
        return resolve(*args, **kwargs)

    return call


def _filters(router: Router) -> Iterator[FilterObject]:
    for observer in router.observers.values():
        yield from observer._handler.filters or ()  # router-level filters (router.message.filter)
        for handler in observer.handlers:
            yield from handler.filters or ()
    for sub in router.sub_routers:
        yield from _filters(sub)


def inline_magic_filters(router: Router) -> int:
    """Evaluate ``router``'s magic filters (and its sub-routers') on the event loop instead
    of in a thread. Returns how many filters were changed; calling it again is harmless."""
    changed = 0
    for flt in _filters(router):
        if flt.magic is not None and not flt.awaitable:
            flt.callback = _inline(flt.callback)
            flt.awaitable = True
            changed += 1
    return changed
