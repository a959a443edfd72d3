"""Admin commands, the admin-only router filter and the ban middleware."""

import asyncio

import pytest
from aiogram.methods import AnswerCallbackQuery, EditMessageText, RefundStarPayment, SendMessage

from bot.services import clock
from bot.services.broadcast import Broadcaster
from handlers.adapters.messenger import TelegramMessenger
from tests.harness import harness
from tests.premium_helpers import buy

T0 = 1_767_225_600 + 12 * 3600  # 2026-01-01 12:00 UTC
ADMIN = 900
ADMIN_COMMANDS = ("/stats", "/grant 1 tier1 3", "/ban 1", "/unban 1", "/refund x", "/broadcast hi")


def freeze(monkeypatch, moment):
    monkeypatch.setattr(clock, "now", lambda: moment)


def admin_harness(tmp_path, **env):
    return harness(tmp_path, ADMIN_IDS=f"{ADMIN},901", **env)


async def test_admin_commands_do_not_exist_for_others(tmp_path):
    async with admin_harness(tmp_path) as h:
        await h.message(5, "/nosuchcommand")
        unknown = h.texts()[-1]
        h.session.reset_calls()
        for command in ADMIN_COMMANDS:
            await h.message(5, command)
        # Every command fell through to the other routers and got exactly what an unknown
        # command gets: no hint, no effect.
        assert h.texts() == [unknown] * len(ADMIN_COMMANDS)
        assert await h.db.fetchval("SELECT COUNT(*) FROM user_tiers") == 0
        assert await h.db.fetchval("SELECT COUNT(*) FROM broadcasts") == 0
        assert await h.db.fetchval("SELECT is_banned FROM users WHERE id = 5") == 0
        await h.message(5, "/help")
        assert "/stats" not in h.texts()[-1]
        await h.message(ADMIN, "/help")
        assert "/stats — " in h.texts()[-1] and "/broadcast — " in h.texts()[-1]


@pytest.mark.parametrize("args", ["", "1", "1 gold 3", "1 tier1 0", "1 tier1 99999", "1 tier1 ٣"])
async def test_grant_usage(tmp_path, args):
    async with admin_harness(tmp_path) as h:
        await h.message(ADMIN, f"/grant {args}".strip())
        assert "Usage: <code>/grant user_id tier days</code>" in h.texts()[-1]


async def test_grant_then_usage_and_revoke(tmp_path, monkeypatch):
    freeze(monkeypatch, T0)
    async with admin_harness(tmp_path) as h:
        await h.message(1, "/start")
        await h.message(ADMIN, "/grant 1 tier2 3")
        assert "User <code>1</code> has Tier 2 until 2026-01-04 12:00 UTC." in h.texts()[-1]
        await h.message(ADMIN, "/grant 1 2 2")
        assert "until 2026-01-06 12:00 UTC" in h.texts()[-1]
        await h.message(1, "/usage")
        assert "Tier: <b>Tier 2</b> until 2026-01-06 12:00 UTC" in h.texts()[-1]
        await h.message(ADMIN, "/grant 1 free")
        assert "is back on Free" in h.texts()[-1]
        await h.message(ADMIN, "/grant 77 tier1 3")
        assert "No user <code>77</code> here" in h.texts()[-1]


async def test_ban_blocks_everything_and_unban_restores(tmp_path):
    async with admin_harness(tmp_path) as h:
        await h.message(1, "/start")
        await h.message(ADMIN, "/ban 1")
        assert "User <code>1</code> is blocked" in h.texts()[-1]
        h.session.reset_calls()
        await h.message(1, "/start")
        await h.message(1, "hello")
        assert h.texts() == ["🚫 Your access to this bot has been blocked."] * 2
        await h.feed(h.session.make_callback(1, "prem:show:"))
        answer = h.session.last(AnswerCallbackQuery)
        assert answer.show_alert and "blocked" in answer.text
        assert len(h.texts()) == 2  # the callback got an alert, not the premium screen
        # Blocked in a group too when addressing the bot, silent otherwise.
        await h.message(1, "/usage", chat_type="supergroup")
        await h.message(1, "just talking", chat_type="supergroup")
        assert len(h.texts()) == 3
        await h.message(ADMIN, "/unban 1")
        assert "is unblocked" in h.texts()[-1]
        await h.message(1, "/start")
        assert "Hi, " in h.texts()[-1]


