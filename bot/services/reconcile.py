"""Keeping keys in step with the channel when updates were missed.

``chat_member`` updates are the primary signal: they switch keys off and on as owners leave
and return (handlers/channel.py), and each one counts as a check (``checked_at``). Updates
sent while the bot was down are lost, so :class:`KeyReconciler` re-checks every key that
follows the channel (active, or off because its owner left) and was not checked for
``KEY_RECHECK_INTERVAL`` seconds, the longest unchecked first, at most
``KEY_RECHECK_PER_SECOND`` getChatMember calls per second, and switches keys as the answers
say. Between rounds it sleeps until the next key is due (one index step tells when).

Its reach is ``KEY_RECHECK_PER_SECOND x KEY_RECHECK_INTERVAL`` keys (108,000 with the
defaults); with more keys following the channel, each key is re-checked less often than the
interval (oldest first, so none starves) and a WARNING at start gives the numbers. The
Telegram front starts it at start-up and stops it on shutdown (``handlers.adapters.jobs``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from bot.services import clock
from bot.services.keys import Change, KeyService
from bot.services.messenger import DeliveryError, Messenger, RecipientGone
from bot.services.subscription import Channel, Membership, MembershipUnavailable
from bot.services.tasks import cancel
from bot.texts import Translator

logger = logging.getLogger(__name__)

Notify = Callable[[int, Change], Awaitable[None]]

BATCH = 100
# After "can't check the channel", wait this long (at most) before trying again.
UNAVAILABLE_BACKOFF = 300.0
# After a round that found nothing to check although a key looked due (its row changed in
# between), wait at least this long before looking again.
IDLE_FLOOR = 0.5


class KeyNotifier:
    """Tells an owner that their key was switched off or on. Never raises: a user who
    blocked the bot is marked (users.blocked_bot) and skipped next time."""

    def __init__(self, messenger: Messenger, keys: KeyService, channel: Channel) -> None:
        self.messenger = messenger
        self.keys = keys
        self.channel = channel

    async def __call__(self, user_id: int, change: Change) -> None:
        profile = await self.keys.owner_profile(user_id)
        if profile is None:
            return
        language_code, blocked = profile
        if blocked:
            return
        t = Translator.for_code(language_code)
        key = "key.notice.off" if change is Change.DEACTIVATED else "key.notice.on"
        try:
            await self.messenger.send(user_id, t(key, channel=self.channel.display))
        except RecipientGone:
            logger.info("key notice: user %d has blocked the bot", user_id)
            await self.keys.mark_blocked_bot(user_id)
        except DeliveryError as exc:
            logger.warning("key notice to user %d failed: %s", user_id, exc)


class KeyReconciler:
    def __init__(
        self,
        keys: KeyService,
        membership: Membership,
        notify: Notify,
        *,
        per_second: float,
        interval: int,
        now: Callable[[], int] = clock.now,
        unavailable_backoff: float = UNAVAILABLE_BACKOFF,
    ) -> None:
        self.keys = keys
        self.membership = membership
        self.notify = notify
        self.per_second = per_second
        self.interval = interval
        self.now = now
        self.unavailable_backoff = unavailable_backoff
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._next_call = 0.0

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._stop.clear()
            self._task = asyncio.create_task(self.run(), name="key-reconciler")

    async def stop(self, grace: float = 10.0) -> None:
        self._stop.set()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), grace)
        except TimeoutError:
            await cancel(task)

    async def announce(self) -> int:
        """Log what the re-check will do; a WARNING when it can't keep up. Returns the number
        of keys that follow the channel."""
        following = await self.keys.count_following()
        capacity = int(self.per_second * self.interval)
        logger.info(
            "key re-check: %d key(s) follow the channel; each once per %d s, at most %g checks/s",
            following,
            self.interval,
            self.per_second,
        )
        if following > capacity:
            logger.warning(
                "key re-check falls behind: %d keys follow the channel, at %g checks/s a round "
                "takes %.0f s, longer than KEY_RECHECK_INTERVAL (%d s; at most %d keys). "
                "chat_member updates still switch keys at once; the re-check only repairs "
                "missed ones, oldest first. Raise KEY_RECHECK_PER_SECOND or KEY_RECHECK_INTERVAL.",
                following,
                self.per_second,
                following / self.per_second,
                self.interval,
                capacity,
            )
        return following

    async def run(self) -> None:
        try:
            await self.announce()
        except Exception:
            logger.exception("key re-check: could not count the keys")
        while not self._stop.is_set():
            try:
                checked = await self.run_once()
                delay = await self._until_next_due()
                if checked == 0:
                    delay = max(delay, IDLE_FLOOR)
            except MembershipUnavailable as exc:
                logger.warning("key re-check paused: the channel can't be checked (%s)", exc)
                delay = min(self.unavailable_backoff, float(self.interval))
            except Exception:
                logger.exception("key re-check failed; retrying later")
                delay = min(self.unavailable_backoff, float(self.interval))
            await self._sleep(delay)

    # -- one pass -----------------------------------------------------------------------------
    async def run_once(self) -> int:
        """Check every key that is due now, paced. Returns how many were checked. Raises
        MembershipUnavailable (nothing is switched off on our own failure)."""
        cutoff = self.now() - self.interval
        checked = 0
        seen: set[int] = set()
        while not self._stop.is_set():
            owners = [
                user_id
                for user_id in await self.keys.oldest_due(checked_before=cutoff, limit=BATCH)
                if user_id not in seen
            ]
            if not owners:
                break
            for user_id in owners:
                if self._stop.is_set():
                    break
                await self._pace()
                await self.check(user_id)
                seen.add(user_id)
                checked += 1
        return checked

    async def check(self, user_id: int) -> Change | None:
        member = await self.membership.is_member(user_id)
        change = await self.keys.sync_membership(user_id, member, now=self.now())
        if change is not None:
            logger.info("key of user %d %s by re-check", user_id, change.value)
            await self.notify(user_id, change)
        return change

    async def _until_next_due(self) -> float:
        """Seconds until the longest unchecked key is due (0: now)."""
        oldest = await self.keys.oldest_check()
        if oldest is None:
            return float(self.interval)
        return float(min(max(oldest + self.interval - self.now(), 0), self.interval))

    async def _pace(self) -> None:
        loop = asyncio.get_running_loop()
        wait = self._next_call - loop.time()
        if wait > 0:
            await self._sleep(wait)
        self._next_call = max(self._next_call, loop.time()) + 1.0 / self.per_second

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)
