"""Pre-checkout and successful payments through the real dispatcher."""

from aiogram.methods import AnswerPreCheckoutQuery, SendMessage

from bot.services import clock
from bot.services.payments import make_payload
from tests.harness import harness
from tests.premium_helpers import buy, pay, pre_checkout, request_invoice

T0 = 1_767_225_600 + 12 * 3600  # 2026-01-01 12:00 UTC
ADMIN = 900


def freeze(monkeypatch, moment):
    monkeypatch.setattr(clock, "now", lambda: moment)


async def test_invoice_pre_checkout_payment_then_usage_shows_the_tier(tmp_path, monkeypatch):
    freeze(monkeypatch, T0)
    async with harness(tmp_path) as h:
        invoice = await request_invoice(h, 1, "tier1")
        answer = await pre_checkout(h, 1, invoice)
        assert answer.ok is True and answer.error_message is None
        receipt = await pay(h, 1, invoice, "tg-charge-1")
        assert "Payment received" in receipt
        assert "Tier 1 is active until 2026-01-31 12:00 UTC" in receipt
        assert "Paid: 500 ⭐ for 30 days of Tier 1" in receipt
        assert "<code>tg-charge-1</code>" in receipt
        await h.message(1, "/usage")
        assert "Tier: <b>Tier 1</b> until 2026-01-31 12:00 UTC" in h.texts()[-1]
        assert "Chat: 0 / 300" in h.texts()[-1]


async def test_same_payment_delivered_twice_credits_once(tmp_path, monkeypatch):
    freeze(monkeypatch, T0)
    async with harness(tmp_path) as h:
        invoice = await request_invoice(h, 2, "tier2")
        await pre_checkout(h, 2, invoice)
        first = await pay(h, 2, invoice, "dup")
        freeze(monkeypatch, T0 + 3600)
        second = await pay(h, 2, invoice, "dup")
        assert first == second  # the receipt again, same expiry
        assert "until 2026-01-31 12:00 UTC" in second
        assert await h.db.fetchval("SELECT COUNT(*) FROM payments") == 1
        expires = await h.db.fetchval("SELECT expires_at FROM user_tiers WHERE user_id = 2")
        assert expires == T0 + 30 * 86400


async def test_second_purchase_extends_with_a_receipt(tmp_path, monkeypatch):
    freeze(monkeypatch, T0)
    async with harness(tmp_path) as h:
        await buy(h, 3, "tier1", "a")
        receipt = await buy(h, 3, "tier1", "b")
        assert "until 2026-03-02 12:00 UTC" in receipt  # 60 days


async def test_upgrade_receipt_mentions_the_converted_days(tmp_path, monkeypatch):
    freeze(monkeypatch, T0)
    async with harness(tmp_path) as h:
        await buy(h, 4, "tier1", "a")
        freeze(monkeypatch, T0 + 20 * 86400)  # 10 days left: 5 days of Tier 2
        receipt = await buy(h, 4, "tier2", "b")
        assert "Tier 2 is active until 2026-02-25 12:00 UTC" in receipt
        assert "Includes 5 d 0 h converted" in receipt


async def test_pre_checkout_refusals_are_readable_in_the_users_language(tmp_path):
    async with harness(tmp_path, TIER1_PRICE_STARS="500") as h:
        invoice = await request_invoice(h, 5, "tier1")
        answer = await pre_checkout(h, 5, invoice, amount=1)
        assert answer.ok is False and "price has changed" in answer.error_message
        answer = await pre_checkout(h, 5, invoice, currency="USD")
        assert answer.ok is False and "not valid" in answer.error_message
        forged = make_payload(5, "tier1", "ForgedNonce12345")
        answer = await pre_checkout(h, 5, invoice, payload=forged, language_code="ru")
        assert answer.ok is False and "не действует" in answer.error_message
        # Someone else paying this user's invoice.
        answer = await pre_checkout(h, 6, invoice)
        assert answer.ok is False and "not valid" in answer.error_message
        await pay(h, 5, invoice, "paid-once")
        answer = await pre_checkout(h, 5, invoice)
        assert answer.ok is False and "already been paid" in answer.error_message
        for call in h.session.calls_of(AnswerPreCheckoutQuery):
            assert call.error_message is None or "<" not in call.error_message


async def test_price_change_between_invoice_and_checkout_is_refused(tmp_path):
    async with harness(tmp_path, TIER1_PRICE_STARS="500") as h:
        invoice = await request_invoice(h, 7, "tier1")
        from bot.services.payments import PaymentService
        from tests.conftest import make_settings

        h.dp.workflow_data["payments"] = PaymentService(
            h.db, make_settings(tmp_path, TIER1_PRICE_STARS="600")
        )
        answer = await pre_checkout(h, 7, invoice)
        assert answer.ok is False and "price has changed" in answer.error_message


async def test_unmatched_payment_is_kept_and_admins_are_told(tmp_path):
    async with harness(tmp_path, ADMIN_IDS=str(ADMIN)) as h:
        await h.message(ADMIN, "/start")
        update = h.session.make_successful_payment(8, "not-ours", 42, "weird-charge")
        await h.feed(update)
        texts = {call.chat_id: call.text for call in h.session.calls_of(SendMessage)}
        assert "could not match it to an order" in texts[8]
        assert "/refund weird-charge" in texts[ADMIN]
        status = await h.db.fetchval("SELECT status FROM payments WHERE charge_id = 'weird-charge'")
        assert status == "unmatched"
        await h.message(8, "/usage")
        assert "Tier: <b>Free</b>" in h.texts()[-1]


async def test_banned_user_cannot_check_out_but_a_done_payment_is_credited(tmp_path):
    async with harness(tmp_path) as h:
        invoice = await request_invoice(h, 9, "tier1")
        await h.db.execute("UPDATE users SET is_banned = 1 WHERE id = 9")
        answer = await pre_checkout(h, 9, invoice)
        assert answer.ok is False and "blocked" in answer.error_message
        # Money that already moved is never lost: recorded and credited all the same.
        receipt = await pay(h, 9, invoice, "late")
        assert "Payment received" in receipt
        status = await h.db.fetchval("SELECT status FROM payments WHERE charge_id = 'late'")
        assert status == "credited"


async def test_pre_checkout_times_out_into_a_refusal(tmp_path, monkeypatch):
    import asyncio

    import handlers.payments as module

    async with harness(tmp_path) as h:
        invoice = await request_invoice(h, 10, "tier1")
        payments = h.dp.workflow_data["payments"]

        async def slow(**kwargs):
            await asyncio.sleep(3600)

        monkeypatch.setattr(payments, "check_pre_checkout", slow)
        monkeypatch.setattr(module, "PRE_CHECKOUT_BUDGET", 0.01)
        answer = await pre_checkout(h, 10, invoice)
        assert answer.ok is False and "busy" in answer.error_message


async def test_a_payment_that_cannot_be_stored_is_logged_for_the_operator(tmp_path, caplog):
    import logging

    async with harness(tmp_path) as h:
        invoice = await request_invoice(h, 11, "tier1")
        payments = h.dp.workflow_data["payments"]

        async def broken(**kwargs):
            raise RuntimeError("database is locked")

        payments.receive = broken
        with caplog.at_level(logging.ERROR):
            text = await pay(h, 11, invoice, "lost-charge")
        assert "Sorry" in text  # the user hears about it, no silence
        assert "successful payment not processed: charge lost-charge, user 11, 500 XTR" in (
            caplog.text
        )
