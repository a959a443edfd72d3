"""/premium, invoices, the trial, /usage's key line and the quota refusal's Premium button,
through the real dispatcher."""

import pytest
from aiogram import Router
from aiogram.filters import Command
from aiogram.methods import AnswerCallbackQuery, SendInvoice, SendMessage
from aiogram.types import Message

from bot.services import clock
from bot.services.payments import parse_payload
from tests.harness import harness
from tests.premium_helpers import buttons, request_invoice

T0 = 1_767_225_600 + 12 * 3600  # 2026-01-01 12:00 UTC


def freeze(monkeypatch, moment):
    monkeypatch.setattr(clock, "now", lambda: moment)


async def test_premium_lists_tiers_prices_limits_and_buttons(tmp_path):
    async with harness(tmp_path) as h:
        await h.message(1, "/premium")
        call = h.session.last(SendMessage)
        text = call.text
        assert "<b>Free</b> — free" in text
        assert "<b>Tier 1</b> — 500 ⭐ / 30 days" in text
        assert "<b>Tier 2</b> — 1000 ⭐ / 30 days" in text
        assert "💬 30 · 🎨 5 · 🎞 2 a day · 10 requests a minute" in text
        assert "💬 300 · 🎨 60 · 🎞 20 a day" in text
        assert "💬 unlimited · 🎨 unlimited · 🎞 unlimited a day" in text
        assert "once every 7 days" in text
        assert "Your tier: <b>Free</b>" in text
        assert buttons(call) == [
            ("🔁 Subscribe to Tier 1 — 500 ⭐ a month", "prem:sub:tier1"),
            ("Buy Tier 1 — 500 ⭐", "prem:buy:tier1"),
            ("🔁 Subscribe to Tier 2 — 1000 ⭐ a month", "prem:sub:tier2"),
            ("Buy Tier 2 — 1000 ⭐", "prem:buy:tier2"),
            ("🎁 Try Tier 1 free for 24 h", "prem:trial:"),
        ]


async def test_premium_in_russian_with_configured_prices(tmp_path):
    async with harness(tmp_path, TIER1_PRICE_STARS="77", TRIAL_COOLDOWN_DAYS="3") as h:
        await h.message(1, "/premium", language_code="ru")
        call = h.session.last(SendMessage)
        assert "Премиум" in call.text and "77 ⭐ / 30 дней" in call.text
        assert "раз в 3 дня" in call.text
        assert ("Купить Tier 1 — 77 ⭐", "prem:buy:tier1") in buttons(call)


@pytest.mark.parametrize(
    ("days", "phrase"),
    [(1, "раз в 1 день."), (3, "раз в 3 дня."), (7, "раз в 7 дней."), (30, "раз в 30 дней.")],
)
async def test_trial_cooldown_days_are_counted_in_correct_russian(tmp_path, days, phrase):
    async with harness(tmp_path, TRIAL_COOLDOWN_DAYS=str(days)) as h:
        await h.message(1, "/premium", language_code="ru")
        assert phrase in h.session.last(SendMessage).text


async def test_trial_cooldown_of_one_day_in_english(tmp_path):
    async with harness(tmp_path, TRIAL_COOLDOWN_DAYS="1") as h:
        await h.message(1, "/premium")
        assert "once every 1 day." in h.session.last(SendMessage).text


async def test_buy_sends_a_stars_invoice(tmp_path):
    async with harness(tmp_path, TIER2_PRICE_STARS="1234") as h:
        invoice = await request_invoice(h, 5, "tier2")
        assert invoice.chat_id == 5
        assert invoice.currency == "XTR"
        assert invoice.provider_token == ""
        assert len(invoice.prices) == 1 and invoice.prices[0].amount == 1234
        assert invoice.title == "Tier 2 for 30 days"
        assert 1 <= len(invoice.description) <= 255
        user_id, tier, nonce = parse_payload(invoice.payload)
        assert (user_id, tier) == (5, "tier2")
        row = await h.db.fetchone(
            "SELECT user_id, tier, amount FROM invoices WHERE nonce = ?", (nonce,)
        )
        assert tuple(row) == (5, "tier2", 1234)
        assert h.session.last(AnswerCallbackQuery).show_alert is not True


async def test_buy_from_the_quota_button_message_goes_to_the_users_chat(tmp_path):
    async with harness(tmp_path) as h:
        invoice = await request_invoice(h, 6, "tier1")
        assert invoice.chat_id == 6 and invoice.prices[0].amount == 500


async def test_unknown_tier_in_callback_is_answered_and_sells_nothing(tmp_path):
    async with harness(tmp_path) as h:
        await h.feed(h.session.make_callback(7, "prem:buy:tier9"))
        answer = h.session.last(AnswerCallbackQuery)
        assert answer.show_alert
        assert answer.text == "This button is out of date. Open /premium for the current tiers."
        await h.feed(h.session.make_callback(7, "prem:buy:tier9", language_code="ru"))
        answer = h.session.last(AnswerCallbackQuery)
        assert answer.text == "Эта кнопка устарела. Актуальные тарифы — в /premium."
        assert not h.session.calls_of(SendInvoice)
        assert tuple(await h.db.fetchone("SELECT COUNT(*) FROM invoices")) == (0,)