async def test_ban_refusals(tmp_path):
    async with admin_harness(tmp_path) as h:
        await h.message(ADMIN, "/ban")
        assert "Usage: <code>/ban user_id</code>" in h.texts()[-1]
        await h.message(ADMIN, "/unban")
        assert "Usage: <code>/unban user_id</code>" in h.texts()[-1]
        await h.message(ADMIN, "/ban 901")
        assert h.texts()[-1] == "An admin cannot be blocked."
        await h.message(ADMIN, "/ban 4242")
        assert "No user <code>4242</code>" in h.texts()[-1]


@pytest.mark.parametrize(
    "arg",
    [
        "9223372036854775808",  # 2**63: past SQLite's INTEGER
        "99999999999999999999",
        "١٢٣",  # Arabic-Indic digits: int() reads them, Telegram ids are ASCII
        "１２",  # fullwidth digits
        "0",
        "-5",
        "abc",
        "<b>1</b>",
    ],
)
async def test_an_invalid_user_id_gets_a_clear_answer(tmp_path, arg):
    async with admin_harness(tmp_path) as h:
        await h.message(1, "/start")
        for command in ("/ban", "/unban", "/grant"):
            suffix = " tier1 3" if command == "/grant" else ""
            await h.message(ADMIN, f"{command} {arg}{suffix}")
            answer = h.texts()[-1]
            assert "is not a user id" in answer and "9223372036854775807" in answer
            assert "<b>1</b>" not in answer  # the argument is shown escaped
        assert await h.db.fetchval("SELECT COUNT(*) FROM users WHERE is_banned = 1") == 0
        assert await h.db.fetchval("SELECT COUNT(*) FROM user_tiers") == 0


async def test_an_invalid_user_id_is_explained_in_russian(tmp_path):
    async with admin_harness(tmp_path) as h:
        await h.message(ADMIN, "/ban 9223372036854775808", language_code="ru")
        assert "не user id" in h.texts()[-1]


async def test_the_largest_user_id_is_accepted(tmp_path):
    async with admin_harness(tmp_path) as h:
        await h.message(ADMIN, "/ban 9223372036854775807")
        assert "No user <code>9223372036854775807</code>" in h.texts()[-1]


async def test_refund_revokes_and_second_refund_is_refused(tmp_path, monkeypatch):
    freeze(monkeypatch, T0)
    async with admin_harness(tmp_path) as h:
        await buy(h, 1, "tier1", "chg-1")
        await h.message(ADMIN, "/refund chg-1")
        call = h.session.last(RefundStarPayment)
        assert (call.user_id, call.telegram_payment_charge_id) == (1, "chg-1")
        assert "Refunded 500 ⭐ to user <code>1</code>. Their tier now: Free." in h.texts()[-1]
        status = await h.db.fetchval("SELECT status FROM payments WHERE charge_id = 'chg-1'")
        assert status == "refunded"
        await h.message(1, "/usage")
        assert "Tier: <b>Free</b>" in h.texts()[-1]
        await h.message(ADMIN, "/refund chg-1")
        assert "has already been refunded" in h.texts()[-1]
        assert len(h.session.calls_of(RefundStarPayment)) == 1


async def test_refund_of_one_of_two_periods(tmp_path, monkeypatch):
    freeze(monkeypatch, T0)
    async with admin_harness(tmp_path) as h:
        await buy(h, 1, "tier1", "a")
        await buy(h, 1, "tier1", "b")
        await h.message(ADMIN, "/refund a")
        assert "Their tier now: Tier 1 until 2026-01-31 12:00 UTC." in h.texts()[-1]


async def test_refund_errors(tmp_path, monkeypatch):
    freeze(monkeypatch, T0)
    async with admin_harness(tmp_path) as h:
        await h.message(ADMIN, "/refund")
        assert "Usage: <code>/refund charge_id</code>" in h.texts()[-1]
        await h.message(ADMIN, "/refund nope")
        assert "No payment with charge id <code>nope</code>." in h.texts()[-1]
        await buy(h, 1, "tier1", "c-1")
        h.session.fail_next("refundStarPayment", description="Bad Request: PAYMENT_TOO_OLD")
        await h.message(ADMIN, "/refund c-1")
        assert "Telegram refused the refund: Bad Request: PAYMENT_TOO_OLD" in h.texts()[-1]
        status = await h.db.fetchval("SELECT status FROM payments WHERE charge_id = 'c-1'")
        assert status == "credited"
        # Refunded in Telegram already (e.g. by another tool): the record catches up.
        h.session.refunded_charges.add("c-1")
        await h.message(ADMIN, "/refund c-1")
        assert "Telegram had already refunded it" in h.texts()[-1]
        status = await h.db.fetchval("SELECT status FROM payments WHERE charge_id = 'c-1'")
        assert status == "refunded"


