"""Rate limits shared by every process through Redis (``REDIS_URL``).

Without ``REDIS_URL`` each process keeps its limits in memory (``api.ratelimit.RateLimiter``,
``bot.services.quota.BurstLimiter``): two gateways let twice a key's limit through. With it,
the Redis-backed twins of those limiters below keep the counts in Redis, so a limit of N lets
N through in total whatever the number of processes (the bot and every gateway alike).

Each check is one Lua script, one round trip, run atomically by Redis: no two processes can
both take the last slot. Both scripts read Redis's own clock (``TIME``), so processes on
machines whose clocks disagree still count the same window. Keys carry a TTL: a user who
stops calling leaves nothing behind.

When Redis fails at runtime (down, unreachable, too slow) a limiter does not fail the
request: it falls back to its in-process twin (limits per process again, as without Redis),
logs a WARNING at most once a minute, and tries Redis again after ``retry_in`` seconds. At
start an unreachable ``REDIS_URL`` is a :class:`~bot.loop.StartupError` (one line, exit 2).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from bot.loop import StartupError

if TYPE_CHECKING:
    from redis.asyncio import Redis

# redis-py is imported only by a process that has REDIS_URL (about 4 MB of memory otherwise
# spent for nothing): by create_client, and by SharedLimits for the errors it catches.

logger = logging.getLogger("bot.shared_limits")

# A limiter check waits at most this long for Redis's answer (and twice that to connect)
# before the request goes on with the in-process limit: a slow Redis must not become a slow
# API.
TIMEOUT = 1.0
# Connections to Redis per process. A check holds one for a single round trip, so a few
# dozen serve thousands of requests per second. More callers queue for one: that wait is this
# process being busy, not Redis failing, so it may last longer (measured: 400 checks at once
# on a loaded 2-core machine waited more than a second, and fell back with a shorter wait).
MAX_CONNECTIONS = 64
POOL_WAIT = 10.0
# After a failure, checks use the in-process limit for this long before trying Redis again
# (so a Redis that is down costs one failed attempt per period, not one per request).
RETRY_IN = 5.0
WARN_EVERY = 60.0
DEFAULT_PREFIX = "vcbot:"

# Requests per second (the HTTP API): GCRA, the token bucket kept as one number per key, the
# "theoretical arrival time" (TAT) of the next request in microseconds of Redis's clock.
# ARGV: microseconds between requests (1/rate), burst tolerance ((capacity - 1)/rate).
# Returns 0 when allowed, else the microseconds to wait.
GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local wait = tat - tolerance - now
if wait > 0 then return math.ceil(wait) end
tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1)
return 0
"""

# Requests per minute (the bot's and the API's burst limit): a sliding window kept as a
# sorted set of the window's requests (score: milliseconds of Redis's clock), each a unique
# member so that one can be given back. ARGV: limit, window in ms, the member.
# Returns {1, 0} when taken, else {0, milliseconds until the oldest request leaves}.
SLIDING_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, tonumber(oldest[2]) + window - now}
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return {1, 0}
"""


def create_client(url: str) -> Redis:
    """A client for ``url`` with short timeouts and no retries (a failed check falls back
    at once instead of retrying while the caller waits)."""
    from redis.asyncio import BlockingConnectionPool, Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=POOL_WAIT,
        socket_timeout=TIMEOUT,
        socket_connect_timeout=2 * TIMEOUT,
        retry=Retry(NoBackoff(), 0),
    )
    return Redis.from_pool(pool)


async def connect(url: str) -> Redis:
    """The process's Redis client, once Redis answered; StartupError naming REDIS_URL when
    it does not (the URL itself is not shown: it may hold a password)."""
    from redis.exceptions import RedisError

    client = create_client(url)
    try:
        # Typed for the sync and the async client alike: awaited here, it is the async one.
        await cast("Awaitable[bool]", client.ping())
    except (RedisError, OSError) as exc:
        await client.aclose()
        raise StartupError(f"REDIS_URL: cannot reach Redis ({exc})") from None
    return client


async def open_shared(url: str | None, prefix: str = DEFAULT_PREFIX) -> SharedLimits | None:
    """The process's shared limits (None without ``REDIS_URL``): once per process, closed
    with :meth:`SharedLimits.close` at shutdown."""
    if url is None:
        return None
    return SharedLimits(await connect(url), prefix)


@dataclass(slots=True)
class SharedLimits:
    """The Redis client and key prefix both limiters use, and what they do when it fails."""

    client: Redis
    prefix: str = DEFAULT_PREFIX
    retry_in: float = RETRY_IN
    clock: Callable[[], float] = time.monotonic
    _down_until: float = field(default=float("-inf"), init=False)
    _warned_at: float = field(default=float("-inf"), init=False)
    _told_down: bool = field(default=False, init=False)  # the WARNING since the last success
    _scripts: dict[str, Any] = field(default_factory=dict, init=False)
    _failures: tuple[type[BaseException], ...] = field(init=False)  # set by __post_init__

    def __post_init__(self) -> None:
        from redis.exceptions import RedisError

        self._failures = (RedisError, OSError)

    async def close(self) -> None:
        await self.client.aclose()

    def key(self, kind: str, user_id: int) -> str:
        return f"{self.prefix}{kind}:{user_id}"

    @property
    def available(self) -> bool:
        """False for ``retry_in`` seconds after a failure: use the in-process limit."""
        return self.clock() >= self._down_until

    async def run(self, script: str, key: str, *args: float | str) -> Any:
        """Run ``script`` on ``key`` (EVALSHA, loading it on first use). Raises
        :class:`Unavailable` when Redis failed; the caller falls back."""
        runner = self._scripts.get(script)
        if runner is None:
            runner = self._scripts[script] = self.client.register_script(script)
        try:
            result = await runner(keys=[key], args=list(args))
        except self._failures as exc:
            self._failed(exc)
            raise Unavailable from None
        self._down_until = float("-inf")
        if self._told_down:
            self._told_down = False
            logger.warning("Redis answers again: rate limits are shared again")
        return result

    async def remove(self, key: str, member: str) -> None:
        """Remove ``member`` from the sorted set ``key``. A member that cannot be removed
        (Redis failed meanwhile) leaves with its window: a user waits a little longer,
        nothing else is lost."""
        try:
            await self.client.zrem(key, member)
        except self._failures as exc:
            self._failed(exc)

    def _failed(self, exc: BaseException) -> None:
        now = self.clock()
        self._down_until = now + self.retry_in
        if now - self._warned_at >= WARN_EVERY:
            self._warned_at = now
            self._told_down = True
            logger.warning(
                "Redis failed (%s: %s): rate limits are per process until it answers again",
                type(exc).__name__,
                exc,
            )


class Unavailable(Exception):
    """Redis did not answer a limiter check (already logged)."""
