"""Long generations done right: one per user, a fair global limit, cancel, timeout, refunds.

:meth:`Generations.generate` is the whole life of one image or GIF request::

    per-user slot (else GenerationBusy)
      -> spend a quota unit (else QuotaExceeded)
      -> wait for a global slot in a FIFO queue (the caller is told its position)
      -> run the upstream call under a deadline, cancellable with /cancel
      -> deliver (the caller sends the result)
    any failure on the way -> the unit is given back, the error goes up

Nothing here knows about Telegram: the caller passes the work and the delivery as callables.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bot.clients.visioncraft import PROVIDER, Media
from bot.metrics import GENERATIONS, count_outcome
from bot.services.cancel import CancelRegistry, CancelScope
from bot.services.image_errors import GenerationBusy, GenerationTimeout, QueueTimeout
from bot.services.quota import QuotaService

logger = logging.getLogger(__name__)

T = TypeVar("T")
OnQueued = Callable[[int], Awaitable[None]]


class FairQueue:
    """At most ``limit`` holders at once; the others wait first come, first served.

    A released slot is handed straight to the oldest waiter, so a newcomer can never overtake
    someone already waiting.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.active = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return sum(1 for f in self._waiters if not f.done())

    async def acquire(
        self,
        scope: CancelScope | None = None,
        on_queued: OnQueued | None = None,
        within: float | None = None,
    ) -> None:
        """Take a slot. Raises TimeoutError after ``within`` s in the queue, or
        OperationCancelled if ``scope`` is cancelled while waiting."""
        if self.active < self.limit and not self.waiting:
            self.active += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            if on_queued is not None:
                await on_queued(self.waiting)
            if scope is not None:
                await scope.guard(waiter, within)
            else:
                await asyncio.wait_for(waiter, within)
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot arrived as we gave up: pass it on
            else:
                waiter.cancel()
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot moves to the waiter; active is unchanged
                return
        self.active -= 1


@dataclass(slots=True)
class StoredResult:
    """What the "Again" and "Original" buttons need, kept in memory for a while."""

    user_id: int
    kind: str  # image | gif
    request: Any  # ImageRequest for images, the prompt (str) for GIFs
    data: bytes | None = None
    filename: str = ""
    content_type: str = ""


class ResultStore:
    """Recent results by short token: the request (for "Again") for the last ``max_entries``
    results and the bytes (for "Original") within a memory budget of ``max_bytes``. Older
    entries are forgotten; their buttons get a clear "expired" answer."""

    def __init__(self, max_entries: int = 5000, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, StoredResult] = OrderedDict()
        self._bytes = 0

    def put(self, result: StoredResult) -> str:
        token = secrets.token_urlsafe(9)
        while token in self._items:
            token = secrets.token_urlsafe(9)
        if result.data is not None and len(result.data) > self.max_bytes:
            result.data = None
        self._items[token] = result
        self._bytes += len(result.data or b"")
        self._trim()
        return token

    def get(self, token: str) -> StoredResult | None:
        item = self._items.get(token)
        if item is not None:
            self._items.move_to_end(token)
        return item

    @property
    def bytes_held(self) -> int:
        return self._bytes

    def _trim(self) -> None:
        while len(self._items) > self.max_entries:
            _, old = self._items.popitem(last=False)
            self._bytes -= len(old.data or b"")
        for item in self._items.values():
            if self._bytes <= self.max_bytes:
                break
            if item.data is not None:
                self._bytes -= len(item.data)
                item.data = None


@dataclass(slots=True)
class _Job:
    """A user's generation in progress."""

    scope: CancelScope | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def cancelled(self) -> bool:
        return self.scope is not None and self.scope.cancelled


class Generations:
    def __init__(
        self,
        quota: QuotaService,
        cancels: CancelRegistry,
        *,
        concurrency: int,
        timeout: float,
    ) -> None:
        self.quota = quota
        self.cancels = cancels
        self.queue = FairQueue(concurrency)
        self.timeout = timeout
        self._jobs: dict[int, _Job] = {}

    @property
    def minutes(self) -> int:
        return max(1, round(self.timeout / 60))

    def busy(self, user_id: int) -> bool:
        """Has the user a generation that is not already being cancelled?"""
        job = self._jobs.get(user_id)
        return job is not None and not job.cancelled

    @asynccontextmanager
    async def exclusive(self, user_id: int) -> AsyncIterator[_Job]:
        """One generation per user at a time (else GenerationBusy). A generation that was
        cancelled but is still winding down is waited for, so "/cancel, then send again"
        never hits "busy"."""
        while (current := self._jobs.get(user_id)) is not None:
            if not current.cancelled:
                raise GenerationBusy("already generating")
            await current.done.wait()
        job = self._jobs[user_id] = _Job()
        try:
            yield job
        finally:
            del self._jobs[user_id]
            job.done.set()

    async def generate(
        self,
        *,
        user_id: int,
        kind: str,
        work: Callable[[], Awaitable[Media]],
        deliver: Callable[[Media], Awaitable[T]],
        on_queued: OnQueued | None = None,
        progress: Callable[[], AbstractAsyncContextManager[Any]] | None = None,
        chat_id: int | None = None,
    ) -> T:
        """Spend, wait, generate, deliver; give the unit back if anything fails (or, if the
        process dies meanwhile, at the next start: the unit is held until delivery and the
        user is told in ``chat_id``)."""
        with count_outcome(GENERATIONS, kind):
            return await self._generate(user_id, kind, work, deliver, on_queued, progress, chat_id)

    async def _generate(
        self,
        user_id: int,
        kind: str,
        work: Callable[[], Awaitable[Media]],
        deliver: Callable[[Media], Awaitable[T]],
        on_queued: OnQueued | None,
        progress: Callable[[], AbstractAsyncContextManager[Any]] | None,
        chat_id: int | None,
    ) -> T:
        async with self.exclusive(user_id) as job:
            ticket = await self.quota.spend(user_id, kind, hold=True, chat_id=chat_id)
            try:
                media = await self._run(job, user_id, kind, work, on_queued, progress)
                delivered = await deliver(media)
            except BaseException:
                await ticket.refund()
                raise
            await ticket.settle()
            return delivered

    async def _run(
        self,
        job: _Job,
        user_id: int,
        kind: str,
        work: Callable[[], Awaitable[Media]],
        on_queued: OnQueued | None,
        progress: Callable[[], AbstractAsyncContextManager[Any]] | None,
    ) -> Media:
        with self.cancels.scope(user_id, kind) as scope:
            job.scope = scope
            try:
                await self.queue.acquire(scope, on_queued, self.timeout)
            except TimeoutError:
                logger.warning(
                    "user %s waited %.0f s in the queue: given up", user_id, self.timeout
                )
                raise QueueTimeout("queue timeout", minutes=self.minutes) from None
            try:
                async with progress() if progress is not None else nullcontext():
                    return await scope.guard(work(), self.timeout)
            except TimeoutError:
                logger.warning("%s generation for user %s timed out", kind, user_id)
                raise GenerationTimeout(
                    "generation timeout", provider=PROVIDER, minutes=self.minutes
                ) from None
            finally:
                self.queue.release()
