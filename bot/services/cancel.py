"""Per-user cancellation of long waits, for ``/cancel`` (and for a clean shutdown).

Any feature that waits for long on behalf of a user opens a scope and runs its waits through
it::

    with cancels.scope(user_id, "image") as scope:
        position = await scope.guard(queue_wait())
        media = await scope.guard(client.generate(...), timeout=300)

``cancels.cancel(user_id)`` signals every open scope of that user and returns their labels;
the waiting ``guard`` then stops the work and raises :class:`OperationCancelled`. A signalled
scope always ends in ``OperationCancelled`` (even if its work finished at the same moment), so
what ``/cancel`` tells the user is always true. Nothing here knows about Telegram.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

USER = "user"
SHUTDOWN = "shutdown"


class OperationCancelled(Exception):
    """The scope was cancelled; ``reason`` is ``user`` or ``shutdown``."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"cancelled ({reason})")
        self.reason = reason


class CancelScope:
    def __init__(self, user_id: int, label: str) -> None:
        self.user_id = user_id
        self.label = label
        self.reason: str | None = None
        self._event = asyncio.Event()

    @property
    def cancelled(self) -> bool:
        return self.reason is not None

    def cancel(self, reason: str = USER) -> bool:
        if self.reason is not None:
            return False
        self.reason = reason
        self._event.set()
        return True

    def check(self) -> None:
        if self.reason is not None:
            raise OperationCancelled(self.reason)

    async def guard(self, awaitable: Awaitable[T], within: float | None = None) -> T:
        """Await ``awaitable`` unless the scope is cancelled first (-> OperationCancelled) or
        ``within`` seconds pass (-> TimeoutError). Either way the work is cancelled."""
        if self.reason is not None:
            if asyncio.iscoroutine(awaitable):
                awaitable.close()
            raise OperationCancelled(self.reason)
        work = asyncio.ensure_future(awaitable)
        signal = asyncio.ensure_future(self._event.wait())
        try:
            done, _ = await asyncio.wait(
                {work, signal}, timeout=within, return_when=asyncio.FIRST_COMPLETED
            )
        except BaseException:
            await _stop(work)
            raise
        finally:
            signal.cancel()
        if self.cancelled:  # cancelled while the work ran
            await _stop(work)
            self.check()
        if work not in done:
            await _stop(work)
            raise TimeoutError
        return work.result()


async def _stop(task: asyncio.Future[Any]) -> None:
    """Cancel ``task`` and wait for it, retrieving whatever it ended with."""
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


class CancelRegistry:
    def __init__(self) -> None:
        self._scopes: dict[int, list[CancelScope]] = {}

    @contextmanager
    def scope(self, user_id: int, label: str) -> Iterator[CancelScope]:
        scope = CancelScope(user_id, label)
        self._scopes.setdefault(user_id, []).append(scope)
        try:
            yield scope
        finally:
            scopes = self._scopes.get(user_id, [])
            if scope in scopes:
                scopes.remove(scope)
            if not scopes:
                self._scopes.pop(user_id, None)

    def active(self, user_id: int) -> list[str]:
        return [s.label for s in self._scopes.get(user_id, []) if not s.cancelled]

    def cancel(self, user_id: int, reason: str = USER) -> list[str]:
        """Signal every open scope of the user; returns the labels of those signalled."""
        return [s.label for s in list(self._scopes.get(user_id, [])) if s.cancel(reason)]

    def cancel_all(self, reason: str = SHUTDOWN) -> int:
        count = 0
        for scopes in list(self._scopes.values()):
            for scope in list(scopes):
                count += scope.cancel(reason)
        return count
