"""The per-tier burst limit (requests per minute) in the quota seam."""

import asyncio

import pytest

from bot.services.errors import QuotaExceeded, RateLimited
from bot.services.quota import BurstLimiter, QuotaService
from bot.tiers import Limits, default_limits

# SQLite always; PostgreSQL too when TEST_DATABASE_URL is set (tests/conftest.py).
pytestmark = pytest.mark.both_engines

T0 = 1_767_225_600 + 3600  # 2026-01-01 01:00 UTC


async def add_user(db, uid=1):
    await db.execute(
        "INSERT INTO users (id, first_name, created_at, updated_at) VALUES (?, 'u', 0, 0)", (uid,)
    )


def limits(tier="free", per_minute=3, **daily):
    table = default_limits()
    merged = dict(table[tier].daily)
    merged.update(daily)
    table[tier] = Limits(daily=merged, per_minute=per_minute)
    return table


async def test_burst_limit_refuses_then_recovers_after_a_minute(db):
    await add_user(db)
    service = QuotaService(db, limits(per_minute=3, chat=100))
    for i in range(3):
        await service.spend(1, "chat", now=T0 + i)
    with pytest.raises(RateLimited) as info:
        await service.spend(1, "chat", now=T0 + 10)
    # The oldest of the three leaves the window at T0 + 60.
    assert info.value.params["retry_in"] == 50
    assert info.value.text_key == "error.rate"
    await service.spend(1, "chat", now=T0 + 60)
    # Refused requests spent nothing from the daily quota.
    assert {u.kind: u.used for u in await service.today(1, now=T0 + 60)}["chat"] == 4


async def test_burst_limit_counts_every_kind_together(db):
    await add_user(db)
    service = QuotaService(db, limits(per_minute=2))
    await service.spend(1, "chat", now=T0)
    await service.spend(1, "image", now=T0)
    with pytest.raises(RateLimited):
        await service.spend(1, "gif", now=T0)


async def test_burst_limit_is_per_user(db):
    await add_user(db, 1)
    await add_user(db, 2)
    service = QuotaService(db, limits(per_minute=1))
    await service.spend(1, "chat", now=T0)
    await service.spend(2, "chat", now=T0)
    with pytest.raises(RateLimited):
        await service.spend(1, "chat", now=T0)


async def test_burst_limit_follows_the_tier(db):
    await add_user(db)
    table = limits(per_minute=1)
    table["tier1"] = Limits(daily=dict(table["tier1"].daily), per_minute=5)
    await db.execute(
        "INSERT INTO user_tiers (user_id, tier, expires_at, source, updated_at) "
        "VALUES (1, 'tier1', ?, 'payment', 0)",
        (T0 + 86400,),
    )
    service = QuotaService(db, table)
    for _ in range(5):
        await service.spend(1, "chat", now=T0)
    with pytest.raises(RateLimited):
        await service.spend(1, "chat", now=T0)


async def test_negative_burst_limit_is_unlimited(db):
    await add_user(db)
    service = QuotaService(db, limits(per_minute=-1, chat=-1))
    for _ in range(300):
        await service.spend(1, "chat", now=T0)


async def test_200_concurrent_spends_at_burst_limit_10(db):
    await add_user(db)
    service = QuotaService(db, limits(per_minute=10, chat=1000))
    results = await asyncio.gather(
        *(service.spend(1, "chat", now=T0) for _ in range(200)), return_exceptions=True
    )
    ok = [r for r in results if not isinstance(r, BaseException)]
    limited = [r for r in results if isinstance(r, RateLimited)]
    assert len(ok) == 10 and len(limited) == 190
    assert {u.kind: u.used for u in await service.today(1, now=T0)}["chat"] == 10


async def test_200_concurrent_spends_daily_10_burst_50(db):
    """Both limits at once: the daily quota of 10 holds, and refused daily spends do not
    eat the burst allowance."""
    await add_user(db)
    service = QuotaService(db, limits(per_minute=50, chat=10))
    results = await asyncio.gather(
        *(service.spend(1, "chat", now=T0) for _ in range(200)), return_exceptions=True
    )
    ok = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, QuotaExceeded | RateLimited)]
    assert len(ok) == 10 and len(refused) == 190
    assert {u.kind: u.used for u in await service.today(1, now=T0)}["chat"] == 10
    # 10 slots taken, 40 left in the window: an image spend is still allowed.
    await service.spend(1, "image", now=T0)


async def test_daily_refusal_gives_the_burst_slot_back(db):
    await add_user(db)
    service = QuotaService(db, limits(per_minute=2, gif=1))
    await service.spend(1, "gif", now=T0)
    for _ in range(5):
        with pytest.raises(QuotaExceeded):
            await service.spend(1, "gif", now=T0)
    await service.spend(1, "chat", now=T0)  # second slot of two still free


async def test_limiter_sweeps_idle_users():
    limiter = BurstLimiter(sweep_every=10)
    for uid in range(10):
        await limiter.take(uid, 5, 100.0)
    for i in range(10):
        await limiter.take(999, 100, 1000.0 + i)
    assert set(limiter._recent) == {999}
