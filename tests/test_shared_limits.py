"""REDIS_URL: the per-second and per-minute limits shared by every process through Redis.

Most tests need a real Redis (``redis_url`` fixture: TEST_REDIS_URL, else skipped). Each
"process" is a limiter with a Redis client of its own; the three-gateway test runs real
``python -m api`` processes. What happens when Redis is not there needs no Redis at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from api.ratelimit import RateLimiter, SharedRateLimiter
from bot.config import ConfigError, Settings
from bot.services.errors import RateLimited
from bot.services.quota import BurstLimiter, QuotaService, SharedBurstLimiter
from bot.shared_limits import SharedLimits, create_client
from bot.tiers import Limits, default_limits
from storage.db import Database
from tests.e2e_helpers import Process, api_env, free_port
from tests.gateway_helpers import http_client, running_gateway, seed_key
from tests.test_startup_refusals import FRONTS, assert_one_line, run_front


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


@contextlib.asynccontextmanager
async def limits_in(url: str, prefix: str, **kwargs: float) -> AsyncIterator[SharedLimits]:
    """One process's shared limits: a client of its own, closed afterwards."""
    shared = SharedLimits(create_client(url), prefix, **kwargs)
    try:
        yield shared
    finally:
        await shared.close()


class Proxy:
    """A TCP relay to Redis that can go away and come back on the same port: Redis going
    down and up again, as the limiters see it."""

    def __init__(self, url: str) -> None:
        client = Redis.from_url(url)
        kwargs = client.connection_pool.connection_kwargs
        self.target = (kwargs.get("host", "127.0.0.1"), kwargs.get("port", 6379))
        self.db = kwargs.get("db", 0)
        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/{self.db}"

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.writers):
            writer.close()
        await self.server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.writers -= {writer, up_writer}


# --- the Lua limiters, exact under concurrency ---------------------------------------------


async def test_concurrent_takes_across_processes_let_the_bucket_through(redis_url, redis_prefix):
    """Four "processes", 400 takes at once against a bucket of 10 refilled at 10/s: 10 at
    once plus what refilled while they ran, never more."""
    async with contextlib.AsyncExitStack() as stack:
        limiters = [
            SharedRateLimiter(
                {"free": 10.0}, await stack.enter_async_context(limits_in(redis_url, redis_prefix))
            )
            for _ in range(4)
        ]
        started = time.monotonic()
        results = await asyncio.gather(*(limiters[i % 4].take(7, "free") for i in range(400)))
        elapsed = time.monotonic() - started
    allowed = sum(1 for wait in results if wait is None)
    assert 10 <= allowed <= 10 + 10 * elapsed + 1, (allowed, elapsed)
    waits = [wait for wait in results if wait is not None]
    assert len(waits) == 400 - allowed
    assert all(0 < wait <= 0.1 for wait in waits)


async def test_a_bucket_of_one_lets_exactly_one_through(redis_url, redis_prefix):
    async with contextlib.AsyncExitStack() as stack:
        limiters = [
            SharedRateLimiter(
                {"free": 0.01}, await stack.enter_async_context(limits_in(redis_url, redis_prefix))
            )
            for _ in range(4)
        ]
        results = await asyncio.gather(*(limiters[i % 4].take(8, "free") for i in range(400)))
        assert sum(1 for wait in results if wait is None) == 1
        # the wait is the refill time of one token (100 s), in Retry-After's whole seconds
        waits = [wait for wait in results if wait is not None]
        assert all(99 < wait <= 100 for wait in waits)
        assert RateLimiter.retry_after(max(waits)) == "100"
        # another key, another bucket; an unlimited tier never asks Redis
        assert await limiters[0].take(9, "free") is None
        assert await limiters[0].take(8, "tier2") is None
        async with limits_in(redis_url, redis_prefix) as shared:
            keys = sorted(
                [key.decode() async for key in shared.client.scan_iter(f"{redis_prefix}*")]
            )
    assert keys == [f"{redis_prefix}rps:8", f"{redis_prefix}rps:9"]


