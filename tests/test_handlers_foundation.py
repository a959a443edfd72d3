import logging

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.methods import AnswerCallbackQuery, SendMessage
from aiogram.types import Message

from bot.services.errors import InvalidInput, UpstreamBusy
from bot.services.quota import Ticket
from tests.harness import harness


async def test_start_in_english_with_menu(tmp_path):
    async with harness(tmp_path) as h:
        await h.message(1, "/start", first_name="Ann <admin>")
        call = h.session.last(SendMessage)
        assert call.chat_id == 1
        assert "Hi, Ann &lt;admin&gt;!" in call.text
        buttons = [b.callback_data for row in call.reply_markup.inline_keyboard for b in row]
        assert "menu:usage" in buttons and "menu:help" in buttons


async def test_start_and_help_in_russian(tmp_path):
    async with harness(tmp_path) as h:
        await h.message(2, "/start", language_code="ru")
        await h.message(2, "/help", language_code="ru-RU")
        start, help_ = h.texts()
        assert "Привет" in start
        assert "Команды" in help_ and "/usage — Ваш тариф" in help_


async def test_help_lists_every_user_command(tmp_path):
    from bot.commands import user_commands

    async with harness(tmp_path) as h:
        await h.message(3, "/help", language_code="de")  # unknown language: English
        text = h.texts()[-1]
        for command in user_commands():
            assert f"/{command.name} — " in text


async def test_menu_help_callback(tmp_path):
    async with harness(tmp_path) as h:
        await h.feed(h.session.make_callback(4, "menu:help"))
        assert h.session.calls_of(AnswerCallbackQuery)
        assert "/start" in h.texts()[-1]


async def test_usage_shows_free_tier_and_counts(tmp_path):
    async with harness(tmp_path, QUOTA_FREE_IMAGE="4") as h:
        await h.message(5, "/start")
        quota = h.dp.workflow_data["quota_service"]
        await quota.spend(5, "image")
        await h.message(5, "/usage")
        text = h.texts()[-1]
        assert "Free" in text
        assert "Images: 1 / 4 ▓▓▓░░░░░░░" in text
        assert "Chat: 0 / 30" in text


async def test_usage_shows_paid_tier_with_expiry_and_unlimited(tmp_path):
    async with harness(tmp_path) as h:
        await h.message(6, "/start")
        await h.db.execute(
            "INSERT INTO user_tiers (user_id, tier, expires_at, source, updated_at) "
            "VALUES (6, 'tier2', 4102444800, 'grant', 0)"
        )
        await h.feed(h.session.make_callback(6, "menu:usage"))
        text = h.texts()[-1]
        assert "Tier 2" in text and "2100-01-01 00:00" in text
        assert "Chat: 0 / ∞" in text


async def test_every_update_type_upserts_the_user(tmp_path):
    async with harness(tmp_path) as h:
        await h.message(7, "/start", username="old", language_code="en")
        await h.feed(h.session.make_callback(7, "menu:help", username="new", language_code="ru"))
        row = await h.db.fetchone("SELECT username, language_code FROM users WHERE id = 7")
        assert tuple(row) == ("new", "ru")
        await h.feed(h.session.make_pre_checkout(8, "payload", 500))
        assert await h.db.fetchval("SELECT COUNT(*) FROM users WHERE id = 8") == 1


async def test_bots_are_not_stored(tmp_path):
    async with harness(tmp_path) as h:
        update = h.session.make_message(9, "/start")
        update["message"]["from"]["is_bot"] = True
        await h.feed(update)
        assert await h.db.fetchval("SELECT COUNT(*) FROM users") == 0


