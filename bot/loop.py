"""The event loop both fronts run on (``python -m bot`` and ``python -m api``)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


def run(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` on uvloop when it is installed (Linux, macOS), else on asyncio's loop.

    uvloop's event loop and transports are written in C: in ``bench/`` the event loop and
    the HTTP plumbing were a third of the bot's CPU on the standard loop, and a fifth of
    the gateway's.
    """
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)
