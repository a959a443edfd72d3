"""Tiers, prices and quotas as plain data.

Daily quotas count requests per UTC day and kind; a negative number means unlimited.
``per_minute`` is the burst limit (requests of any kind per minute; negative = unlimited).
Every number can be overridden from the environment (see ``bot.config``).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

FREE = "free"
TIER1 = "tier1"
TIER2 = "tier2"
TIERS: tuple[str, ...] = (FREE, TIER1, TIER2)
PAID_TIERS: tuple[str, ...] = (TIER1, TIER2)

CHAT = "chat"
IMAGE = "image"
GIF = "gif"
KINDS: tuple[str, ...] = (CHAT, IMAGE, GIF)

UNLIMITED = -1
PERIOD_DAYS = 30
TRIAL_HOURS = 24

# Rank decides upgrades: buying a higher tier starts now, the same tier extends.
RANK = MappingProxyType({FREE: 0, TIER1: 1, TIER2: 2})


@dataclass(frozen=True, slots=True)
class Limits:
    daily: dict[str, int]
    per_minute: int

    def daily_limit(self, kind: str) -> int:
        return self.daily[kind]

    def is_unlimited(self, kind: str) -> bool:
        return self.daily[kind] < 0


_DEFAULTS: dict[str, tuple[dict[str, int], int]] = {
    FREE: ({CHAT: 30, IMAGE: 5, GIF: 2}, 10),
    TIER1: ({CHAT: 300, IMAGE: 60, GIF: 20}, 30),
    TIER2: ({CHAT: UNLIMITED, IMAGE: UNLIMITED, GIF: UNLIMITED}, 60),
}


def default_limits() -> dict[str, Limits]:
    return {
        tier: Limits(daily=dict(daily), per_minute=per_minute)
        for tier, (daily, per_minute) in _DEFAULTS.items()
    }
