"""Session middleware: keep aiogram's parsed-response classes alive.

aiogram parses every Bot API answer with ``Response[method.__returning__]``, a pydantic
generic model. pydantic caches parametrized generics in a ``WeakValueDictionary``: once the
garbage collector frees such a class, the next call rebuilds its schema (~60 ms of CPU on the
reference machine). Under load that happened dozens of times a minute (``bench/``: 35 rebuilds
in 1,500 updates, a p99 spike each time). Holding one strong reference per return type
keeps the cache warm; there are a few dozen return types in the whole Bot API.
"""

from __future__ import annotations

from typing import Any

from aiogram.client.session.middlewares.base import BaseRequestMiddleware
from aiogram.methods import Response, TelegramMethod


class KeepResponseTypes(BaseRequestMiddleware):
    def __init__(self) -> None:
        self.pinned: dict[Any, type] = {}

    async def __call__(self, make_request: Any, bot: Any, method: TelegramMethod[Any]) -> Any:
        returning = method.__returning__
        if returning not in self.pinned:
            self.pinned[returning] = Response[returning]  # type: ignore[valid-type]
        return await make_request(bot, method)
