"""Admin broadcasts: one text to every user who is not banned and has not blocked the bot.

* Paced under Telegram's limit of about 30 messages a second (20 a second by default, shared
  by all running broadcasts, leaving room for the bot's ordinary answers).
* Users are sent in id order; after each one the broadcast row stores ``last_user`` and the
  counters, so a restart resumes right after the last recipient (:meth:`Broadcaster.resume`).
* A user who blocked the bot (403) is marked ``users.blocked_bot`` and skipped from then on.
* The admin gets a progress message that is edited as it goes, and a final report.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass

from bot.services import clock
from bot.services.messenger import (
    DeliveryError,
    FloodWait,
    Messenger,
    RecipientGone,
    TextRefused,
    Unreachable,
)
from bot.texts import Translator
from storage import admin as admin_repo
from storage import broadcasts as repo
from storage.broadcasts import BroadcastRow
from storage.db import Database

logger = logging.getLogger(__name__)

# Telegram refuses the text itself: every recipient would fail the same way.
_FATAL_MARKERS = ("can't parse entities", "message is too long", "message text is empty")


@dataclass(frozen=True, slots=True)
class Started:
    row: BroadcastRow
    total: int


class Broadcaster:
    def __init__(
        self,
        db: Database,
        *,
        per_second: float = 20.0,
        batch: int = 200,
        progress_every: int = 100,
        max_tries: int = 3,
        retry_delay: float = 1.0,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self.batch = batch
        self.progress_every = progress_every
        self.max_tries = max_tries
        self.retry_delay = retry_delay
        self._sleep = sleep
        self._monotonic = monotonic
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self._stopping = asyncio.Event()
        self._pace_lock = asyncio.Lock()
        self._last_send = float("-inf")

    async def start(
        self, messenger: Messenger, *, admin_id: int, text: str, t: Translator
    ) -> Started:
        now = clock.now()
        async with self.db.transaction() as conn:
            row = await repo.create(conn, admin_id=admin_id, text=text, now=now)
        total = await repo.count_remaining_off_loop(self.db, after=0)
        logger.info("broadcast %d started by %d: %d recipients", row.id, admin_id, total)
        self._spawn(messenger, row, t, t("admin.broadcast_started", id=row.id, total=total))
        return Started(row, total)

    async def resume(self, messenger: Messenger) -> list[int]:
        """Go on with every broadcast a previous run left running (called at start)."""
        self._stopping.clear()
        async with self.db.snapshot() as conn:
            rows = await repo.running(conn)
        resumed = []
        for row in rows:
            if row.id in self.tasks:
                continue
            left = await repo.count_remaining_off_loop(self.db, after=row.last_user)
            async with self.db.snapshot() as conn:
                admin = await admin_repo.language_of(conn, row.admin_id)
            t = Translator.for_code(admin)
            note = t(
                "admin.broadcast_resumed", id=row.id, left=left, sent=row.sent, failed=row.failed
            )
            logger.info("broadcast %d resumed: %d recipients left", row.id, left)
            self._spawn(messenger, row, t, note)
            resumed.append(row.id)
        return resumed

    def _spawn(self, messenger: Messenger, row: BroadcastRow, t: Translator, note: str) -> None:
        task = asyncio.create_task(
            self._run(messenger, row.id, t, note), name=f"broadcast-{row.id}"
        )
        self.tasks[row.id] = task
        task.add_done_callback(lambda _: self.tasks.pop(row.id, None))

    async def wait(self, broadcast_id: int) -> None:
        task = self.tasks.get(broadcast_id)
        if task is not None:
            await asyncio.shield(task)

    async def stop(self, grace: float = 5.0) -> None:
        """Stop between two recipients (progress is saved); cancel after ``grace`` seconds."""
        self._stopping.set()
        tasks = list(self.tasks.values())
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        for task in pending:
            with suppress(asyncio.CancelledError):
                await task

    async def _pace(self) -> None:
        """At most ``1 / interval`` sends a second across all broadcasts."""
        if self.interval <= 0:
            return
        async with self._pace_lock:
            wait = self._last_send + self.interval - self._monotonic()
            if wait > 0:
                await self._sleep(wait)
            self._last_send = self._monotonic()

    async def _run(self, messenger: Messenger, broadcast_id: int, t: Translator, note: str) -> None:
        try:
            await self._loop(messenger, broadcast_id, t, note)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("broadcast %d failed; it resumes at the next start", broadcast_id)

    async def _loop(
        self, messenger: Messenger, broadcast_id: int, t: Translator, note: str
    ) -> None:
        async with self.db.snapshot() as conn:
            row = await repo.get(conn, broadcast_id)
        if row is None or row.status != repo.RUNNING:
            return
        admin_id = row.admin_id
        progress_id = await self._tell(messenger, admin_id, note)
        since_progress = 0
        last_user, sent, failed = row.last_user, row.sent, row.failed
        # The total is counted once (a scan of users, off the loop): progress messages
        # show done / total against it. Users who join meanwhile are still sent to; the
        # final report has the exact counts.
        total = (
            row.sent + row.failed + await repo.count_remaining_off_loop(self.db, after=last_user)
        )
        while not self._stopping.is_set():
            async with self.db.snapshot() as conn:
                recipients = await repo.next_recipients(conn, after=last_user, limit=self.batch)
            if not recipients:
                break
            for user_id, _language in recipients:
                if self._stopping.is_set():
                    return
                await self._pace()
                outcome, detail = await self._send(messenger, user_id, row.text)
                if outcome == "fatal":
                    await self._abort(messenger, row, t, sent, detail)
                    return
                ok = outcome == "sent"
                async with self.db.transaction() as conn:
                    if outcome == "blocked":
                        await admin_repo.mark_blocked_bot(conn, user_id)
                    await repo.advance(
                        conn, broadcast_id, user_id=user_id, sent=int(ok), failed=int(not ok)
                    )
                last_user = user_id
                sent += int(ok)
                failed += int(not ok)
                since_progress += 1
                if since_progress >= self.progress_every and progress_id is not None:
                    since_progress = 0
                    text = t(
                        "admin.broadcast_progress",
                        id=broadcast_id,
                        done=sent + failed,
                        total=max(total, sent + failed),
                        sent=sent,
                        failed=failed,
                    )
                    await self._edit(messenger, admin_id, progress_id, text)
        if self._stopping.is_set():
            return
        async with self.db.transaction() as conn:
            await repo.finish(conn, broadcast_id, clock.now())
        logger.info("broadcast %d done: sent %d, failed %d", broadcast_id, sent, failed)
        await self._tell(
            messenger,
            admin_id,
            t("admin.broadcast_done", id=broadcast_id, sent=sent, failed=failed),
        )

    async def _send(self, messenger: Messenger, user_id: int, text: str) -> tuple[str, str]:
        """(sent | blocked | failed | fatal, detail)"""
        tries = 0
        while True:
            tries += 1
            try:
                await messenger.send(user_id, text)
                return "sent", ""
            except RecipientGone:
                return "blocked", ""
            except FloodWait as exc:  # the front's own bounded waiting gave up: wait it out
                if self._stopping.is_set():
                    return "failed", "flood control"
                await asyncio.sleep(exc.retry_after)
                tries -= 1
            except TextRefused as exc:
                if any(marker in exc.reason for marker in _FATAL_MARKERS):
                    logger.error("broadcast text refused by Telegram: %s", exc.reason)
                    return "fatal", exc.reason
                logger.info("broadcast to %d failed: %s", user_id, exc.reason)
                return "failed", exc.reason
            except Unreachable as exc:
                # A server error may come after the message went out: not sent again. A
                # network failure is retried (bounded), as the message most likely did not.
                if exc.server or tries >= self.max_tries:
                    logger.warning("broadcast to %d failed after %d tries: %s", user_id, tries, exc)
                    return "failed", exc.reason
                await asyncio.sleep(self.retry_delay * tries)
            except DeliveryError as exc:
                logger.warning("broadcast to %d failed: %s", user_id, exc)
                return "failed", exc.reason

    async def _abort(
        self, messenger: Messenger, row: BroadcastRow, t: Translator, sent: int, reason: str
    ) -> None:
        async with self.db.transaction() as conn:
            await repo.finish(conn, row.id, clock.now())
        await self._tell(
            messenger,
            row.admin_id,
            t("admin.broadcast_aborted", id=row.id, reason=reason, sent=sent),
        )

    async def _tell(self, messenger: Messenger, admin_id: int, text: str) -> int | None:
        try:
            return await messenger.send(admin_id, text)
        except DeliveryError as exc:
            logger.warning("could not report broadcast progress to %d: %s", admin_id, exc)
            return None

    async def _edit(self, messenger: Messenger, admin_id: int, message_id: int, text: str) -> None:
        try:
            await messenger.edit(admin_id, message_id, text)
        except DeliveryError as exc:
            logger.info("could not edit broadcast progress: %s", exc)
