"""Renewals to stop, kept at until Telegram confirms.

A Stars subscription whose renewal must end (the user moved to a higher plan, or its payment
was refunded) is marked ``canceling`` in the same transaction as the credit or the refund;
:meth:`PaymentService.finish_cancels` then asks Telegram to stop it. When that call fails
(a network error, Telegram down), the mark stays, and without another try the user would be
charged for the old plan at its next renewal. :class:`RenewalStops` tries again: at start,
then every ``interval`` seconds while some are left, the wait doubling after each pass that
left one (up to ``longest``) and back to ``interval`` once none is left.
"""

from __future__ import annotations

import asyncio
import logging

from bot.services.payments import EditCall, PaymentService
from bot.services.tasks import cancel

logger = logging.getLogger("bot.renewal_stops")

INTERVAL = 600.0  # seconds between passes while a stop is pending
LONGEST = 6 * 3600.0  # the longest wait, after passes that kept failing


class RenewalStops:
    def __init__(
        self,
        payments: PaymentService,
        call: EditCall,
        *,
        interval: float = INTERVAL,
        longest: float = LONGEST,
    ) -> None:
        self.payments = payments
        self.call = call
        self.interval = interval
        self.longest = longest
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> bool:
        """One pass; True when no renewal is left to stop."""
        try:
            await self.payments.finish_cancels(self.call)
            return not await self.payments.cancels_pending()
        except Exception:
            logger.exception("stopping renewals failed; tried again later")
            return False

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="renewal-stops")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel(task)

    async def _loop(self) -> None:
        backoff = self.interval
        while True:
            if await self.run_once():
                backoff = self.interval
                await asyncio.sleep(self.interval)
                continue
            logger.warning("a renewal is still to be stopped; next try in %.0f s", backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.longest)
