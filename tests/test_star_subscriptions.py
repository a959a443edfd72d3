"""Monthly Stars subscriptions through the real dispatcher and the fake Bot API (in-process):
the invoice link, pre-checkout, first payment and renewals credited once, cancel/resume from
/premium, subscription updates, moving to Tier 2, /stats and /refund."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import (
    AnswerCallbackQuery,
    AnswerPreCheckoutQuery,
    CreateInvoiceLink,
    EditUserStarSubscription,
    RefundStarPayment,
    SendInvoice,
    SendMessage,
)
from aiogram.types import LabeledPrice, Update

from bot.services import clock, renewal_stops
from bot.services.payments import PaymentService
from bot.services.renewal_stops import RenewalStops
from handlers.adapters.payment_journal import PaymentJournal
from handlers.adapters.star_subscriptions import renewal_editor
from storage import tiers as tiers_repo
from tests.harness import Harness, harness
from tests.premium_helpers import buttons, buy

DAY = 86400
T0 = 1_767_225_600 + 12 * 3600  # 2026-01-01 12:00 UTC
END1 = T0 + 30 * DAY  # 2026-01-31 12:00 UTC
END2 = END1 + 30 * DAY  # 2026-03-02 12:00 UTC
ADMIN = 99


def freeze(monkeypatch: Any, moment: int) -> None:
    monkeypatch.setattr(clock, "now", lambda: moment)


async def subscription_link(h: Harness, user_id: int, tier: str, **kw: Any) -> CreateInvoiceLink:
    before = len(h.session.calls_of(CreateInvoiceLink))
    await h.feed(h.session.make_callback(user_id, f"prem:sub:{tier}", **kw))
    links = h.session.calls_of(CreateInvoiceLink)
    assert len(links) == before + 1, h.session.method_names()
    return links[-1]


async def pre_checkout(h: Harness, user_id: int, payload: str, amount: int) -> Any:
    await h.feed(h.session.make_pre_checkout(user_id, payload, amount))
    return h.session.last(AnswerPreCheckoutQuery)


async def subscribe(
    h: Harness, user_id: int, tier: str, charge: str, period_end: int, **kw: Any
) -> tuple[str, str]:
    """Take the link, pass pre-checkout, pay the first period; (payload, receipt)."""
    link = await subscription_link(h, user_id, tier)
    amount = link.prices[0].amount
    answer = await pre_checkout(h, user_id, link.payload, amount)
    assert answer.ok, answer.error_message
    await h.feed(
        h.session.make_successful_payment(
            user_id,
            link.payload,
            amount,
            charge,
            subscription_expiration_date=period_end,
            is_first_recurring=True,
            **kw,
        )
    )
    return link.payload, h.texts()[-1]


async def renew(
    h: Harness, user_id: int, payload: str, amount: int, charge: str, first: str, end: int
) -> str:
    await h.feed(
        h.session.make_successful_payment(
            user_id, payload, amount, charge, subscription_expiration_date=end, renews=first
        )
    )
    return h.texts()[-1]


async def tier_of(h: Harness, user_id: int) -> tuple[str, int | None]:
    async with h.db.transaction() as conn:
        row = await tiers_repo.get(conn, user_id)
    assert row is not None
    return row.tier, row.expires_at


async def sub_row(h: Harness, payload: str) -> tuple[Any, ...]:
    row = await h.db.fetchone(
        "SELECT state, canceled_by, period_end FROM star_subscriptions WHERE payload = ?",
        (payload,),
    )
    return tuple(row)


async def test_subscribe_gives_an_invoice_link_with_a_30_day_period(tmp_path, monkeypatch):
    freeze(monkeypatch, T0)
    async with harness(tmp_path, TIER2_PRICE_STARS="1234") as h:
        link = await subscription_link(h, 5, "tier2")
        assert link.currency == "XTR" and link.subscription_period == 2592000
        assert [p.amount for p in link.prices] == [1234]
        assert not link.provider_token
        offer = h.session.last(SendMessage)
        assert "Tier 2 every month" in offer.text and "1234 ⭐" in offer.text
        url = offer.reply_markup.inline_keyboard[0][0].url
        assert url in h.session.invoice_links
        assert h.session.invoice_links[url]["subscription_period"] == 2592000
        nonce = link.payload.rsplit(":", 1)[1]
        row = await h.db.fetchone(
            "SELECT subscription, amount FROM invoices WHERE nonce = ?", (nonce,)
        )
        assert tuple(row) == (1, 1234)
        # Russian
        await subscription_link(h, 6, "tier1", language_code="ru")
        assert "Tier 1 каждый месяц" in h.session.last(SendMessage).text


async def test_fake_telegram_refuses_what_telegram_refuses_for_subscriptions(tmp_path):
    async with harness(tmp_path) as h:
        bot = h.bot
        one = [LabeledPrice(label="x", amount=500)]
        for kwargs in (
            {"currency": "XTR", "prices": one, "subscription_period": 86400},
            {"currency": "USD", "prices": one, "subscription_period": 2592000},
            {"currency": "XTR", "prices": one * 2, "subscription_period": 2592000},
            {
                "currency": "XTR",
                "prices": [LabeledPrice(label="x", amount=10001)],
                "subscription_period": 2592000,
            },
        ):
            try:
                await bot.create_invoice_link(title="t", description="d", payload="p", **kwargs)
            except TelegramBadRequest:
                continue
            raise AssertionError(f"accepted {kwargs}")
        try:
            await bot.edit_user_star_subscription(
                user_id=1, telegram_payment_charge_id="nope", is_canceled=True
            )
        except TelegramBadRequest as exc:
            assert "CHARGE_ID_INVALID" in exc.message
        else:
            raise AssertionError("unknown charge accepted")


async def test_first_payment_and_renewals_are_credited_once_each(tmp_path, monkeypatch):
    freeze(monkeypatch, T0)
    async with harness(tmp_path) as h:
        payload, receipt = await subscribe(h, 7, "tier1", "sub-1", END1)
        assert "Tier 1 is active until 2026-01-31 12:00 UTC" in receipt
        assert "Your monthly Tier 1 renews on 2026-01-31 12:00 UTC" in receipt
        assert await tier_of(h, 7) == ("tier1", END1)
        # The same update again (Telegram repeats it): the same receipt, nothing more.
        again = h.session.make_successful_payment(
            7, payload, 500, "sub-1", subscription_expiration_date=END1, is_first_recurring=True
        )
        await h.feed(again)
        assert h.texts()[-1] == receipt
        assert await tier_of(h, 7) == ("tier1", END1)
        await h.message(7, "/premium")
        screen = h.session.last(SendMessage)
        assert "🔁 Renews on 2026-01-31 12:00 UTC for 500 ⭐." in screen.text
        assert ("Stop auto-renewal", "prem:cancel:") in buttons(screen)
        assert ("🔁 Subscribe to Tier 1 — 500 ⭐ a month", "prem:sub:tier1") not in buttons(screen)
        assert ("🔁 Subscribe to Tier 2 — 1000 ⭐ a month", "prem:sub:tier2") in buttons(screen)

        freeze(monkeypatch, END1 - 60)
        text = await renew(h, 7, payload, 500, "sub-2", "sub-1", END2)
        assert "Tier 1 is active until 2026-03-02 12:00 UTC" in text
        assert await tier_of(h, 7) == ("tier1", END2)
        await renew(h, 7, payload, 500, "sub-2", "sub-1", END2)  # a duplicate renewal
        assert await tier_of(h, 7) == ("tier1", END2)
        rows = await h.db.fetchall("SELECT charge_id, status, recurring FROM payments ORDER BY 1")
        assert [tuple(r) for r in rows] == [("sub-1", "credited", 1), ("sub-2", "credited", 1)]
        assert await sub_row(h, payload) == ("active", None, END2)
        # A second subscription to the same tier is not offered, nor sold.
        await h.feed(h.session.make_callback(7, "prem:sub:tier1"))
        answer = h.session.last(AnswerCallbackQuery)
        assert answer.show_alert and "renews already" in answer.text


async def test_pre_checkout_of_a_subscription_is_as_strict_as_a_purchase(tmp_path, monkeypatch):
    freeze(monkeypatch, T0)
    async with harness(tmp_path) as h:
        link = await subscription_link(h, 8, "tier1")
        wrong_amount = await pre_checkout(h, 8, link.payload, 499)
        assert not wrong_amount.ok and "price has changed" in wrong_amount.error_message
        other_user = await pre_checkout(h, 9, link.payload, 500)
        assert not other_user.ok and "not valid" in other_user.error_message
        forged = await pre_checkout(h, 8, link.payload[:-2] + "zz", 500)
        assert not forged.ok
        # A second link for the same tier, then the first is paid: the second is refused.
        second = await subscription_link(h, 8, "tier1")
        payload, _ = await subscribe_with(h, 8, link.payload, "s-1")
        assert not (await pre_checkout(h, 8, second.payload, 500)).ok
        assert "subscription to this tier" in h.session.last(AnswerPreCheckoutQuery).error_message
        # The paid one again: already paid.
        again = await pre_checkout(h, 8, payload, 500)
        assert not again.ok and "already been paid" in again.error_message


async def subscribe_with(h: Harness, user_id: int, payload: str, charge: str) -> tuple[str, str]:
    answer = await pre_checkout(h, user_id, payload, 500)
    assert answer.ok
    await h.feed(
        h.session.make_successful_payment(
            user_id,
            payload,
            500,
            charge,
            subscription_expiration_date=END1,
            is_first_recurring=True,
        )
    )
    return payload, h.texts()[-1]


async def test_payment_kind_must_match_the_invoice_kind(tmp_path, monkeypatch):
    freeze(monkeypatch, T0)
    async with harness(tmp_path) as h:
        link = await subscription_link(h, 10, "tier1")
        # A subscription's invoice paid without is_recurring: not ours to credit.
        await h.feed(h.session.make_successful_payment(10, link.payload, 500, "odd-1"))
        assert "could not match it to an order" in h.texts()[-1]
        # A one-off invoice paid as a subscription: the same.
        await h.feed(h.session.make_callback(10, "prem:buy:tier1"))
        one_off = h.session.last(SendInvoice)
        await h.feed(
            h.session.make_successful_payment(
                10,
                one_off.payload,
                500,
                "odd-2",
                subscription_expiration_date=END1,
                is_first_recurring=True,
            )
        )
        assert "could not match it to an order" in h.texts()[-1]
        rows = await h.db.fetchall("SELECT charge_id, status FROM payments ORDER BY 1")
        assert [tuple(r) for r in rows] == [("odd-1", "unmatched"), ("odd-2", "unmatched")]
        assert await h.db.fetchone("SELECT 1 FROM star_subscriptions") is None


async def test_cancel_and_resume_from_premium(tmp_path, monkeypatch):
    freeze(monkeypatch, T0)
    async with harness(tmp_path) as h:
        payload, _ = await subscribe(h, 11, "tier1", "c-1", END1)
        await h.feed(h.session.make_callback(11, "prem:cancel:"))
        edit = h.session.last(EditUserStarSubscription)
        assert (edit.user_id, edit.telegram_payment_charge_id, edit.is_canceled) == (
            11,
            "c-1",
            True,
        )
        shown = h.session.last(SendMessage)
        assert "Auto-renewal of Tier 1 is off" in shown.text
        assert "⏹ Auto-renewal is off: ends on 2026-01-31 12:00 UTC." in shown.text
        assert ("🔁 Resume auto-renewal", "prem:resume:") in buttons(shown)
        assert h.session.star_subscriptions["c-1"]["canceled_by"] == "bot"
        assert await sub_row(h, payload) == ("canceled", "bot", END1)
        await h.message(11, "/usage")
        assert "Auto-renewal is off: ends on 2026-01-31" in h.session.last(SendMessage).text

        await h.feed(h.session.make_callback(11, "prem:resume:"))
        edit = h.session.last(EditUserStarSubscription)
        assert edit.is_canceled is False
        assert "Auto-renewal of Tier 1 is back on" in h.session.last(SendMessage).text
        assert await sub_row(h, payload) == ("active", None, END1)
        await h.message(11, "/usage", language_code="ru")
        assert "🔁 Продлится 2026-01-31 12:00 UTC за 500 ⭐." in h.session.last(SendMessage).text

        # Telegram refuses the change: the user is told, nothing changes here.
        h.session.fail_next(EditUserStarSubscription, description="Bad Request: SOMETHING")
        await h.feed(h.session.make_callback(11, "prem:cancel:"))
        answer = h.session.last(AnswerCallbackQuery)
        assert answer.show_alert and "did not accept the change" in answer.text
        assert await sub_row(h, payload) == ("active", None, END1)
        # A stale resume button when nothing is cancelled.
        await h.feed(h.session.make_callback(11, "prem:resume:"))
        assert "no renewal to change" in h.session.last(AnswerCallbackQuery).text


async def test_subscription_updates_are_recorded_and_a_failure_told_once(tmp_path, monkeypatch):
    freeze(monkeypatch, T0)
    async with harness(tmp_path) as h:
        payload, _ = await subscribe(h, 12, "tier1", "u-1", END1, language_code="ru")
        await h.feed(h.session.make_subscription_update(12, payload, "canceled"))
        assert await sub_row(h, payload) == ("canceled", "user", END1)
        await h.message(12, "/premium")
        screen = h.session.last(SendMessage)
        assert "ends on 2026-01-31 12:00 UTC" in screen.text
        # The user cancelled in Telegram: only they can re-enable it, so no resume button.
        assert all(data != "prem:resume:" for _, data in buttons(screen))
        await h.feed(h.session.make_subscription_update(12, payload, "active"))
        assert await sub_row(h, payload) == ("active", None, END1)

        sent = len(h.texts())
        await h.feed(h.session.make_subscription_update(12, payload, "failed", language_code="ru"))
        await h.feed(h.session.make_subscription_update(12, payload, "failed", language_code="ru"))
        told = h.texts()[sent:]
        assert len(told) == 1
        assert "Telegram не смог продлить вашу подписку на Tier 1" in told[0]
        assert "до 2026-01-31 12:00 UTC" in told[0]
        await h.message(12, "/premium")
        assert "did not go through: ends on 2026-01-31" in h.session.last(SendMessage).text
        # The tier ends at its expiry.
        freeze(monkeypatch, END1 + 1)
        await h.message(12, "/premium")
        screen = h.session.last(SendMessage)
        assert "Your tier: <b>Free</b>" in screen.text and "ends on" not in screen.text
        # An update about a payload we never sold changes nothing and says nothing.
        sent = len(h.texts())
        await h.feed(h.session.make_subscription_update(12, "v1:12:tier1:unknownnonce", "failed"))
        assert len(h.texts()) == sent


async def test_failure_then_successful_retry_renews_and_tells_a_next_failure(tmp_path, monkeypatch):
    freeze(monkeypatch, T0)
    async with harness(tmp_path) as h:
        payload, _ = await subscribe(h, 13, "tier1", "f-1", END1)
        sent = len(h.texts())
        await h.feed(h.session.make_subscription_update(13, payload, "failed"))
        assert len(h.texts()) == sent + 1 and "could not renew" in h.texts()[-1]
        await renew(h, 13, payload, 500, "f-2", "f-1", END2)
        assert await sub_row(h, payload) == ("active", None, END2)
        sent = len(h.texts())
        await h.feed(h.session.make_subscription_update(13, payload, "failed"))
        assert len(h.texts()) == sent + 1


async def test_moving_to_tier2_converts_time_and_stops_the_tier1_renewal(tmp_path, monkeypatch):
    freeze(monkeypatch, T0)
    async with harness(tmp_path) as h:
        payload1, _ = await subscribe(h, 14, "tier1", "m-1", END1)
        # Ten days later: 20 days of Tier 1 (500 ⭐) left = 10 days of Tier 2 (1000 ⭐).
        now = T0 + 10 * DAY
        freeze(monkeypatch, now)
        await h.message(14, "/premium")
        assert ("🔁 Subscribe to Tier 2 — 1000 ⭐ a month", "prem:sub:tier2") in buttons(
            h.session.last(SendMessage)
        )
        payload2, receipt = await subscribe(h, 14, "tier2", "m-2", now + 30 * DAY)
        assert await tier_of(h, 14) == ("tier2", now + 40 * DAY)
        assert "Includes 10 d 0 h converted" in receipt
        edit = h.session.last(EditUserStarSubscription)
        assert (edit.telegram_payment_charge_id, edit.is_canceled) == ("m-1", True)
        assert await sub_row(h, payload1) == ("canceled", "switch", END1)
        assert await sub_row(h, payload2) == ("active", None, now + 30 * DAY)
        # Tier 2's renewal later keeps the carried time.
        freeze(monkeypatch, now + 30 * DAY - 60)
        await renew(h, 14, payload2, 1000, "m-3", "m-2", now + 60 * DAY)
        assert await tier_of(h, 14) == ("tier2", now + 70 * DAY)


async def test_a_bought_tier1_converts_and_an_unconfirmed_stop_is_retried(tmp_path, monkeypatch):
    freeze(monkeypatch, T0)
    async with harness(tmp_path) as h:
        payload1, _ = await subscribe(h, 15, "tier1", "r-1", END1)
        # The stop does not get through (not Telegram's final word on it): the renewal
        # stays marked to stop, and is retried.
        h.session.fail_next(EditUserStarSubscription, status=403)
        await buy(h, 15, "tier2", "r-2")  # a one-off Tier 2 also ends the Tier 1 renewal
        assert await sub_row(h, payload1) == ("canceling", "switch", END1)
        payments: PaymentService = h.dp["payments"]
        assert await payments.finish_cancels(renewal_editor(h.bot)) == [payload1]
        assert await sub_row(h, payload1) == ("canceled", "switch", END1)
        assert h.session.star_subscriptions["r-1"]["canceled_by"] == "bot"
        assert await payments.finish_cancels(renewal_editor(h.bot)) == []


async def test_a_stop_that_keeps_failing_is_tried_again_while_the_bot_runs(tmp_path, monkeypatch):
    freeze(monkeypatch, T0)
    async with harness(tmp_path) as h:
        payload1, _ = await subscribe(h, 17, "tier1", "k-1", END1)
        h.session.fail_next(EditUserStarSubscription, times=3, status=500)
        await buy(h, 17, "tier2", "k-2")
        assert await sub_row(h, payload1) == ("canceling", "switch", END1)
        payments: PaymentService = h.dp["payments"]
        assert await payments.cancels_pending()
        stops = RenewalStops(payments, renewal_editor(h.bot), interval=0.01, longest=0.02)
        stops.start()
        try:
            async with asyncio.timeout(10):
                while await payments.cancels_pending():  # noqa: ASYNC110 - the job's effect
                    await asyncio.sleep(0.01)
        finally:
            await stops.stop()
        assert await sub_row(h, payload1) == ("canceled", "switch", END1)
        assert h.session.star_subscriptions["k-1"]["canceled_by"] == "bot"
        tries = h.session.calls_of(EditUserStarSubscription, include_failed=True)
        assert len(tries) == 4  # the one after the purchase, two failed retries, the stop


async def test_the_retries_of_a_stop_back_off_and_start_over_once_done(monkeypatch):
    class Payments:
        def __init__(self) -> None:
            self.pending = [True, True, False]  # a failed pass reads none of these
            self.passes = 0

        async def finish_cancels(self, call: Any) -> list[str]:
            self.passes += 1
            if self.passes == 2:
                raise RuntimeError("database locked")
            return []

        async def cancels_pending(self) -> bool:
            if self.passes == 4:
                raise RuntimeError("database closed")  # the loop must outlive it too
            return self.pending.pop(0)

    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 5:
            raise asyncio.CancelledError

    monkeypatch.setattr(renewal_stops.asyncio, "sleep", sleep)
    payments = Payments()
    stops = RenewalStops(payments, lambda *args: None, interval=10, longest=25)  # type: ignore[arg-type]
    with pytest.raises(asyncio.CancelledError):
        await stops._loop()
    # Still pending, a failed pass, still pending, a failed read, none left: the wait doubles
    # up to the cap (10, 20, 25, 25), then starts over at the interval (10).
    assert waits == [10, 20, 25, 25, 10]
    assert payments.passes == 5


async def test_refund_of_a_subscription_payment_stops_its_renewal(tmp_path, monkeypatch):
    freeze(monkeypatch, T0)
    async with harness(tmp_path, ADMIN_IDS=str(ADMIN)) as h:
        payload, _ = await subscribe(h, 16, "tier1", "rf-1", END1)
        await h.message(ADMIN, "/refund rf-1")
        assert h.session.last(RefundStarPayment).telegram_payment_charge_id == "rf-1"
        edit = h.session.last(EditUserStarSubscription)
        assert (edit.telegram_payment_charge_id, edit.is_canceled) == ("rf-1", True)
        text = h.session.last(SendMessage).text
        assert "renewal is stopped" in text
        assert await sub_row(h, payload) == ("canceled", "refund", END1)
        tier, _ = await tier_of(h, 16)
        assert tier == "free"


async def test_stats_show_subscribers_their_stars_and_cancellations(tmp_path, monkeypatch):
    freeze(monkeypatch, T0)
    async with harness(tmp_path, ADMIN_IDS=str(ADMIN)) as h:
        await subscribe(h, 17, "tier1", "st-1", END1)
        await subscribe(h, 18, "tier2", "st-2", END1)
        p3, _ = await subscribe(h, 19, "tier1", "st-3", END1)
        await h.feed(h.session.make_subscription_update(19, p3, "canceled"))
        await h.message(ADMIN, "/stats")
        text = h.session.last(SendMessage).text
        assert (
            "Subscriptions renewing: Tier 1 1 (500 ⭐ a month) · Tier 2 1 (1000 ⭐ a month)" in text
        )
        assert "Renewals stopped this month: 1" in text
        await h.message(ADMIN, "/stats", language_code="ru")
        assert "Продлений отключено за месяц: 1" in h.session.last(SendMessage).text


async def test_no_expiry_reminder_for_a_plan_that_renews(tmp_path, monkeypatch):
    freeze(monkeypatch, T0)
    async with harness(tmp_path) as h:
        payload, _ = await subscribe(h, 20, "tier1", "rm-1", END1)
        async with h.db.transaction() as conn:
            due = await tiers_repo.due_reminders(conn, now=END1 - DAY, within=2 * DAY)
        assert due == []
        await h.feed(h.session.make_subscription_update(20, payload, "canceled"))
        async with h.db.transaction() as conn:
            due = await tiers_repo.due_reminders(conn, now=END1 - DAY, within=2 * DAY)
        assert [row.user_id for row in due] == [20]


async def test_the_journal_records_renewals_and_state_changes_before_handling(
    tmp_path, monkeypatch
):
    freeze(monkeypatch, T0)
    async with harness(tmp_path) as h:
        payload, _ = await subscribe(h, 21, "tier1", "j-1", END1)
        payments: PaymentService = h.dp["payments"]
        journal = PaymentJournal(payments, h.dp["users"])
        renewal = h.session.make_successful_payment(
            21, payload, 500, "j-2", subscription_expiration_date=END2, renews="j-1"
        )
        await journal.note(Update.model_validate(renewal, context={"bot": h.bot}))
        # The process dies here: nothing was handled. At the next start:
        outcomes = await payments.credit_pending()
        assert [(o.charge_id, o.status, o.recurring) for o in outcomes] == [
            ("j-2", "credited", True)
        ]
        assert await tier_of(h, 21) == ("tier1", END2)
        assert await payments.credit_pending() == []
        # Telegram delivers the renewal again anyway: credited already, the same receipt.
        await h.feed(renewal)
        assert await tier_of(h, 21) == ("tier1", END2)
        assert "Tier 1 is active until 2026-03-02 12:00 UTC" in h.texts()[-1]
        # A failure is recorded by the journal without its notice; handling tells it once.
        failed = h.session.make_subscription_update(21, payload, "failed")
        await journal.note(Update.model_validate(failed, context={"bot": h.bot}))
        assert (await sub_row(h, payload))[0] == "failed"
        sent = len(h.texts())
        await h.feed(failed)
        await h.feed(failed)
        assert len(h.texts()) == sent + 1


async def test_a_decided_stop_is_not_undone_by_a_later_update(tmp_path, monkeypatch):
    freeze(monkeypatch, T0)
    async with harness(tmp_path) as h:
        payload1, _ = await subscribe(h, 22, "tier1", "k-1", END1)
        h.session.fail_next(EditUserStarSubscription, status=403)
        await buy(h, 22, "tier2", "k-2")
        assert await sub_row(h, payload1) == ("canceling", "switch", END1)
        sent = len(h.texts())
        for state in ("failed", "active"):
            await h.feed(h.session.make_subscription_update(22, payload1, state))
        assert await sub_row(h, payload1) == ("canceling", "switch", END1)
        assert len(h.texts()) == sent  # no failure notice for a plan being stopped
        await h.feed(h.session.make_subscription_update(22, payload1, "canceled"))
        assert await sub_row(h, payload1) == ("canceling", "switch", END1)