async def test_a_refund_that_met_a_5xx_is_not_repeated_and_can_be_asked_again(
    tmp_path, monkeypatch
):
    freeze(monkeypatch, T0)
    async with admin_harness(tmp_path) as h:
        await buy(h, 1, "tier1", "c-5")
        # Telegram refunded it, then answered 502: the call is not sent again by itself.
        h.session.refunded_charges.add("c-5")
        h.session.fail_next("refundStarPayment", status=502)
        await h.message(ADMIN, "/refund c-5")
        assert len(h.session.calls_of(RefundStarPayment, include_failed=True)) == 1
        assert "went wrong" in h.texts()[-1]
        status = await h.db.fetchval("SELECT status FROM payments WHERE charge_id = 'c-5'")
        assert status == "credited"
        # The admin asks again; Telegram says it is done and the record catches up.
        await h.message(ADMIN, "/refund c-5")
        assert "Telegram had already refunded it" in h.texts()[-1]
        status = await h.db.fetchval("SELECT status FROM payments WHERE charge_id = 'c-5'")
        assert status == "refunded"


def fast_broadcaster(h, **kwargs):
    broadcaster = Broadcaster(h.db, per_second=0, **kwargs)
    h.dp.workflow_data["broadcaster"] = broadcaster
    return broadcaster


async def wait_all(broadcaster):
    while broadcaster.tasks:
        await asyncio.gather(*broadcaster.tasks.values())


async def test_broadcast_does_not_repeat_a_send_that_met_a_5xx(tmp_path):
    async with admin_harness(tmp_path) as h:
        broadcaster = fast_broadcaster(h, retry_delay=0)
        for uid in (1, 2):
            await h.message(uid, "/start")
        h.session.reset_calls()
        # 502 for the admin's "started" note, then for the first recipient.
        h.session.fail_next("sendMessage", status=502, times=2)
        await h.message(ADMIN, "/broadcast hello")
        await wait_all(broadcaster)
        to_users = [
            c for c in h.session.calls_of(SendMessage, include_failed=True) if c.chat_id != ADMIN
        ]
        assert sorted(c.chat_id for c in to_users) == [1, 2]  # one attempt each
        row = await h.db.fetchone("SELECT sent, failed FROM broadcasts WHERE id = 1")
        assert tuple(row) == (2, 1)  # users 2 and the admin; user 1 not delivered


async def test_broadcast_skips_banned_and_marks_blocked(tmp_path):
    async with admin_harness(tmp_path) as h:
        broadcaster = fast_broadcaster(h, progress_every=2)
        for uid in (1, 2, 3, 4, 5):
            await h.message(uid, "/start")
        await h.db.execute("UPDATE users SET is_banned = 1 WHERE id = 4")
        h.session.blocked_chats.add(3)
        h.session.reset_calls()
        text = "/broadcast Hello & welcome, new models!"
        entities = [
            {"type": "bot_command", "offset": 0, "length": 10},
            {"type": "bold", "offset": 11, "length": 5},
        ]
        await h.message(ADMIN, text, entities=entities)
        await wait_all(broadcaster)
        sent = [c for c in h.session.calls_of(SendMessage) if c.chat_id != ADMIN]
        assert sorted(c.chat_id for c in sent) == [1, 2, 5]
        assert {c.text for c in sent} == {"<b>Hello</b> &amp; welcome, new models!"}
        blocked = await h.db.fetchval("SELECT blocked_bot FROM users WHERE id = 3")
        assert blocked == 1
        to_admin = [c.text for c in h.session.calls_of(SendMessage) if c.chat_id == ADMIN]
        assert to_admin[0] == "📣 Broadcast #1 started. Recipients: 5."
        assert to_admin[-1].startswith("✅ Broadcast #1 finished: sent 4, not delivered 1")
        assert h.session.calls_of(EditMessageText)  # progress was reported on the way
        row = await h.db.fetchone("SELECT status, sent, failed FROM broadcasts WHERE id = 1")
        assert tuple(row) == ("done", 4, 1)
        # A later broadcast skips the user who blocked the bot.
        h.session.reset_calls()
        await h.message(ADMIN, "/broadcast again")
        await wait_all(broadcaster)
        assert sorted(c.chat_id for c in h.session.calls_of(SendMessage, include_failed=True)) == [
            1,
            2,
            5,
            ADMIN,
            ADMIN,
            ADMIN,
        ]


