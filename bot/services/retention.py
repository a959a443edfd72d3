"""The retention job: deletes what ``RETENTION_DAYS`` says is kept only for a while.

* the memory (``messages``) of conversations with no message for ``RETENTION_DAYS`` days;
  a conversation in use is only trimmed, as always, to its newest messages;
* ``usage_daily`` counters of days more than ``RETENTION_DAYS`` ago (quotas only read today);
* invoices never paid, created more than ``RETENTION_DAYS`` ago (an unpaid invoice's button
  then answers "expired"); paid invoices and all payments are kept forever.

It runs at start and then every ``interval`` seconds, deleting at most ``batch`` rows per
transaction on the database's own thread, with a pause between transactions so the bot's and
the HTTP API's writes always get the lock in between (at most ~800 rows a second: the first
pass over a large old database takes a while, later passes only find an hour's worth).
``RETENTION_DAYS=0`` turns it off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.services import clock
from bot.services.tasks import cancel
from storage import retention as repo
from storage.db import Database

logger = logging.getLogger(__name__)

DAY = 86400


@dataclass(slots=True)
class Removed:
    messages: int = 0
    usage_rows: int = 0
    invoices: int = 0


class Retention:
    def __init__(
        self,
        db: Database,
        *,
        days: int,
        batch: int = 200,
        pause: float = 0.25,
        interval: float = 3600.0,
        now: Callable[[], int] = clock.now,
    ) -> None:
        self.db = db
        self.days = days
        self.batch = batch
        self.pause = pause
        self.interval = interval
        self.now = now
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def run_once(self) -> Removed:
        """One full pass; returns what went. Stops early (between batches) on :meth:`stop`."""
        removed = Removed()
        if self.days <= 0:
            return removed
        cutoff = self.now() - self.days * DAY
        removed.messages = await self._conversations(cutoff)
        removed.usage_rows = await self._repeat(
            lambda: repo.delete_usage_before(self.db, day=clock.utc_day(cutoff), limit=self.batch)
        )
        removed.invoices = await self._repeat(
            lambda: repo.delete_unpaid_invoices(self.db, before=cutoff, limit=self.batch)
        )
        if removed.messages or removed.usage_rows or removed.invoices:
            logger.info(
                "retention (%d days): deleted %d message(s) of idle conversations, "
                "%d daily usage row(s), %d unpaid invoice(s)",
                self.days,
                removed.messages,
                removed.usage_rows,
                removed.invoices,
            )
        return removed

    async def _repeat(self, delete_batch: Callable[[], Awaitable[int]]) -> int:
        total = 0
        while not self._stop.is_set():
            count = await delete_batch()
            total += count
            if count < self.batch:
                break
            await self._pause()
        return total

    async def _conversations(self, cutoff: int) -> int:
        total = 0
        after: tuple[int, int] | None = repo.FIRST
        group: list[repo.Conversation] = []
        in_group = 0
        while after is not None and not self._stop.is_set():
            page = await repo.idle_conversations(
                self.db, after=after, before=cutoff, limit=self.batch
            )
            after = page.next_after
            for conversation in page.idle:
                if conversation.messages > self.batch:
                    # A long memory (a large CHAT_HISTORY_MESSAGES): on its own, in batches.
                    while not self._stop.is_set():
                        count = await repo.delete_conversation(
                            self.db, conversation, limit=self.batch
                        )
                        total += count
                        await self._pause()
                        if count < self.batch:
                            break
                    continue
                if in_group + conversation.messages > self.batch:
                    total += await repo.delete_conversations(self.db, group)
                    group, in_group = [], 0
                    await self._pause()
                group.append(conversation)
                in_group += conversation.messages
        if group:
            total += await repo.delete_conversations(self.db, group)
        return total

    async def _pause(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), self.pause)

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        if self.days <= 0:
            logger.info("retention is off (RETENTION_DAYS=0): everything is kept")
            return
        if self._task is None:
            self._stop.clear()
            self._task = asyncio.create_task(self._loop(), name="retention")

    async def stop(self) -> None:
        self._stop.set()
        task, self._task = self._task, None
        await cancel(task)

    async def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                await self.run_once()
            except Exception:
                logger.exception("retention pass failed; trying again later")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval)