def _failing_router() -> Router:
    router = Router(name="test-failures")

    @router.message(Command("boom"))
    async def boom(message: Message) -> None:
        raise RuntimeError("unexpected failure")

    @router.message(Command("busy"))
    async def busy(message: Message) -> None:
        raise UpstreamBusy("429", retry_in=12)

    @router.message(Command("bad"))
    async def bad(message: Message) -> None:
        raise InvalidInput("bad", detail="steps must be 1–35 <not html>")

    @router.callback_query(F.data == "boom")
    async def boom_cb(query) -> None:
        raise RuntimeError("callback failure")

    return router


async def test_unexpected_error_is_logged_and_apologised_in_russian(tmp_path, caplog):
    async with harness(tmp_path, routers=(_failing_router(),)) as h:
        with caplog.at_level(logging.ERROR):
            update = h.session.make_message(10, "/boom", language_code="ru")
            await h.feed(update)
        assert "Извините" in h.texts()[-1]
        assert f"update {update['update_id']}" in caplog.text
        assert "unexpected failure" in caplog.text


async def test_domain_errors_become_friendly_texts(tmp_path):
    async with harness(tmp_path, routers=(_failing_router(),)) as h:
        await h.message(11, "/busy")
        await h.message(11, "/bad")
        busy, bad = h.texts()
        assert "busy" in busy and "12 s" in busy
        assert "steps must be 1–35 &lt;not html&gt;" in bad


async def test_callback_errors_answer_the_callback(tmp_path):
    async with harness(tmp_path, routers=(_failing_router(),)) as h:
        await h.feed(h.session.make_callback(12, "boom"))
        answer = h.session.last(AnswerCallbackQuery)
        assert answer.show_alert and "Sorry" in answer.text


def _quota_router(seen: list[Ticket]) -> Router:
    router = Router(name="test-quota")

    @router.message(Command("draw"), flags={"quota": "image"})
    async def draw(message: Message, quota: Ticket) -> None:
        seen.append(quota)
        await message.answer("drawn")

    @router.message(Command("fail"), flags={"quota": "image"})
    async def fail(message: Message, quota: Ticket) -> None:
        raise UpstreamBusy("busy", retry_in=3)

    return router


async def test_quota_seam_spends_refuses_and_refunds(tmp_path):
    seen: list[Ticket] = []
    async with harness(tmp_path, routers=(_quota_router(seen),), QUOTA_FREE_IMAGE="2") as h:
        await h.message(13, "/draw")
        await h.message(13, "/fail")  # refunded: the handler raised
        await h.message(13, "/draw")
        await h.message(13, "/draw")  # third success would exceed 2
        texts = h.texts()
        assert texts.count("drawn") == 2
        assert "today's 🎨 Images limit (2)" in texts[-1] and "/premium" in texts[-1]
        assert len(seen) == 2 and all(t.kind == "image" for t in seen)
        used = await h.db.fetchval("SELECT used FROM usage_daily WHERE user_id = 13")
        assert used == 2


async def test_flood_control_is_retried_not_dropped(tmp_path):
    async with harness(tmp_path) as h:
        h.session.fail_next("sendMessage", retry_after=1)
        await h.message(14, "/start")
        attempts = h.session.calls_of(SendMessage, include_failed=True)
        assert len(attempts) == 2
        assert "Hi" in h.texts()[-1]


async def test_anonymous_group_admin_gets_a_hint_not_an_error(tmp_path):
    async with harness(tmp_path) as h:
        update = h.session.make_message(
            1087968824, "/usage", chat_id=-100500, chat_type="supergroup"
        )
        update["message"]["from"].update(is_bot=True, first_name="Group")
        update["message"]["sender_chat"] = {"id": -100500, "type": "supergroup", "title": "G"}
        await h.feed(update)
        assert "Remain anonymous" in h.texts()[-1]
        assert await h.db.fetchval("SELECT COUNT(*) FROM users") == 0


async def test_plain_messages_from_bots_are_ignored(tmp_path):
    async with harness(tmp_path) as h:
        update = h.session.make_message(777, "hello there")
        update["message"]["from"]["is_bot"] = True
        await h.feed(update)
        assert h.texts() == []