async def test_lower_tier_is_not_offered_nor_sold_during_a_higher_one(tmp_path, monkeypatch):
    freeze(monkeypatch, T0)
    async with harness(tmp_path) as h:
        await h.message(8, "/start")
        await h.dp.workflow_data["payments"].grant(8, "tier2", 10)
        await h.message(8, "/premium")
        call = h.session.last(SendMessage)
        assert "Your tier: <b>Tier 2</b> until 2026-01-11 12:00 UTC" in call.text
        assert buttons(call) == [
            ("🔁 Subscribe to Tier 2 — 1000 ⭐ a month", "prem:sub:tier2"),
            ("Extend Tier 2 — 1000 ⭐", "prem:buy:tier2"),
        ]
        await h.feed(h.session.make_callback(8, "prem:buy:tier1"))
        answer = h.session.last(AnswerCallbackQuery)
        assert answer.show_alert and "You have Tier 2 now" in answer.text
        assert not h.session.calls_of(SendInvoice)


async def test_trial_start_then_refusals_with_the_next_date(tmp_path, monkeypatch):
    freeze(monkeypatch, T0)
    async with harness(tmp_path) as h:
        await h.feed(h.session.make_callback(9, "prem:trial:"))
        assert "trial is on until 2026-01-02 12:00 UTC" in h.texts()[-1]
        # During the trial: no trial button, and a second tap is refused with the reason.
        await h.message(9, "/premium")
        call = h.session.last(SendMessage)
        assert "Your tier: <b>Tier 1</b> until 2026-01-02 12:00 UTC" in call.text
        assert "prem:trial:" not in [data for _, data in buttons(call)]
        await h.feed(h.session.make_callback(9, "prem:trial:"))
        answer = h.session.last(AnswerCallbackQuery)
        assert answer.show_alert and "You already have Tier 1" in answer.text
        # After the trial, within the cooldown: the next date, on the screen and on a tap.
        freeze(monkeypatch, T0 + 2 * 86400)
        await h.message(9, "/premium")
        call = h.session.last(SendMessage)
        assert "Your tier: <b>Free</b>" in call.text
        assert "available again on 2026-01-08 12:00 UTC" in call.text
        assert "prem:trial:" not in [data for _, data in buttons(call)]
        await h.feed(h.session.make_callback(9, "prem:trial:", language_code="ru"))
        answer = h.session.last(AnswerCallbackQuery)
        assert answer.show_alert and "2026-01-08 12:00" in answer.text and "снова" in answer.text
        # After the cooldown it can be taken again.
        freeze(monkeypatch, T0 + 7 * 86400)
        await h.feed(h.session.make_callback(9, "prem:trial:"))
        assert "trial is on until 2026-01-09 12:00 UTC" in h.texts()[-1]


async def test_premium_button_callback_shows_the_screen(tmp_path):
    async with harness(tmp_path) as h:
        await h.feed(h.session.make_callback(10, "prem:show:"))
        assert "⭐ <b>Premium</b>" in h.texts()[-1]


def _quota_router() -> Router:
    router = Router(name="test-quota-premium")

    @router.message(Command("draw"), flags={"quota": "image"})
    async def draw(message: Message) -> None:
        await message.answer("drawn")

    return router


async def test_quota_refusal_says_what_and_when_and_offers_premium(tmp_path, monkeypatch):
    freeze(monkeypatch, T0)
    async with harness(tmp_path, routers=(_quota_router(),), QUOTA_FREE_IMAGE="1") as h:
        await h.message(11, "/draw")
        await h.message(11, "/draw")
        call = h.session.last(SendMessage)
        assert "today's 🎨 Images limit (1)" in call.text
        assert "resets in 12 h 0 min" in call.text
        assert buttons(call) == [("⭐ Premium", "prem:show:")]
        await h.feed(h.session.make_callback(11, "prem:show:"))
        assert "⭐ <b>Premium</b>" in h.texts()[-1]


async def test_quota_refusal_on_tier2_has_no_premium_button(tmp_path, monkeypatch):
    freeze(monkeypatch, T0)
    async with harness(tmp_path, routers=(_quota_router(),), QUOTA_TIER2_IMAGE="1") as h:
        await h.message(12, "/start")
        await h.dp.workflow_data["payments"].grant(12, "tier2", 3)
        await h.message(12, "/draw")
        await h.message(12, "/draw")
        call = h.session.last(SendMessage)
        assert "limit (1)" in call.text and call.reply_markup is None


async def test_burst_limit_through_the_seam(tmp_path, monkeypatch):
    freeze(monkeypatch, T0)
    async with harness(tmp_path, routers=(_quota_router(),), RATE_FREE_PER_MINUTE="2") as h:
        for _ in range(3):
            await h.message(13, "/draw")
        assert h.texts()[:2] == ["drawn", "drawn"]
        assert "Too many requests. Please wait 60 s." in h.texts()[2]
        used = await h.db.fetchval("SELECT used FROM usage_daily WHERE user_id = 13")
        assert used == 2


async def test_usage_shows_key_status_and_premium_button(tmp_path):
    async with harness(tmp_path) as h:
        await h.message(14, "/usage")
        call = h.session.last(SendMessage)
        assert "🔑 API key: none (/key)" in call.text
        assert buttons(call) == [("⭐ Premium", "prem:show:")]
        await h.db.execute(
            "INSERT INTO api_keys (user_id, key_hash, prefix, created_at) "
            "VALUES (14, 'h', 'vc_', 0)"
        )
        await h.message(14, "/usage")
        assert "🔑 API key: active" in h.texts()[-1]
        await h.db.execute("UPDATE api_keys SET is_active = 0, inactive_reason = 'left_channel'")
        await h.message(14, "/usage", language_code="ru")
        assert "🔑 API-ключ: не активен" in h.texts()[-1]
