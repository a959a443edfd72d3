"""How many bytes of request bodies the gateway holds at once.

Chat bodies can be big (``API_MAX_BODY_BYTES``, 8 MiB by default: a LLaVA request carries a
base64 image) and each stays in memory, read, parsed and re-serialized, until the upstream
has answered. A :class:`BodyBudget` makes every request reserve its announced size (the
largest allowed when it announces none) before its body is read and give it back when it is
done, so a flood of big uploads waits its turn instead of growing the process: small bodies,
the usual case, hardly ever wait. Waiters are served in arrival order.
"""

from __future__ import annotations

import asyncio
from collections import deque


class BodyBudget:
    def __init__(self, total: int) -> None:
        self.total = total
        self.free = total
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    async def acquire(self, size: int, timeout: float) -> int:  # noqa: ASYNC109
        """Reserve ``size`` bytes (at most the whole budget); returns what was reserved, for
        :meth:`release`. Raises TimeoutError when it is not free within ``timeout`` s."""
        size = max(0, min(size, self.total))
        if size <= self.free and not self._waiters:
            self.free -= size
            return size
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (size, waiter)
        self._waiters.append(entry)
        try:
            async with asyncio.timeout(timeout):
                await waiter
        except BaseException:
            if entry in self._waiters:
                self._waiters.remove(entry)
                self._wake()  # a big waiter leaving may let smaller ones behind it in
            elif waiter.done() and not waiter.cancelled():
                self.release(size)  # granted just as the wait ended: give it back
            raise
        return size

    def release(self, size: int) -> None:
        self.free += size
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._waiters[0][0] <= self.free:
            size, waiter = self._waiters.popleft()
            if waiter.done():
                continue
            self.free -= size
            waiter.set_result(None)