async def test_the_shared_bucket_refills_at_the_rate(redis_url, redis_prefix):
    async with limits_in(redis_url, redis_prefix) as shared:
        limiter = SharedRateLimiter({"free": 2.0}, shared)
        assert await limiter.take(1, "free") is None
        assert await limiter.take(1, "free") is None
        wait = await limiter.take(1, "free")
        assert wait is not None and 0 < wait <= 0.5
        await asyncio.sleep(wait + 0.05)
        assert await limiter.take(1, "free") is None
        ttl = await shared.client.pttl(shared.key("rps", 1))
        assert 0 < ttl <= 1100  # the key goes away once the bucket is full again


async def test_the_burst_limit_is_shared_by_two_limiters(redis_url, redis_prefix):
    """Two processes' burst limiters, 300 takes at once against 10 a minute: exactly 10."""
    async with limits_in(redis_url, redis_prefix) as one, limits_in(redis_url, redis_prefix) as two:
        limiters = [SharedBurstLimiter(one), SharedBurstLimiter(two)]

        async def take(i: int) -> object:
            try:
                return await limiters[i % 2].take(5, 10, 0.0)
            except RateLimited as exc:
                return exc

        results = await asyncio.gather(*(take(i) for i in range(300)))
        slots = [r for r in results if isinstance(r, str)]
        refusals = [r for r in results if isinstance(r, RateLimited)]
        assert len(slots) == 10 and len(set(slots)) == 10
        assert len(refusals) == 290
        assert all(55 <= r.params["retry_in"] <= 60 for r in refusals)
        # a slot given back by one process can be taken by the other
        await limiters[0].release(5, slots[0])
        assert isinstance(await limiters[1].take(5, 10, 0.0), str)
        with pytest.raises(RateLimited):
            await limiters[0].take(5, 10, 0.0)
        # another user has a window of their own
        assert isinstance(await limiters[0].take(6, 10, 0.0), str)


async def test_the_burst_window_slides(redis_url, redis_prefix):
    async with limits_in(redis_url, redis_prefix) as shared:
        limiter = SharedBurstLimiter(shared, window=1)
        await limiter.take(1, 2, 0.0)
        await limiter.take(1, 2, 0.0)
        with pytest.raises(RateLimited) as caught:
            await limiter.take(1, 2, 0.0)
        assert caught.value.params["retry_in"] == 1
        await asyncio.sleep(1.05)
        assert isinstance(await limiter.take(1, 2, 0.0), str)
        assert 0 < await shared.client.pttl(shared.key("burst", 1)) <= 1000


def _limits(per_minute: int, chat: int) -> dict[str, Limits]:
    table = default_limits()
    table["free"] = Limits(daily={**table["free"].daily, "chat": chat}, per_minute=per_minute)
    return table


async def test_quota_services_in_two_processes_share_the_burst_limit(db, redis_url, redis_prefix):
    await db.execute(
        "INSERT INTO users (id, first_name, created_at, updated_at) VALUES (1, 'u', 0, 0)"
    )
    async with limits_in(redis_url, redis_prefix) as one, limits_in(redis_url, redis_prefix) as two:
        services = [
            QuotaService(db, _limits(5, 100), SharedBurstLimiter(one)),
            QuotaService(db, _limits(5, 100), SharedBurstLimiter(two)),
        ]
        outcomes = await asyncio.gather(
            *(services[i % 2].spend(1, "chat") for i in range(60)), return_exceptions=True
        )
        assert sum(1 for o in outcomes if not isinstance(o, BaseException)) == 5
        assert all(isinstance(o, RateLimited) for o in outcomes if isinstance(o, BaseException))


async def test_a_daily_refusal_gives_the_shared_burst_slot_back(db, redis_url, redis_prefix):
    await db.execute(
        "INSERT INTO users (id, first_name, created_at, updated_at) VALUES (1, 'u', 0, 0)"
    )
    async with limits_in(redis_url, redis_prefix) as shared:
        service = QuotaService(db, _limits(2, 1), SharedBurstLimiter(shared))
        await service.spend(1, "chat")
        for _ in range(3):  # refused by the daily quota: no burst slot kept
            with pytest.raises(Exception) as caught:
                await service.spend(1, "chat")
            assert type(caught.value).__name__ == "QuotaExceeded"
        assert await shared.client.zcard(shared.key("burst", 1)) == 1
        await service.spend(1, "image")  # the second slot of two is still free


