"""Expiry reminders and the startup/shutdown jobs (left-over payments, admin menu)."""

import asyncio

from aiogram.methods import SendMessage, SetMyCommands

from bot.services import clock
from bot.services.reminders import Reminders
from bot.services.renewal_stops import RenewalStops
from handlers.adapters.jobs import start_premium_jobs, stop_premium_jobs
from handlers.adapters.messenger import TelegramMessenger
from tests.harness import harness
from tests.premium_helpers import buttons, request_invoice

T0 = 1_767_225_600 + 12 * 3600  # 2026-01-01 12:00 UTC
HOUR = 3600
DAY = 86400


def freeze(monkeypatch, moment):
    monkeypatch.setattr(clock, "now", lambda: moment)


async def grant(h, uid, tier, days, language="en"):
    await h.message(uid, "/start", language_code=language)
    await h.dp.workflow_data["payments"].grant(uid, tier, days)


async def test_reminder_once_a_day_before_expiry(tmp_path, monkeypatch):
    freeze(monkeypatch, T0)
    async with harness(tmp_path) as h:
        await grant(h, 1, "tier1", 2)
        await grant(h, 2, "tier2", 30, language="ru")
        h.session.reset_calls()
        reminders = Reminders(h.db)
        assert (
            await reminders.run_once(TelegramMessenger(h.bot), now=T0) == 0
        )  # two days left: not yet
        assert await reminders.run_once(TelegramMessenger(h.bot), now=T0 + DAY + HOUR) == 1
        call = h.session.last(SendMessage)
        assert call.chat_id == 1
        assert "Your Tier 1 ends on 2026-01-03 12:00 UTC (in 23 h 0 min)" in call.text
        assert buttons(call) == [("⭐ Premium", "prem:show:")]
        assert (
            await reminders.run_once(TelegramMessenger(h.bot), now=T0 + DAY + 2 * HOUR) == 0
        )  # once only
        assert await reminders.run_once(TelegramMessenger(h.bot), now=T0 + 29 * DAY + HOUR) == 1
        assert "заканчивается" in h.session.last(SendMessage).text


async def test_a_new_period_gets_a_new_reminder(tmp_path, monkeypatch):
    freeze(monkeypatch, T0)
    async with harness(tmp_path) as h:
        await grant(h, 1, "tier1", 1)
        reminders = Reminders(h.db)
        assert await reminders.run_once(TelegramMessenger(h.bot), now=T0 + HOUR) == 1
        await h.dp.workflow_data["payments"].grant(1, "tier1", 1)  # extended by a day
        assert await reminders.run_once(TelegramMessenger(h.bot), now=T0 + 2 * HOUR) == 0
        assert await reminders.run_once(TelegramMessenger(h.bot), now=T0 + DAY + HOUR) == 1


async def test_no_reminder_for_trials_expired_banned_or_blocked(tmp_path, monkeypatch):
    freeze(monkeypatch, T0)
    async with harness(tmp_path) as h:
        await h.message(1, "/start")
        await h.dp.workflow_data["payments"].take_trial(1)
        await grant(h, 2, "tier1", 1)
        await h.db.execute("UPDATE users SET is_banned = 1 WHERE id = 2")
        await grant(h, 3, "tier1", 1)
        h.session.blocked_chats.add(3)
        h.session.reset_calls()
        reminders = Reminders(h.db)
        assert await reminders.run_once(TelegramMessenger(h.bot), now=T0 + HOUR) == 0
        assert await h.db.fetchval("SELECT blocked_bot FROM users WHERE id = 3") == 1
        assert (
            await reminders.run_once(TelegramMessenger(h.bot), now=T0 + 2 * DAY) == 0
        )  # expired: nothing


async def test_reminder_task_starts_and_stops(tmp_path, monkeypatch):
    freeze(monkeypatch, T0)
    async with harness(tmp_path) as h:
        await grant(h, 1, "tier1", 1)
        reminders = Reminders(h.db, interval=3600)
        sent = asyncio.Event()
        original = reminders.run_once

        async def run_once(bot, now=None):
            count = await original(bot, now)
            sent.set()
            return count

        reminders.run_once = run_once
        reminders.start(TelegramMessenger(h.bot))
        await sent.wait()
        await reminders.stop()
        assert reminders._task is None
        assert "ends on" in h.texts()[-1]


async def test_startup_credits_left_over_payments_and_resumes(tmp_path, monkeypatch):
    """The bot died after recording a payment: the next start credits it and sends the
    receipt; the admin menu is registered for admins; shutdown stops the jobs."""
    freeze(monkeypatch, T0)
    async with harness(tmp_path, ADMIN_IDS="900") as h:
        invoice = await request_invoice(h, 1, "tier1")
        payments = h.dp.workflow_data["payments"]
        await payments.record(
            user_id=1,
            charge_id="half-way",
            provider_charge_id=None,
            payload=invoice.payload,
            currency="XTR",
            amount=500,
            now=T0,
        )
        h.session.reset_calls()
        data = h.dp.workflow_data
        await start_premium_jobs(
            h.dp,
            h.bot,
            h.settings,
            payments,
            data["users"],
            data["reminders"],
            data["broadcaster"],
        )
        receipt = h.session.last(SendMessage)
        assert receipt.chat_id == 1 and "Payment received" in receipt.text
        status = await h.db.fetchval("SELECT status FROM payments WHERE charge_id = 'half-way'")
        assert status == "credited"
        scoped = [c for c in h.session.calls_of(SetMyCommands) if c.scope.type == "chat"]
        assert {c.scope.chat_id for c in scoped} == {900}
        names = {cmd.command for cmd in scoped[0].commands}
        assert {"stats", "grant", "ban", "unban", "refund", "broadcast", "premium"} <= names
        assert data["reminders"]._task is not None
        assert isinstance(data["renewal_stops"], RenewalStops)
        await stop_premium_jobs(h.dp, data["reminders"], data["broadcaster"])
        assert data["reminders"]._task is None
        assert "renewal_stops" not in data
        # A second start has nothing left to credit.
        h.session.reset_calls()
        await start_premium_jobs(
            h.dp, h.bot, h.settings, payments, data["users"], data["reminders"], data["broadcaster"]
        )
        assert not [c for c in h.session.calls_of(SendMessage) if "Payment" in (c.text or "")]
        await stop_premium_jobs(h.dp, data["reminders"], data["broadcaster"])


async def test_admin_menu_failure_does_not_stop_the_start(tmp_path):
    async with harness(tmp_path, ADMIN_IDS="900") as h:
        h.session.fail_next("setMyCommands", description="Bad Request: chat not found")
        data = h.dp.workflow_data
        await start_premium_jobs(
            h.dp,
            h.bot,
            h.settings,
            data["payments"],
            data["users"],
            data["reminders"],
            data["broadcaster"],
        )
        assert data["reminders"]._task is not None
        await stop_premium_jobs(h.dp, data["reminders"], data["broadcaster"])
