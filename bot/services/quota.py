"""Tiers in force and daily quotas: the seam every paid-for feature spends through.

``QuotaService.spend(user_id, kind)`` either returns a :class:`Ticket` or raises
:class:`QuotaExceeded`; ``ticket.refund()`` gives the unit back when nothing was delivered.
The check and the increment are one SQL statement (see ``storage.usage.spend``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.services import clock
from bot.services.errors import QuotaExceeded
from bot.tiers import FREE, KINDS, Limits
from storage import usage as usage_repo
from storage.db import Database


@dataclass(frozen=True, slots=True)
class TierState:
    tier: str
    expires_at: int | None  # None: never (Free, or a permanent grant)
    source: str | None


@dataclass(slots=True)
class Ticket:
    """One spent unit. Refunding twice is a no-op."""

    user_id: int
    kind: str
    day: str
    amount: int
    _service: QuotaService = field(repr=False)
    refunded: bool = False

    async def refund(self) -> None:
        if self.refunded:
            return
        self.refunded = True
        await self._service.refund(self)


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


class QuotaService:
    def __init__(self, db: Database, limits: Mapping[str, Limits]) -> None:
        self.db = db
        self.limits = limits

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
        # One statement that checks and increments: it needs no explicit transaction.
        async with self.db.autocommit() as conn:
            used = await usage_repo.spend(
                conn, user_id=user_id, day=day, kind=kind, limit=limit, amount=amount
            )
        if used is None:
            raise QuotaExceeded(
                f"{kind} quota spent",
                kind=kind,
                limit=limit,
                tier=tier,
                reset_in=clock.seconds_to_utc_midnight(now),
            )
        return Ticket(user_id=user_id, kind=kind, day=day, amount=amount, _service=self)

    async def refund(self, ticket: Ticket) -> None:
        async with self.db.transaction() as conn:
            await usage_repo.refund(
                conn, user_id=ticket.user_id, day=ticket.day, kind=ticket.kind, amount=ticket.amount
            )

    async def today(self, user_id: int, now: int | None = None) -> list[KindUsage]:
        now = clock.now() if now is None else now
        tier = (await self.tier_of(user_id, now)).tier
        used = await self.db.fetchall(
            "SELECT kind, used FROM usage_daily WHERE user_id = ? AND day = ?",
            (user_id, clock.utc_day(now)),
        )
        counts = {row["kind"]: int(row["used"]) for row in used}
        return [KindUsage(kind, counts.get(kind, 0), self.limit_for(tier, kind)) for kind in KINDS]
