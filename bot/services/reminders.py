"""A reminder, once, about a day before a paid or granted tier ends.

A background task (started on startup, stopped on shutdown) looks every ``interval`` seconds
for periods ending within ``ahead`` seconds whose ``user_tiers.reminded_at`` is empty. Each
reminder is claimed (``reminded_at`` set) before it is sent, so it goes out at most once even
with two bot processes; a new period (payment, grant) clears ``reminded_at``. Trials are 24
hours long and get no reminder.
"""

from __future__ import annotations

import asyncio
import logging

from bot.render import duration, tier_name, utc_datetime
from bot.services import clock
from bot.services.messenger import DeliveryError, Messenger, PremiumOffer, RecipientGone
from bot.services.tasks import cancel
from bot.texts import Translator
from storage import admin as admin_repo
from storage import tiers as tiers_repo
from storage.db import Database

logger = logging.getLogger(__name__)

DAY = 86400


class Reminders:
    def __init__(self, db: Database, *, interval: float = 600.0, ahead: int = DAY) -> None:
        self.db = db
        self.interval = interval
        self.ahead = ahead
        self._task: asyncio.Task[None] | None = None

    async def run_once(self, messenger: Messenger, now: int | None = None) -> int:
        """Send every reminder that is due; returns how many were sent."""
        now = clock.now() if now is None else now
        async with self.db.snapshot() as conn:  # a read: no write lock
            due = await tiers_repo.due_reminders(conn, now=now, within=self.ahead)
        sent = 0
        for row in due:
            assert row.expires_at is not None
            async with self.db.transaction() as conn:
                claimed = await tiers_repo.claim_reminder(
                    conn, user_id=row.user_id, expires_at=row.expires_at, now=now
                )
                language = await admin_repo.language_of(conn, row.user_id)
            if not claimed:
                continue
            t = Translator.for_code(language)
            text = t(
                "premium.reminder",
                tier=tier_name(t, row.tier),
                expires=utc_datetime(row.expires_at),
                left=duration(t, row.expires_at - now),
            )
            try:
                await messenger.send(row.user_id, text, keyboard=PremiumOffer(t))
                sent += 1
            except RecipientGone:
                async with self.db.transaction() as conn:
                    await admin_repo.mark_blocked_bot(conn, row.user_id)
            except DeliveryError as exc:
                logger.warning("expiry reminder to %d failed: %s", row.user_id, exc)
        if sent:
            logger.info("sent %d expiry reminder(s)", sent)
        return sent

    def start(self, messenger: Messenger) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(messenger), name="expiry-reminders")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel(task)

    async def _loop(self, messenger: Messenger) -> None:
        while True:
            try:
                await self.run_once(messenger)
            except Exception:
                logger.exception("expiry reminders failed; trying again later")
            await asyncio.sleep(self.interval)