async def test_broadcast_usage_and_length(tmp_path):
    async with admin_harness(tmp_path) as h:
        fast_broadcaster(h)
        await h.message(ADMIN, "/broadcast")
        assert "Usage: <code>/broadcast text</code>" in h.texts()[-1]
        await h.message(ADMIN, "/broadcast " + "x" * 4097)
        assert "too long for one message (4097 of 4096)" in h.texts()[-1]
        assert await h.db.fetchval("SELECT COUNT(*) FROM broadcasts") == 0


async def test_broadcast_resumes_after_a_restart(tmp_path):
    async with admin_harness(tmp_path) as h:
        for uid in (1, 2, 3, 4):
            await h.message(uid, "/start")
        # A previous run sent to users 1 and 2, then stopped.
        await h.db.execute(
            "INSERT INTO broadcasts (admin_id, text, last_user, sent, created_at) "
            "VALUES (?, 'news', 2, 2, 0)",
            (ADMIN,),
        )
        h.session.reset_calls()
        broadcaster = Broadcaster(h.db, per_second=0)
        assert await broadcaster.resume(TelegramMessenger(h.bot)) == [1]
        await wait_all(broadcaster)
        news = [c.chat_id for c in h.session.calls_of(SendMessage) if c.text == "news"]
        assert news == [3, 4]  # the admin (900) has no users row in this test
        texts = [c.text for c in h.session.calls_of(SendMessage) if c.chat_id == ADMIN]
        assert "resumed after a restart. Recipients left: 2 " in texts[0]
        assert "finished: sent 4, not delivered 0" in texts[-1]
        assert await broadcaster.resume(TelegramMessenger(h.bot)) == []  # done: nothing to resume


async def test_broadcast_stop_saves_progress_for_the_next_start(tmp_path):
    async with admin_harness(tmp_path) as h:
        for uid in range(1, 11):
            await h.message(uid, "/start")
        broadcaster = fast_broadcaster(h)
        sent_to: list[int] = []
        gate = asyncio.Event()
        original = h.bot.send_message

        async def send_then_stop(chat_id, text, **kwargs):
            result = await original(chat_id, text, **kwargs)
            if text == "news":
                sent_to.append(chat_id)
                if len(sent_to) == 3:
                    gate.set()
                    await asyncio.sleep(0)
            return result

        h.bot.send_message = send_then_stop
        await h.message(ADMIN, "/broadcast news")
        await gate.wait()
        await broadcaster.stop()
        row = await h.db.fetchone("SELECT status, last_user, sent FROM broadcasts")
        assert row["status"] == "running" and row["sent"] == len(sent_to)
        assert row["last_user"] == sent_to[-1]
        # Next start: the rest, nobody twice.
        resumed = Broadcaster(h.db, per_second=0)
        await resumed.resume(TelegramMessenger(h.bot))
        await wait_all(resumed)
        assert sorted(sent_to) == [*range(1, 11), ADMIN]
        assert len(sent_to) == len(set(sent_to))


async def test_broadcast_aborts_when_telegram_refuses_the_text(tmp_path):
    async with admin_harness(tmp_path) as h:
        await h.message(1, "/start")
        broadcaster = fast_broadcaster(h)
        h.session.reset_calls()
        await h.db.execute(
            "INSERT INTO broadcasts (admin_id, text, created_at) VALUES (?, '<b>broken', 0)",
            (ADMIN,),
        )
        await broadcaster.resume(TelegramMessenger(h.bot))
        await wait_all(broadcaster)
        assert "stopped: Telegram refused the text" in h.texts()[-1]
        assert await h.db.fetchval("SELECT status FROM broadcasts") == "done"


async def test_broadcast_is_paced(tmp_path):
    """20 messages a second at most: every send waits its turn (no real time is measured)."""
    async with admin_harness(tmp_path) as h:
        for uid in range(1, 6):
            await h.message(uid, "/start")
        waits: list[float] = []

        async def fake_sleep(seconds):
            waits.append(seconds)

        broadcaster = Broadcaster(h.db, per_second=20, sleep=fake_sleep, monotonic=lambda: 1000.0)
        h.dp.workflow_data["broadcaster"] = broadcaster
        await h.message(ADMIN, "/broadcast hi")
        await wait_all(broadcaster)
        # 6 recipients (5 users + the admin): the first goes at once, then 1/20 s each.
        assert waits == [pytest.approx(0.05)] * 5
