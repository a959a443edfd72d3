"""End to end: a Stars purchase through ``python -m bot`` against the fake Bot API."""

from __future__ import annotations

import sqlite3

from bot.services import clock
from bot.services.payments import PaymentService
from storage.db import Database
from tests.conftest import TOKEN, make_settings
from tests.e2e_helpers import bot_db_path, db_rows, start_bot

USER = 700
ADMIN = 900


def receipt_for(charge):
    return lambda c: c["chat_id"] == USER and f"<code>{charge}</code>" in (c.text or "")


async def test_purchase_twice_delivered_credits_once_and_survives_a_restart(telegram, tmp_path):
    bot = await start_bot(telegram, tmp_path, TOKEN)
    try:
        telegram.push_update(telegram.make_message(USER, "/premium"))
        screen = await telegram.wait_for("sendMessage", lambda c: c["chat_id"] == USER)
        datas = [
            b["callback_data"] for row in screen["reply_markup"]["inline_keyboard"] for b in row
        ]
        assert "prem:buy:tier1" in datas

        telegram.push_update(telegram.make_callback(USER, "prem:buy:tier1"))
        invoice = await telegram.wait_for("sendInvoice")
        # aiogram's HTTP session leaves empty fields out: provider_token "" is not sent at all,
        # which Telegram accepts for Stars (the handler test checks the method's field).
        assert invoice["currency"] == "XTR" and invoice.get("provider_token", "") == ""
        assert [p["amount"] for p in invoice["prices"]] == [500]

        telegram.push_update(telegram.make_pre_checkout(USER, invoice["payload"], 500))
        answer = await telegram.wait_for("answerPreCheckoutQuery")
        assert answer["ok"] is True

        payment = telegram.make_successful_payment(USER, invoice["payload"], 500, "e2e-charge")
        telegram.push_update(payment)
        first = await telegram.wait_for("sendMessage", receipt_for("e2e-charge"))
        assert "Payment received" in first.text and "Tier 1 is active until" in first.text
        # Telegram delivers the same payment again (e.g. the offset was not confirmed).
        telegram.push_update({k: v for k, v in payment.items() if k != "update_id"})
        receipts = await telegram.wait_for("sendMessage", receipt_for("e2e-charge"), count=2)
        assert receipts[0].text == receipts[1].text

        telegram.push_update(telegram.make_message(USER, "/usage"))
        usage = await telegram.wait_for("sendMessage", lambda c: "usage today" in (c.text or ""))
        assert "Tier: <b>Tier 1</b> until" in usage.text
    finally:
        assert await bot.stop() == 0
    assert "Traceback" not in bot.stderr
    assert db_rows(tmp_path, "SELECT charge_id, status FROM payments") == [
        ("e2e-charge", "credited")
    ]

    # The bot dies after recording a second payment, before crediting it, and in the middle
    # of an admin's broadcast.
    await record_without_credit(tmp_path, "tier2", "left-over")
    con = sqlite3.connect(bot_db_path(tmp_path))
    con.execute(
        "INSERT INTO broadcasts (admin_id, text, created_at) VALUES (?, 'news <b>x</b>', 0)",
        (ADMIN,),
    )
    con.commit()
    con.close()

    bot = await start_bot(telegram, tmp_path, TOKEN, ADMIN_IDS=str(ADMIN))
    try:
        await telegram.wait_for(
            "sendMessage", lambda c: c["chat_id"] == USER and c.text == "news <b>x</b>"
        )
        done = await telegram.wait_for(
            "sendMessage", lambda c: "Broadcast #1 finished" in (c.text or "")
        )
        assert done["chat_id"] == ADMIN
        resumed = [c.text for c in telegram.calls_of("sendMessage") if c["chat_id"] == ADMIN]
        assert "resumed after a restart" in resumed[0]
        scopes = [c["scope"] for c in telegram.calls_of("setMyCommands") if "scope" in c.params]
        assert {"type": "chat", "chat_id": ADMIN} in scopes
        receipt = await telegram.wait_for("sendMessage", receipt_for("left-over"))
        assert "Payment received" in receipt.text and "Tier 2 is active until" in receipt.text
        assert "payment left-over was left uncredited: credited now" in bot.stderr
        telegram.push_update(telegram.make_message(USER, "/usage"))
        usages = await telegram.wait_for(
            "sendMessage", lambda c: "usage today" in (c.text or ""), count=2
        )
        assert "Tier: <b>Tier 2</b> until" in usages[-1].text
        # Nothing was credited or sent twice for the first payment.
        first_receipts = [
            c for c in telegram.calls_of("sendMessage") if receipt_for("e2e-charge")(c)
        ]
        assert len(first_receipts) == 2
    finally:
        assert await bot.stop() == 0
    assert db_rows(tmp_path, "SELECT charge_id, status FROM payments ORDER BY charge_id") == [
        ("e2e-charge", "credited"),
        ("left-over", "credited"),
    ]


async def record_without_credit(tmp_path, tier: str, charge_id: str) -> None:
    settings = make_settings(tmp_path, DATABASE_PATH=str(bot_db_path(tmp_path)))
    db = await Database(settings.database_path).connect()
    try:
        service = PaymentService(db, settings)
        invoice = await service.create_invoice(USER, tier)
        await service.record(
            user_id=USER,
            charge_id=charge_id,
            provider_charge_id=None,
            payload=invoice.payload,
            currency="XTR",
            amount=invoice.amount,
            now=clock.now(),
        )
    finally:
        await db.close()