# --- Redis going away ---------------------------------------------------------------------


async def test_redis_going_away_falls_back_to_the_process_limit_and_comes_back(
    redis_url, redis_prefix, caplog
):
    proxy = Proxy(redis_url)
    await proxy.start()
    caplog.set_level(logging.WARNING, logger="bot.shared_limits")
    async with limits_in(proxy.url, redis_prefix, retry_in=0.0) as shared:
        limiter = SharedRateLimiter({"free": 0.01}, shared)
        burst = SharedBurstLimiter(shared)
        assert await limiter.take(1, "free") is None
        assert await limiter.take(1, "free") is not None  # Redis's bucket is empty
        await proxy.stop()
        # Redis gone: this process's own bucket (still full) decides, nothing raises
        assert await limiter.take(1, "free") is None
        assert await limiter.take(1, "free") is not None
        assert await burst.take(1, 1, 100.0) == 100.0  # an in-memory slot
        with pytest.raises(RateLimited):
            await burst.take(1, 1, 100.0)
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1  # once a minute, not once a request
        assert "rate limits are per process" in warnings[0].getMessage()
        await proxy.start()
        # back: Redis's bucket (empty since the first take) decides again
        assert await limiter.take(1, "free") is not None
        assert await limiter.take(2, "free") is None
        assert await shared.client.exists(shared.key("rps", 2)) == 1
        assert "shared again" in caplog.records[-1].getMessage()
    await proxy.stop()


async def test_after_a_failure_redis_is_left_alone_for_a_while():
    clock = [100.0]
    shared = SharedLimits(
        create_client(f"redis://127.0.0.1:{closed_port()}/0"),
        "x:",
        retry_in=5.0,
        clock=lambda: clock[0],
    )
    try:
        limiter = SharedRateLimiter({"free": 1.0}, shared)
        assert await limiter.take(1, "free") is None
        assert not shared.available
        clock[0] += 4.9
        assert not shared.available
        clock[0] += 0.2
        assert shared.available
    finally:
        await shared.close()


async def test_gateway_with_redis_down_answers_and_limits_per_process(tmp_path, upstream, caplog):
    """Redis unreachable at runtime: no 500, the per-second limit still holds per process."""
    shared = SharedLimits(create_client(f"redis://127.0.0.1:{closed_port()}/0"), "x:")
    caplog.set_level(logging.WARNING)
    try:
        async with running_gateway(
            tmp_path, upstream, app_kwargs={"shared": shared}, API_RATE_FREE_PER_SECOND="0.01"
        ) as gw:
            key = await seed_key(gw.db, 31)
            body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
            async with http_client() as http:
                answers = [
                    await http.post(
                        f"{gw.url}/v1/chat/completions",
                        headers={"Authorization": f"Bearer {key}"},
                        json=body,
                    )
                    for _ in range(3)
                ]
    finally:
        await shared.close()
    assert [a.status_code for a in answers] == [200, 429, 429]
    assert answers[1].headers["Retry-After"] == "100"
    warnings = [r.getMessage() for r in caplog.records if r.name == "bot.shared_limits"]
    assert len(warnings) == 1 and "per process" in warnings[0]


# --- processes ----------------------------------------------------------------------------


