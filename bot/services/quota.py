"""Tiers in force and daily quotas: the seam every paid-for feature spends through.

``QuotaService.spend(user_id, kind)`` either returns a :class:`Ticket` or raises
:class:`RateLimited` (the tier's burst limit, requests of any kind per minute) or
:class:`QuotaExceeded` (the daily quota); ``ticket.refund()`` gives the daily unit back when
nothing was delivered. The daily check and increment are one SQL statement (see
``storage.usage.spend``). The burst limit is a sliding window of the last minute's spends per
user: in memory per process (checked and taken with no ``await`` in between), or in Redis for
every process with ``REDIS_URL`` (:class:`SharedBurstLimiter`, one atomic script per spend).
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.metrics import QUOTA_REFUSALS
from bot.services import clock
from bot.services.errors import QuotaExceeded, RateLimited
from bot.shared_limits import SLIDING_WINDOW, SharedLimits, Unavailable
from bot.tiers import FREE, KINDS, Limits
from storage import usage as usage_repo
from storage.db import Database
from storage.sqlite import Connection


@dataclass(frozen=True, slots=True)
class TierState:
    tier: str
    expires_at: int | None  # None: never (Free, or a permanent grant)
    source: str | None


@dataclass(slots=True)
class Ticket:
    """One spent unit. Refunding twice is a no-op.

    A ticket spent with ``hold=True`` is also written down as work in progress until it is
    settled (the work was delivered: the unit stays spent) or refunded; a hold that outlives
    its process (kill -9, power loss) is given back at the next start.
    """

    user_id: int
    kind: str
    day: str
    amount: int
    _service: QuotaService = field(repr=False)
    refunded: bool = False
    hold_id: int | None = None

    async def refund(self) -> None:
        if self.refunded:
            return
        self.refunded = True
        await self._service.refund(self)

    async def settle(self) -> None:
        """The work was delivered: the unit stays spent and the hold is dropped."""
        if self.hold_id is None or self.refunded:
            return
        hold_id, self.hold_id = self.hold_id, None
        async with self._service.db.autocommit() as conn:  # one statement
            await usage_repo.release(conn, hold_id)

    async def settle_in(self, conn: Connection) -> None:
        """Drop the hold inside the caller's transaction on ``conn`` (the work's own record
        and the hold in one commit). Call :meth:`settled` once that transaction committed;
        if it rolled back, the hold is still there and so is the ticket's."""
        if self.hold_id is not None and not self.refunded:
            await usage_repo.release(conn, self.hold_id)

    def settled(self) -> None:
        """The transaction given to :meth:`settle_in` committed: nothing is held any more."""
        self.hold_id = None


@dataclass(frozen=True, slots=True)
class Interrupted:
    """Work that a previous run of the bot did not finish; its unit was given back."""

    user_id: int
    chat_id: int | None
    kind: str


@dataclass(frozen=True, slots=True)
class KindUsage:
    kind: str
    used: int
    limit: int  # negative: unlimited

    @property
    def unlimited(self) -> bool:
        return self.limit < 0

    @property
    def left(self) -> int | None:
        return None if self.unlimited else max(self.limit - self.used, 0)


RATE_WINDOW = 60  # seconds: the burst limit counts requests per minute

# A taken slot, to give back with BurstLimiter.release: its time in memory, its unique
# member in Redis.
Slot = float | str


def _refused(retry_in: float, per_minute: int) -> RateLimited:
    return RateLimited("burst limit", retry_in=max(1, int(retry_in + 0.999)), per_minute=per_minute)


class BurstLimiter:
    """Requests per user in the last :data:`RATE_WINDOW` seconds (sliding window)."""

    def __init__(self, window: int = RATE_WINDOW, sweep_every: int = 1000) -> None:
        self.window = window
        self._recent: dict[int, deque[float]] = {}
        self._sweep_every = sweep_every
        self._since_sweep = 0

    async def take(self, user_id: int, per_minute: int, now: float) -> Slot:
        """Take one slot; raise RateLimited when the window is full."""
        return self.take_here(user_id, per_minute, now)

    async def release(self, user_id: int, slot: Slot) -> None:
        """Give back a slot whose request was refused for another reason."""
        self.release_here(user_id, slot)

    def take_here(self, user_id: int, per_minute: int, now: float) -> float:
        """:meth:`take` in this process's memory. Synchronous on purpose: concurrent callers
        cannot both see the last free slot."""
        if per_minute < 0:
            return now
        self._maybe_sweep(now)
        recent = self._recent.setdefault(user_id, deque())
        while recent and recent[0] <= now - self.window:
            recent.popleft()
        if len(recent) >= per_minute:
            raise _refused(recent[0] + self.window - now if recent else self.window, per_minute)
        recent.append(now)
        return now

    def release_here(self, user_id: int, slot: Slot) -> None:
        recent = self._recent.get(user_id)
        if recent is None or isinstance(slot, str):
            return
        try:
            recent.remove(slot)
        except ValueError:
            return

    def _maybe_sweep(self, now: float) -> None:
        self._since_sweep += 1
        if self._since_sweep < self._sweep_every:
            return
        self._since_sweep = 0
        stale = [uid for uid, q in self._recent.items() if not q or q[-1] <= now - self.window]
        for uid in stale:
            del self._recent[uid]


