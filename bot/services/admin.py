"""Admin rules that are not Telegram: statistics, bans, and parsing of admin arguments."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.services import clock
from bot.tiers import FREE, TIER1, TIER2, TIERS
from storage import admin as admin_repo
from storage.db import Database

logger = logging.getLogger(__name__)

MAX_GRANT_DAYS = 3650
_TIER_ALIASES = {"free": FREE, "0": FREE, "tier1": TIER1, "1": TIER1, "tier2": TIER2, "2": TIER2}


@dataclass(frozen=True, slots=True)
class Stats:
    day: str
    users: int
    banned: int
    blocked_bot: int
    active_keys: int
    per_tier: dict[str, int]  # tiers in force now; Free = everyone else
    usage_today: dict[str, int]
    stars_this_month: int
    # Monthly plans: tier -> (subscribers whose plan renews, their Stars a month).
    subscribers: dict[str, tuple[int, int]] = field(default_factory=dict)
    canceled_this_month: int = 0  # subscriptions whose renewal was stopped this month


@dataclass(frozen=True, slots=True)
class GrantArgs:
    user_id: int
    tier: str
    days: int


def month_start(ts: int) -> int:
    moment = datetime.fromtimestamp(ts, UTC)
    return int(datetime(moment.year, moment.month, 1, tzinfo=UTC).timestamp())


# Telegram user ids are positive and fit a signed 64-bit integer (SQLite's INTEGER too).
MAX_USER_ID = 2**63 - 1


def _ascii_number(text: str) -> int | None:
    """``text`` as a number when it is ASCII digits only. ``str.isdecimal`` alone also takes
    other scripts' digits (Arabic-Indic, Devanagari, ...), which ``int`` then reads."""
    if not text or len(text) > 19 or not (text.isascii() and text.isdigit()):
        return None
    return int(text)


def parse_user_id(text: str | None) -> int | None:
    """A user id: ASCII digits, 1 to 2**63 - 1. ``None`` for anything else."""
    value = _ascii_number((text or "").strip())
    return value if value is not None and 0 < value <= MAX_USER_ID else None


def parse_grant(text: str | None) -> GrantArgs | None:
    """``<user_id> <tier> <days>``; days may be left out only for ``free``."""
    parts = (text or "").split()
    if len(parts) not in (2, 3):
        return None
    user_id = parse_user_id(parts[0])
    tier = _TIER_ALIASES.get(parts[1].lower())
    if user_id is None or tier is None:
        return None
    if len(parts) == 2:
        return GrantArgs(user_id, tier, 0) if tier == FREE else None
    days = _ascii_number(parts[2])
    if days is None:
        return None
    if tier != FREE and not 1 <= days <= MAX_GRANT_DAYS:
        return None
    return GrantArgs(user_id, tier, days)


class AdminService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def stats(self, now: int | None = None) -> Stats:
        now = clock.now() if now is None else now
        day = clock.utc_day(now)
        # Whole-table counts: off the event loop, on a read-only connection (no write lock).
        counts = await admin_repo.counts(self.db, day=day, now=now, since=month_start(now))
        per_tier = counts.per_tier
        paid = sum(per_tier.get(tier, 0) for tier in TIERS if tier != FREE)
        tiers = {tier: per_tier.get(tier, 0) for tier in TIERS}
        tiers[FREE] = max(counts.users - paid, 0)
        return Stats(
            day=day,
            users=counts.users,
            banned=counts.banned,
            blocked_bot=counts.blocked_bot,
            active_keys=counts.active_keys,
            per_tier=tiers,
            usage_today=counts.usage,
            stars_this_month=counts.earned,
            subscribers=counts.subscribers,
            canceled_this_month=counts.canceled,
        )

    async def set_banned(self, user_id: int, banned: bool) -> bool:
        """False when the user is unknown."""
        async with self.db.transaction() as conn:
            found = await admin_repo.set_banned(conn, user_id, banned, clock.now())
        if found:
            logger.info("user %d %s", user_id, "banned" if banned else "unbanned")
        return found