async def test_three_gateways_share_a_limit_of_two_per_second(
    tmp_path, upstream, redis_url, redis_prefix
):
    db = await Database(tmp_path / "data" / "bot.sqlite3").connect()
    key = await seed_key(db, 1)
    await db.close()
    env = {
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": redis_prefix,
        "API_RATE_FREE_PER_SECOND": "2",
        "RATE_FREE_PER_MINUTE": "-1",
        "QUOTA_FREE_CHAT": "-1",
    }
    procs = []
    try:
        for _ in range(3):
            port = free_port()
            proc = await Process(
                "api", api_env(tmp_path, upstream.url, port, **env), tmp_path
            ).start()
            procs.append((proc, f"http://127.0.0.1:{port}"))
        for proc, _ in procs:
            await proc.wait_for_log("gateway listening", timeout=60)
        statuses: list[tuple[int, int]] = []
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        duration = 3.0
        async with http_client() as http:
            started = time.monotonic()

            async def hammer(worker: int) -> None:
                url = procs[worker % 3][1]
                while time.monotonic() - started < duration:
                    answer = await http.post(
                        f"{url}/v1/chat/completions",
                        headers={"Authorization": f"Bearer {key}"},
                        json=body,
                    )
                    statuses.append((worker % 3, answer.status_code))

            await asyncio.gather(*(hammer(i) for i in range(6)))
            elapsed = time.monotonic() - started
    finally:
        codes = [await proc.stop() for proc, _ in procs]
    assert codes == [0, 0, 0]
    allowed = sum(1 for _, status in statuses if status == 200)
    assert {status for _, status in statuses} == {200, 429}
    # A bucket of 2 refilled at 2/s over the whole run lets at most 2 + 2 x elapsed through
    # in total (each process alone would let that many through: three times as many).
    assert allowed <= 2 + 2 * elapsed + 1, (allowed, elapsed, len(statuses))
    assert allowed >= duration, (allowed, elapsed, len(statuses))
    # every gateway refused some: they all saw the one shared bucket
    assert {proc for proc, status in statuses if status == 429} == {0, 1, 2}
    for proc, _ in procs:
        assert "Traceback" not in proc.stderr


async def test_the_in_memory_limiter_is_the_default(tmp_path, upstream):
    async with running_gateway(tmp_path, upstream) as gw:
        from api.app import GATEWAY

        gateway = gw.app[GATEWAY]
        assert type(gateway.limiter) is RateLimiter
        assert type(gateway.quota.burst) is BurstLimiter


# --- start-up -----------------------------------------------------------------------------


@pytest.mark.parametrize("front", FRONTS)
@pytest.mark.parametrize(
    "value", ["http://127.0.0.1:6379", "redis://", "redis://h/db1", "redis://:s3cret@h:99999"]
)
async def test_a_malformed_redis_url_stops_both_processes(front, value, tmp_path):
    code, lines = await run_front(front, tmp_path, REDIS_URL=value)
    assert_one_line(code, lines, "REDIS_URL")
    assert "s3cret" not in lines[0]


@pytest.mark.parametrize("front", FRONTS)
async def test_an_unreachable_redis_stops_both_processes(front, tmp_path):
    url = f"redis://:s3cret@127.0.0.1:{closed_port()}/0"
    code, lines = await run_front(front, tmp_path, REDIS_URL=url)
    assert_one_line(code, lines, "REDIS_URL")
    assert "cannot reach Redis" in lines[0] and "s3cret" not in lines[0]


async def test_a_bad_key_prefix_stops_the_gateway(tmp_path):
    code, lines = await run_front("api", tmp_path, REDIS_KEY_PREFIX="has space")
    assert_one_line(code, lines, "REDIS_KEY_PREFIX")


@pytest.mark.parametrize(
    "value", ["redis://127.0.0.1:6379/3", "rediss://:pw@cache.example:6380", "unix:///run/r.sock"]
)
def test_redis_url_forms_accepted(value):
    settings = Settings.from_env({"REDIS_URL": value}, require_bot_token=False)
    assert settings.redis_url == value
    assert settings.redis_key_prefix == "vcbot:"
    assert value not in repr(settings)


@pytest.mark.parametrize(
    "value", ["127.0.0.1:6379", "redis://h:port", "unix://sock", "rediss://h/1/2", "redis://h:0"]
)
def test_redis_url_forms_refused_without_echoing_the_value(value):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"REDIS_URL": value}, require_bot_token=False)
    assert caught.value.variable == "REDIS_URL"
    assert value not in str(caught.value)


def test_the_redis_password_is_redacted_from_logs():
    settings = Settings.from_env(
        {"REDIS_URL": "redis://user:hunter2secret@h:6379/0"}, require_bot_token=False
    )
    assert "hunter2secret" in settings.secrets
    assert Settings.from_env({}, require_bot_token=False).redis_url is None
