"""AdminService and admin argument parsing: stats, bans, /grant arguments."""

import pytest

from bot.services.admin import AdminService, month_start, parse_grant, parse_user_id
from bot.services.payments import PaymentService
from bot.services.quota import QuotaService
from bot.tiers import default_limits

# SQLite always; PostgreSQL too when TEST_DATABASE_URL is set (tests/conftest.py).
pytestmark = pytest.mark.both_engines

T0 = 1_767_225_600 + 15 * 86400  # 2026-01-16 00:00 UTC


async def add_user(db, uid, **cols):
    await db.execute(
        "INSERT INTO users (id, first_name, is_banned, blocked_bot, created_at, updated_at) "
        "VALUES (?, 'u', ?, ?, 0, 0)",
        (uid, cols.get("is_banned", 0), cols.get("blocked_bot", 0)),
    )


async def add_key(db, uid, active=True, reason=None):
    await db.execute(
        "INSERT INTO api_keys (user_id, key_hash, prefix, is_active, inactive_reason, created_at) "
        "VALUES (?, ?, 'vc_x', ?, ?, 0)",
        (uid, f"hash{uid}", int(active), reason),
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5 tier1 30", (5, "tier1", 30)),
        ("5 TIER2 1", (5, "tier2", 1)),
        ("5 2 10", (5, "tier2", 10)),
        ("5 free", (5, "free", 0)),
        ("5 free 3", (5, "free", 3)),
        ("  7   tier1   3650 ", (7, "tier1", 3650)),
    ],
)
def test_parse_grant_accepts(text, expected):
    args = parse_grant(text)
    assert args is not None and (args.user_id, args.tier, args.days) == expected


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "5",
        "5 tier1",
        "x tier1 3",
        "5 gold 3",
        "5 tier1 0",
        "5 tier1 3651",
        "5 tier1 -1",
        "5 tier1 1.5",
        "0 tier1 3",
        "5 tier1 3 extra",
    ],
)
def test_parse_grant_refuses(text):
    assert parse_grant(text) is None


def test_parse_user_id():
    assert parse_user_id(" 42 ") == 42
    for bad in (None, "", "abc", "-5", "0", "1" * 21, "4 2"):
        assert parse_user_id(bad) is None


def test_month_start():
    assert month_start(T0) == 1_767_225_600
    assert month_start(1_767_225_600) == 1_767_225_600


async def test_stats_counts_everything(db, settings):
    for uid in (1, 2, 3, 4):
        await add_user(db, uid)
    await add_user(db, 5, is_banned=1)
    await add_user(db, 6, blocked_bot=1)
    await add_key(db, 1)
    await add_key(db, 2)
    await add_key(db, 3, active=False, reason="left_channel")
    payments = PaymentService(db, settings)
    await payments.grant(1, "tier1", 5, now=T0)
    await payments.grant(2, "tier2", 5, now=T0)
    await payments.grant(3, "tier1", 1, now=T0 - 3 * 86400)  # expired: counts as Free
    # Stars: one credited this month, one refunded, one last month.
    for charge, status, created in (
        ("a", "credited", T0),
        ("b", "refunded", T0),
        ("c", "credited", T0 - 20 * 86400),
    ):
        await db.execute(
            "INSERT INTO payments (charge_id, user_id, tier, days, amount, currency, payload, "
            "status, created_at) VALUES (?, 1, 'tier1', 30, 500, 'XTR', 'p', ?, ?)",
            (charge, status, created),
        )
    quota = QuotaService(db, default_limits())
    await quota.spend(1, "chat", now=T0)
    await quota.spend(2, "chat", now=T0)
    await quota.spend(2, "image", now=T0)

    stats = await AdminService(db).stats(now=T0)
    assert (stats.users, stats.banned, stats.blocked_bot) == (6, 1, 1)
    assert stats.active_keys == 2
    assert stats.per_tier == {"free": 4, "tier1": 1, "tier2": 1}
    assert stats.usage_today == {"chat": 2, "image": 1}
    assert stats.stars_this_month == 500
    assert stats.day == "2026-01-16"


async def test_ban_and_unban(db):
    await add_user(db, 1)
    service = AdminService(db)
    assert await service.set_banned(1, True)
    assert await db.fetchval("SELECT is_banned FROM users WHERE id = 1") == 1
    assert await service.set_banned(1, False)
    assert await db.fetchval("SELECT is_banned FROM users WHERE id = 1") == 0


async def test_ban_unknown_user(db):
    assert not await AdminService(db).set_banned(999, True)
