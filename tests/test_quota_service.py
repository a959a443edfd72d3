import asyncio

import pytest

from bot.services import clock
from bot.services.errors import QuotaExceeded
from bot.services.quota import QuotaService
from bot.tiers import Limits, default_limits

# SQLite always; PostgreSQL too when TEST_DATABASE_URL is set (tests/conftest.py).
pytestmark = pytest.mark.both_engines


async def add_user(db, uid=1):
    await db.execute(
        "INSERT INTO users (id, first_name, created_at, updated_at) VALUES (?, 'u', 0, 0)", (uid,)
    )


def limits_with(per_minute=-1, **daily):
    """Free limits with some daily quotas changed; the burst limit is off unless given, so
    these tests see the daily quota alone (tests/test_quota_rate.py covers the burst limit)."""
    limits = default_limits()
    free = dict(limits["free"].daily)
    free.update(daily)
    limits["free"] = Limits(daily=free, per_minute=per_minute)
    return limits


async def test_spend_until_exceeded_then_explains(db):
    await add_user(db)
    service = QuotaService(db, limits_with(image=2))
    await service.spend(1, "image")
    await service.spend(1, "image")
    with pytest.raises(QuotaExceeded) as info:
        await service.spend(1, "image")
    assert info.value.params["kind"] == "image"
    assert info.value.params["limit"] == 2
    assert 0 < info.value.params["reset_in"] <= 86400


async def test_200_concurrent_spends_at_limit_10(db):
    await add_user(db)
    service = QuotaService(db, limits_with(chat=10))
    results = await asyncio.gather(
        *(service.spend(1, "chat") for _ in range(200)), return_exceptions=True
    )
    ok = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, QuotaExceeded)]
    assert len(ok) == 10 and len(refused) == 190
    usage = {u.kind: u.used for u in await service.today(1)}
    assert usage["chat"] == 10


async def test_refund_gives_the_unit_back_once(db):
    await add_user(db)
    service = QuotaService(db, limits_with(gif=1))
    ticket = await service.spend(1, "gif")
    await ticket.refund()
    await ticket.refund()  # second refund is a no-op
    assert {u.kind: u.used for u in await service.today(1)}["gif"] == 0
    await service.spend(1, "gif")
    with pytest.raises(QuotaExceeded):
        await service.spend(1, "gif")


async def test_expired_tier_counts_as_free(db):
    await add_user(db)
    now = clock.now()
    await db.execute(
        "INSERT INTO user_tiers (user_id, tier, expires_at, source, updated_at) "
        "VALUES (1, 'tier2', ?, 'payment', ?)",
        (now - 1, now),
    )
    service = QuotaService(db, default_limits())
    assert (await service.tier_of(1)).tier == "free"
    await db.execute("UPDATE user_tiers SET expires_at = ?", (now + 3600,))
    state = await service.tier_of(1)
    assert state.tier == "tier2" and state.expires_at == now + 3600
    # Tier 2 is unlimited by default: far more than Free's image limit goes through.
    for _ in range(20):
        await service.spend(1, "image")


async def test_days_are_separate(db):
    await add_user(db)
    service = QuotaService(db, limits_with(image=1))
    day1 = 1_767_225_600  # 2026-01-01 00:00 UTC
    await service.spend(1, "image", now=day1 + 10)
    with pytest.raises(QuotaExceeded):
        await service.spend(1, "image", now=day1 + 86399)
    await service.spend(1, "image", now=day1 + 86400)


async def test_unknown_kind_is_a_bug(db):
    with pytest.raises(ValueError):
        await QuotaService(db, default_limits()).spend(1, "video")
