"""End to end: a monthly Stars subscription through ``python -m bot`` against the fake Bot
API: renewals delivered while the bot was down, a renewal recorded but not credited when the
bot died, and the move to Tier 2 stopping the Tier 1 renewal."""

from __future__ import annotations

import time

from bot.services import clock
from bot.services.payments import PaymentService
from storage.db import Database
from tests.conftest import TOKEN, make_settings
from tests.e2e_helpers import bot_db_path, db_rows, start_bot

USER = 701
DAY = 86400


def receipt_for(charge):
    return lambda c: c["chat_id"] == USER and f"<code>{charge}</code>" in (c.text or "")


async def record_renewal_without_credit(tmp_path, payload: str, charge: str, end: int) -> None:
    settings = make_settings(tmp_path, DATABASE_PATH=str(bot_db_path(tmp_path)))
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


async def test_subscription_renewals_across_restarts_and_the_move_to_tier2(telegram, tmp_path):
    now = int(time.time())
    end1, end2, end3 = now + 30 * DAY, now + 60 * DAY, now + 90 * DAY
    bot = await start_bot(telegram, tmp_path, TOKEN)
    try:
        allowed = (await telegram.wait_for("getUpdates")).get("allowed_updates")
        assert "subscription" in allowed and "pre_checkout_query" in allowed
        telegram.push_update(telegram.make_callback(USER, "prem:sub:tier1"))
        link = await telegram.wait_for("createInvoiceLink")
        assert link["subscription_period"] == 2592000 and link["currency"] == "XTR"
        offer = await telegram.wait_for("sendMessage", lambda c: "every month" in (c.text or ""))
        url = offer["reply_markup"]["inline_keyboard"][0][0]["url"]
        payload = telegram.invoice_links[url]["payload"]
        telegram.push_update(telegram.make_pre_checkout(USER, payload, 500))
        assert (await telegram.wait_for("answerPreCheckoutQuery"))["ok"] is True
        telegram.push_update(
            telegram.make_successful_payment(
                USER,
                payload,
                500,
                "s-1",
                subscription_expiration_date=end1,
                is_first_recurring=True,
            )
        )
        first = await telegram.wait_for("sendMessage", receipt_for("s-1"))
        assert "Your monthly Tier 1 renews on" in first.text
    finally:
        assert await bot.stop() == 0

    # While the bot is down Telegram renews the plan; the update waits at Telegram.
    telegram.push_update(
        telegram.make_successful_payment(
            USER, payload, 500, "s-2", subscription_expiration_date=end2, renews="s-1"
        )
    )
    bot = await start_bot(telegram, tmp_path, TOKEN)
    try:
        await telegram.wait_for("sendMessage", receipt_for("s-2"))
    finally:
        assert await bot.stop() == 0
    assert db_rows(tmp_path, "SELECT expires_at FROM user_tiers") == [(end2,)]

    # The next renewal was written down, then the bot died before crediting it.
    await record_renewal_without_credit(tmp_path, payload, "s-3", end3)
    bot = await start_bot(telegram, tmp_path, TOKEN)
    try:
        await telegram.wait_for("sendMessage", receipt_for("s-3"))
        assert "payment s-3 was left uncredited: credited now" in bot.stderr
        # Tier 2 now: the Tier 1 renewal is stopped at Telegram.
        telegram.push_update(telegram.make_callback(USER, "prem:sub:tier2"))
        links = await telegram.wait_for("createInvoiceLink", count=2)
        payload2 = links[1]["payload"]
        telegram.push_update(telegram.make_pre_checkout(USER, payload2, 1000))
        await telegram.wait_for("answerPreCheckoutQuery", count=2)
        telegram.push_update(
            telegram.make_successful_payment(
                USER,
                payload2,
                1000,
                "s2-1",
                subscription_expiration_date=now + 30 * DAY,
                is_first_recurring=True,
            )
        )
        edit = await telegram.wait_for("editUserStarSubscription")
        assert edit["telegram_payment_charge_id"] == "s-1" and edit["is_canceled"] is True
        assert telegram.star_subscriptions["s-1"]["canceled_by"] == "bot"
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
