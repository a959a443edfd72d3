"""Requests per second per key: a token bucket per key owner, in memory.

A tier allows ``rate`` requests per second with bursts of up to ``max(1, rate)`` requests.
:meth:`RateLimiter.take` never awaits anything, so two concurrent requests can never both
take the last token. Buckets that have filled up again are swept away now and then (a full
bucket and no bucket mean the same).

That limit is per process. :class:`SharedRateLimiter` keeps the same bucket in Redis
(``REDIS_URL``, see :mod:`bot.shared_limits`) for all processes, and falls back to its
in-process bucket while Redis fails.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping

from bot.shared_limits import GCRA, SharedLimits, Unavailable


class RateLimiter:
    def __init__(
        self,
        rates: Mapping[str, float],
        *,
        clock: Callable[[], float] = time.monotonic,
        sweep_every: int = 10_000,
    ) -> None:
        self.rates = dict(rates)
        self._clock = clock
        # user id -> (tokens, last refill time, time the bucket is full again)
        self._buckets: dict[int, tuple[float, float, float]] = {}
        self._sweep_every = sweep_every
        self._since_sweep = 0

    async def take(self, user_id: int, tier: str) -> float | None:
        """Take one request's token. Returns None when allowed, else the seconds to wait."""
        return self.take_here(user_id, tier)

    def take_here(self, user_id: int, tier: str) -> float | None:
        """:meth:`take` from this process's own buckets."""
        rate = self.rates.get(tier, -1.0)
        if rate < 0:
            return None
        now = self._clock()
        self._maybe_sweep(now)
        capacity = max(1.0, rate)
        tokens, last, _ = self._buckets.get(user_id, (capacity, now, now))
        tokens = min(capacity, tokens + (now - last) * rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self._buckets[user_id] = (tokens, now, now + (capacity - tokens) / rate)
        return None if allowed else (1.0 - tokens) / rate

    @staticmethod
    def retry_after(wait: float) -> str:
        """A Retry-After header value: whole seconds, at least 1."""
        return str(max(1, math.ceil(wait)))

    def _maybe_sweep(self, now: float) -> None:
        self._since_sweep += 1
        if self._since_sweep < self._sweep_every:
            return
        self._since_sweep = 0
        stale = [uid for uid, (_, _, full_at) in self._buckets.items() if full_at <= now]
        for uid in stale:
            del self._buckets[uid]


class SharedRateLimiter(RateLimiter):
    """The same limit kept in Redis for every process: one script call per request."""

    def __init__(self, rates: Mapping[str, float], shared: SharedLimits) -> None:
        super().__init__(rates)
        self.shared = shared

    async def take(self, user_id: int, tier: str) -> float | None:
        rate = self.rates.get(tier, -1.0)
        if rate < 0:
            return None
        if self.shared.available:
            interval = 1_000_000 / rate
            capacity = max(1.0, rate)
            try:
                wait = await self.shared.run(
                    GCRA, self.shared.key("rps", user_id), interval, (capacity - 1) * interval
                )
            except Unavailable:
                pass
            else:
                return None if int(wait) <= 0 else int(wait) / 1_000_000
        return self.take_here(user_id, tier)


def rate_limiter(rates: Mapping[str, float], shared: SharedLimits | None) -> RateLimiter:
    """The per-second limiter for a process: in Redis when it has shared limits, else in
    memory."""
    return RateLimiter(rates) if shared is None else SharedRateLimiter(rates, shared)
