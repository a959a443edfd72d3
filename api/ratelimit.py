"""Requests per second per key: a token bucket per key owner, in memory.

A tier allows ``rate`` requests per second with bursts of up to ``max(1, rate)`` requests.
:meth:`RateLimiter.take` is synchronous, so two concurrent requests can never both take the
last token. Buckets that have filled up again are swept away now and then (a full bucket
and no bucket mean the same).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping


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

    def take(self, user_id: int, tier: str) -> float | None:
        """Take one request's token. Returns None when allowed, else the seconds to wait."""
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
