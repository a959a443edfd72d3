"""End to end: a monthly Stars subscription through ``python -m bot`` against the fake Bot
API: renewals delivered while the bot was down, a renewal recorded but not credited when the
bot died, and the move to Tier 2 stopping the Tier 1 renewal."""

from __future__ import annotations

import sqlite3
import time

import pytest

from bot.services import clock
from bot.services.payments import PaymentService
from storage.db import Database
from tests.conftest import make_settings
from tests.e2e_helpers import start_bot
from tests.fakes.bot_api import FakeBotAPI

TOKEN = "555778:E2Esub-e2eTOKEN_e2etokenE2ETOKEN1234"
USER = 701
DAY = 86400


@pytest.fixture
async def api():
    async with FakeBotAPI(token=TOKEN, max_poll_timeout=1) as server:
        yield server


def db_rows(tmp_path, sql):
    con = sqlite3.connect(tmp_path / "data" / "bot.sqlite3")
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def receipt_for(charge):
    return lambda c: c["chat_id"] == USER and f"<code>{charge}</code>" in (c.text or "")


async def record_renewal_without_credit(tmp_path, payload: str, charge: str, end: int) -> None:
    settings = make_settings(tmp_path, DATABASE_PATH=str(tmp_path / "data" / "bot.sqlite3"))
    db = await Database(settings.database_path).connect()
    try:
        await PaymentService(db, settings).record(
            user_id=USER,
            charge_id=charge,
            provider_charge_id=None,
            payload=payload,
            currency="XTR",
            amount=500,
            now=clock.now(),
            recurring=True,
            period_end=end,
        )
    finally:
        await db.close()


async def test_subscription_renewals_across_restarts_and_the_move_to_tier2(api, tmp_path):
    now = int(time.time())
    end1, end2, end3 = now + 30 * DAY, now + 60 * DAY, now + 90 * DAY
    bot = await start_bot(api, tmp_path, TOKEN)
    try:
        allowed = (await api.wait_for("getUpdates")).get("allowed_updates")
        assert "subscription" in allowed and "pre_checkout_query" in allowed
        api.push_update(api.make_callback(USER, "prem:sub:tier1"))
        link = await api.wait_for("createInvoiceLink")
        assert link["subscription_period"] == 2592000 and link["currency"] == "XTR"
        offer = await api.wait_for("sendMessage", lambda c: "every month" in (c.text or ""))
        url = offer["reply_markup"]["inline_keyboard"][0][0]["url"]
        payload = api.invoice_links[url]["payload"]
        api.push_update(api.make_pre_checkout(USER, payload, 500))
        assert (await api.wait_for("answerPreCheckoutQuery"))["ok"] is True
        api.push_update(
            api.make_successful_payment(
                USER,
                payload,
                500,
                "s-1",
                subscription_expiration_date=end1,
                is_first_recurring=True,
            )
        )
        first = await api.wait_for("sendMessage", receipt_for("s-1"))
        assert "Your monthly Tier 1 renews on" in first.text
    finally:
        assert await bot.stop() == 0

    # While the bot is down Telegram renews the plan; the update waits at Telegram.
    api.push_update(
        api.make_successful_payment(
            USER, payload, 500, "s-2", subscription_expiration_date=end2, renews="s-1"
        )
    )
    bot = await start_bot(api, tmp_path, TOKEN)
    try:
        await api.wait_for("sendMessage", receipt_for("s-2"))
    finally:
        assert await bot.stop() == 0
    assert db_rows(tmp_path, "SELECT expires_at FROM user_tiers") == [(end2,)]

    # The next renewal was written down, then the bot died before crediting it.
    await record_renewal_without_credit(tmp_path, payload, "s-3", end3)
    bot = await start_bot(api, tmp_path, TOKEN)
    try:
        await api.wait_for("sendMessage", receipt_for("s-3"))
        assert "payment s-3 was left uncredited: credited now" in bot.stderr
        # Tier 2 now: the Tier 1 renewal is stopped at Telegram.
        api.push_update(api.make_callback(USER, "prem:sub:tier2"))
        links = await api.wait_for("createInvoiceLink", count=2)
        payload2 = links[1]["payload"]
        api.push_update(api.make_pre_checkout(USER, payload2, 1000))
        await api.wait_for("answerPreCheckoutQuery", count=2)
        api.push_update(
            api.make_successful_payment(
                USER,
                payload2,
                1000,
                "s2-1",
                subscription_expiration_date=now + 30 * DAY,
                is_first_recurring=True,
            )
        )
        edit = await api.wait_for("editUserStarSubscription")
        assert edit["telegram_payment_charge_id"] == "s-1" and edit["is_canceled"] is True
        assert api.star_subscriptions["s-1"]["canceled_by"] == "bot"
    finally:
        assert await bot.stop() == 0
    assert "Traceback" not in bot.stderr
    assert db_rows(tmp_path, "SELECT charge_id, status FROM payments ORDER BY charge_id") == [
        ("s-1", "credited"),
        ("s-2", "credited"),
        ("s-3", "credited"),
        ("s2-1", "credited"),
    ]
    assert db_rows(
        tmp_path, "SELECT tier, state, canceled_by FROM star_subscriptions ORDER BY tier"
    ) == [("tier1", "canceled", "switch"), ("tier2", "active", None)]
    ((tier, expires),) = db_rows(tmp_path, "SELECT tier, expires_at FROM user_tiers")
    # About 90 days of Tier 1 left, worth about 45 days of Tier 2, on top of its 30 days.
    assert tier == "tier2" and abs(expires - (now + 75 * DAY)) < 120