class SharedBurstLimiter(BurstLimiter):
    """The same window kept in Redis for every process (the bot and the gateways).

    The window is measured on Redis's clock, so ``now`` only matters while Redis fails and
    the in-process window stands in."""

    def __init__(self, shared: SharedLimits, window: int = RATE_WINDOW) -> None:
        super().__init__(window)
        self.shared = shared

    async def take(self, user_id: int, per_minute: int, now: float) -> Slot:
        if per_minute < 0:
            return now
        if self.shared.available:
            member = uuid.uuid4().hex
            try:
                taken, wait_ms = await self.shared.run(
                    SLIDING_WINDOW,
                    self.shared.key("burst", user_id),
                    per_minute,
                    self.window * 1000,
                    member,
                )
            except Unavailable:
                pass
            else:
                if not taken:
                    raise _refused(int(wait_ms) / 1000, per_minute)
                return member
        return self.take_here(user_id, per_minute, now)

    async def release(self, user_id: int, slot: Slot) -> None:
        if not isinstance(slot, str):
            self.release_here(user_id, slot)
            return
        await self.shared.remove(self.shared.key("burst", user_id), slot)


def burst_limiter(shared: SharedLimits | None) -> BurstLimiter:
    """The burst limiter for a process: in Redis when it has shared limits, else in memory."""
    return BurstLimiter() if shared is None else SharedBurstLimiter(shared)


class QuotaService:
    def __init__(
        self, db: Database, limits: Mapping[str, Limits], burst: BurstLimiter | None = None
    ) -> None:
        self.db = db
        self.limits = limits
        self.burst = burst or BurstLimiter()

    async def tier_of(self, user_id: int, now: int | None = None) -> TierState:
        """The tier in force now; an expired tier counts as Free (expiry applied on read)."""
        now = clock.now() if now is None else now
        row = await self.db.fetchone(
            "SELECT tier, expires_at, source FROM user_tiers WHERE user_id = ?", (user_id,)
        )
        if row is None or row["tier"] == FREE:
            return TierState(FREE, None, None)
        if row["expires_at"] is not None and row["expires_at"] <= now:
            return TierState(FREE, None, None)
        return TierState(row["tier"], row["expires_at"], row["source"])

    def limit_for(self, tier: str, kind: str) -> int:
        return self.limits[tier].daily_limit(kind)

    async def spend(
        self,
        user_id: int,
        kind: str,
        *,
        amount: int = 1,
        now: int | None = None,
        tier: str | None = None,
        hold: bool = False,
        chat_id: int | None = None,
    ) -> Ticket:
        """Spend ``amount`` units of today's ``kind`` quota. ``tier``: the tier in force, when
        the caller has just read it (the HTTP API reads it with the key), else it is read."""
        if kind not in KINDS:
            raise ValueError(f"unknown quota kind {kind!r}")
        now = clock.now() if now is None else now
        if tier is None:
            tier = (await self.tier_of(user_id, now)).tier
        limit = self.limit_for(tier, kind)
        day = clock.utc_day(now)
        slot = await self.burst.take(user_id, self.limits[tier].per_minute, now)
        try:
            hold_id = None
            # One statement checks and spends: atomic on its own, no BEGIN/COMMIT needed (the
            # HTTP API's path, where every request spends); with a hold it is two together.
            async with self.db.transaction() if hold else self.db.autocommit() as conn:
                used = await usage_repo.spend(
                    conn, user_id=user_id, day=day, kind=kind, limit=limit, amount=amount
                )
                if used is not None and hold:
                    hold_id = await usage_repo.hold(
                        conn,
                        user_id=user_id,
                        chat_id=chat_id,
                        day=day,
                        kind=kind,
                        amount=amount,
                        now=now,
                    )
        except BaseException:
            await self.burst.release(user_id, slot)
            raise
        if used is None:
            await self.burst.release(user_id, slot)
            QUOTA_REFUSALS.labels(kind).inc()
            raise QuotaExceeded(
                f"{kind} quota spent",
                kind=kind,
                limit=limit,
                tier=tier,
                reset_in=clock.seconds_to_utc_midnight(now),
            )
        return Ticket(
            user_id=user_id, kind=kind, day=day, amount=amount, _service=self, hold_id=hold_id
        )

    async def refund(self, ticket: Ticket) -> None:
        hold_id, ticket.hold_id = ticket.hold_id, None
        # As in spend(): one statement alone needs no transaction, two go together.
        async with self.db.autocommit() if hold_id is None else self.db.transaction() as conn:
            await usage_repo.refund(
                conn, user_id=ticket.user_id, day=ticket.day, kind=ticket.kind, amount=ticket.amount
            )
            if hold_id is not None:
                await usage_repo.release(conn, hold_id)

    async def recover(self) -> list[Interrupted]:
        """Give back every unit still held by work a previous run did not finish. Run once
        at start, before any update is handled."""
        async with self.db.transaction() as conn:
            rows = await usage_repo.holds(conn)
            for row in rows:
                await usage_repo.refund(
                    conn,
                    user_id=row["user_id"],
                    day=row["day"],
                    kind=row["kind"],
                    amount=row["amount"],
                )
                await usage_repo.release(conn, row["id"])
        return [Interrupted(row["user_id"], row["chat_id"], row["kind"]) for row in rows]

    async def today(self, user_id: int, now: int | None = None) -> list[KindUsage]:
        now = clock.now() if now is None else now
        tier = (await self.tier_of(user_id, now)).tier
        used = await self.db.fetchall(
            "SELECT kind, used FROM usage_daily WHERE user_id = ? AND day = ?",
            (user_id, clock.utc_day(now)),
        )
        counts = {row["kind"]: int(row["used"]) for row in used}
        return [KindUsage(kind, counts.get(kind, 0), self.limit_for(tier, kind)) for kind in KINDS]
