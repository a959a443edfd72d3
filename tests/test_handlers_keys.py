"""/key and the channel's chat_member updates, through the real dispatcher."""

from __future__ import annotations

import asyncio
import re

from aiogram.methods import AnswerCallbackQuery, EditMessageText, GetChatMember, SendMessage

from bot.services.keys import hash_key
from tests.harness import BOT_ID, Harness, harness
from tests.key_helpers import verify_key

CH = -1001500000001
CHANNEL = {"id": CH, "type": "channel", "title": "VC News", "username": "vc_news"}
KEY_RE = re.compile(r"<tg-spoiler><code>(vc_[A-Za-z0-9]{40})</code></tg-spoiler>")


def setup_channel(h: Harness, *members: int, bot_admin: bool = True, **chat) -> None:
    info = {**CHANNEL, **chat}
    h.session.chats["@vc_news"] = info
    h.session.chats[CH] = info
    if bot_admin:
        h.session.chat_members[(CH, BOT_ID)] = "administrator"
    for uid in members:
        h.session.chat_members[(CH, uid)] = "member"


def gated(tmp_path, **env):
    return harness(tmp_path, REQUIRED_CHANNEL="@vc_news", **env)


def buttons(call) -> list:
    markup = call.reply_markup
    return [] if markup is None else [b for row in markup.inline_keyboard for b in row]


def issued_key(text: str) -> str:
    match = KEY_RE.search(text)
    assert match, text
    return match.group(1)


async def get_key(h: Harness, uid: int) -> str:
    await h.message(uid, "/key")
    return issued_key(h.session.last(SendMessage).text)


async def key_row(h: Harness, uid: int):
    return await h.db.fetchone("SELECT * FROM api_keys WHERE user_id = ?", (uid,))


async def test_non_member_gets_the_gate_and_no_key(tmp_path):
    async with gated(tmp_path) as h:
        setup_channel(h)
        await h.message(1, "/key")
        call = h.session.last(SendMessage)
        assert "subscribers of @vc_news" in call.text
        subscribe, check = buttons(call)
        assert subscribe.url == "https://t.me/vc_news"
        assert check.callback_data == "key:check:"
        assert await key_row(h, 1) is None


async def test_member_gets_a_key_once_then_only_its_status(tmp_path):
    async with gated(tmp_path) as h:
        setup_channel(h, 1)
        key = await get_key(h, 1)
        call = h.session.last(SendMessage)
        assert "only once" in call.text
        assert [b.callback_data for b in buttons(call)] == ["key:regen:", "key:revoke:"]
        row = await key_row(h, 1)
        assert row["key_hash"] == hash_key(key) and row["prefix"] == key[:8]

        await h.message(1, "/key")
        status = h.session.last(SendMessage).text
        assert key not in status and key[8:] not in status
        assert f"<code>{key[:8]}…</code>" in status
        assert "✅ active" in status and "Last used: never" in status and "Created: " in status

        owner = await verify_key(h.db, key)
        assert owner is not None and owner.user_id == 1
        await h.message(1, "/key")
        assert "Last used: never" not in h.session.last(SendMessage).text


async def test_every_key_command_rechecks_the_caller(tmp_path):
    async with gated(tmp_path) as h:
        setup_channel(h, 1)
        key = await get_key(h, 1)
        h.session.chat_members[(CH, 1)] = "left"  # left without the bot seeing an update
        await h.message(1, "/key")
        text = h.session.last(SendMessage).text
        assert "switched off" in text and key[:8] in text
        assert await verify_key(h.db, key) is None
        h.session.chat_members[(CH, 1)] = "member"
        await h.message(1, "/key")
        assert "✅ active" in h.session.last(SendMessage).text
        assert await verify_key(h.db, key) is not None


async def test_ive_subscribed_button(tmp_path):
    async with gated(tmp_path) as h:
        setup_channel(h)
        await h.message(1, "/key")
        await h.feed(h.session.make_callback(1, "key:check:"))
        answer = h.session.last(AnswerCallbackQuery)
        assert answer.show_alert and "don't see you" in answer.text
        assert await key_row(h, 1) is None

        h.session.chat_members[(CH, 1)] = "member"
        await h.feed(h.session.make_callback(1, "key:check:"))
        edit = h.session.last(EditMessageText)
        key = issued_key(edit.text)
        assert await verify_key(h.db, key) is not None


async def test_restricted_members_count_only_with_is_member(tmp_path):
    async with gated(tmp_path) as h:
        setup_channel(h)
        h.session.chat_members[(CH, 1)] = {"status": "restricted", "is_member": True}
        h.session.chat_members[(CH, 2)] = {"status": "restricted", "is_member": False}
        await get_key(h, 1)
        await h.message(2, "/key")
        assert "subscribers of" in h.session.last(SendMessage).text
        assert await key_row(h, 2) is None


async def test_leave_switches_the_key_off_and_rejoin_on(tmp_path):
    async with gated(tmp_path) as h:
        setup_channel(h, 1)
        key = await get_key(h, 1)
        h.session.reset_calls()

        await h.feed(h.session.make_chat_member(CH, 1, "member", "left", chat_type="channel"))
        assert await verify_key(h.db, key) is None
        row = await key_row(h, 1)
        assert (row["is_active"], row["inactive_reason"]) == (0, "left_channel")
        notice = h.session.last(SendMessage)
        assert notice.chat_id == 1 and "switched off" in notice.text

        await h.feed(h.session.make_chat_member(CH, 1, "left", "member", chat_type="channel"))
        assert await verify_key(h.db, key) is not None
        notice = h.session.last(SendMessage)
        assert notice.chat_id == 1 and "works again" in notice.text
        assert len(h.session.calls_of(SendMessage)) == 2

        # a repeated update changes nothing and sends nothing
        await h.feed(h.session.make_chat_member(CH, 1, "left", "member", chat_type="channel"))
        assert len(h.session.calls_of(SendMessage)) == 2


async def test_kicked_and_restricted_transitions(tmp_path):
    async with gated(tmp_path) as h:
        setup_channel(h, 1)
        key = await get_key(h, 1)
        await h.feed(
            h.session.make_chat_member(
                CH, 1, "member", "kicked", from_user_id=777, chat_type="channel"
            )
        )
        assert await verify_key(h.db, key) is None
        await h.feed(
            h.session.make_chat_member(
                CH, 1, "kicked", "restricted", is_member=True, from_user_id=777, chat_type="channel"
            )
        )
        assert await verify_key(h.db, key) is not None
        # still restricted, but no longer a member (the builder sets one is_member for both)
        update = h.session.make_chat_member(
            CH, 1, "restricted", "restricted", is_member=False, chat_type="channel"
        )
        update["chat_member"]["old_chat_member"]["is_member"] = True
        await h.feed(update)
        assert await verify_key(h.db, key) is None


async def test_notice_to_a_user_who_blocked_the_bot(tmp_path):
    async with gated(tmp_path) as h:
        setup_channel(h, 1)
        key = await get_key(h, 1)
        h.session.blocked_chats.add(1)
        await h.feed(h.session.make_chat_member(CH, 1, "member", "left", chat_type="channel"))
        assert await verify_key(h.db, key) is None
        assert await h.db.fetchval("SELECT blocked_bot FROM users WHERE id = 1") == 1
        # the second change does not try again
        failed = len(h.session.failed_calls)
        await h.feed(
            h.session.make_chat_member(
                CH, 1, "left", "member", from_user_id=777, chat_type="channel"
            )
        )
        assert await verify_key(h.db, key) is not None
        assert len(h.session.failed_calls) == failed


async def test_other_chats_member_updates_are_ignored(tmp_path):
    async with gated(tmp_path) as h:
        setup_channel(h, 1)
        key = await get_key(h, 1)
        await h.feed(h.session.make_chat_member(-1009999, 1, "member", "left"))
        assert await verify_key(h.db, key) is not None


async def test_regenerate_asks_then_kills_the_old_key(tmp_path):
    async with gated(tmp_path) as h:
        setup_channel(h, 1)
        old = await get_key(h, 1)
        await h.feed(h.session.make_callback(1, "key:regen:"))
        confirm = h.session.last(SendMessage)
        assert "stops working at once" in confirm.text
        yes, cancel = buttons(confirm)
        assert cancel.callback_data == "key:cancel:"
        assert yes.callback_data == f"key:regen_yes:{old[:8]}"
        assert await verify_key(h.db, old) is not None  # nothing happened yet

        await h.feed(h.session.make_callback(1, yes.callback_data))
        new = issued_key(h.session.last(EditMessageText).text)
        assert new != old
        assert await verify_key(h.db, old) is None
        assert await verify_key(h.db, new) is not None

        # the same confirmation again is stale: the new key is untouched
        await h.feed(h.session.make_callback(1, yes.callback_data))
        answer = h.session.last(AnswerCallbackQuery)
        assert answer.show_alert and "out of date" in answer.text
        assert await verify_key(h.db, new) is not None


async def test_each_destructive_button_asks_its_own_confirmation(tmp_path):
    async with gated(tmp_path) as h:
        setup_channel(h, 1)
        key = await get_key(h, 1)
        expected = {
            "regen": ("Make a new key?", "✅ Yes, regenerate", "regen_yes"),
            "revoke": ("Revoke your key", "✅ Yes, revoke", "revoke_yes"),
        }
        for action, (question, yes_text, yes_action) in expected.items():
            await h.feed(h.session.make_callback(1, f"key:{action}:"))
            confirm = h.session.last(SendMessage)
            assert question in confirm.text and f"<code>{key[:8]}…</code>" in confirm.text
            yes, cancel = buttons(confirm)
            assert (yes.text, yes.callback_data) == (yes_text, f"key:{yes_action}:{key[:8]}")
            assert (cancel.text, cancel.callback_data) == ("✖️ Cancel", "key:cancel:")
        assert await verify_key(h.db, key) is not None  # asking changes nothing


async def test_revoke_then_new_key(tmp_path):
    async with gated(tmp_path) as h:
        setup_channel(h, 1)
        key = await get_key(h, 1)
        await h.feed(h.session.make_callback(1, "key:revoke:"))
        yes, _ = buttons(h.session.last(SendMessage))
        await h.feed(h.session.make_callback(1, yes.callback_data))
        assert "revoked" in h.session.last(EditMessageText).text
        assert await verify_key(h.db, key) is None

        await h.message(1, "/key")
        status = h.session.last(SendMessage)
        assert "inactive — you revoked it" in status.text
        (new_button,) = buttons(status)
        assert new_button.callback_data == f"key:new:{key[:8]}"
        await h.feed(h.session.make_callback(1, new_button.callback_data))
        new = issued_key(h.session.last(EditMessageText).text)
        assert await verify_key(h.db, new) is not None


async def test_cancel_changes_nothing(tmp_path):
    async with gated(tmp_path) as h:
        setup_channel(h, 1)
        key = await get_key(h, 1)
        await h.feed(h.session.make_callback(1, "key:revoke:"))
        await h.feed(h.session.make_callback(1, "key:cancel:"))
        assert "Nothing changed" in h.session.last(EditMessageText).text
        assert await verify_key(h.db, key) is not None


async def test_regenerate_by_someone_who_left_shows_the_gate(tmp_path):
    async with gated(tmp_path) as h:
        setup_channel(h, 1)
        key = await get_key(h, 1)
        await h.feed(h.session.make_callback(1, "key:regen:"))
        yes, _ = buttons(h.session.last(SendMessage))
        h.session.chat_members[(CH, 1)] = "left"
        await h.feed(h.session.make_callback(1, yes.callback_data))
        assert h.session.last(AnswerCallbackQuery).show_alert
        assert "switched off" in h.session.last(EditMessageText).text
        assert await verify_key(h.db, key) is None
        assert (await key_row(h, 1))["key_hash"] == hash_key(key)


async def test_concurrent_key_commands_create_one_key(tmp_path):
    async with gated(tmp_path) as h:
        setup_channel(h, 1)
        await h.message(1, "/start")
        updates = [h.session.make_message(1, "/key") for _ in range(8)]
        await asyncio.gather(*(h.feed(u) for u in updates))
        shown = [t for t in h.texts() if KEY_RE.search(t)]
        assert len(shown) == 1
        assert sum("✅ active" in t for t in h.texts()) == 7
        assert await h.db.fetchval("SELECT COUNT(*) FROM api_keys") == 1
        assert await verify_key(h.db, issued_key(shown[0])) is not None


async def test_bot_not_admin_means_temporarily_unavailable(tmp_path):
    async with gated(tmp_path) as h:
        setup_channel(h, 1, bot_admin=False)
        await h.message(1, "/key")
        assert "temporarily unavailable" in h.texts()[-1]
        assert await key_row(h, 1) is None
        # no member lookups of users while the bot can't read the channel
        assert all(c.user_id == BOT_ID for c in h.session.calls_of(GetChatMember))
        await h.feed(h.session.make_callback(1, "key:check:"))
        answer = h.session.last(AnswerCallbackQuery)
        assert answer.show_alert and "temporarily unavailable" in answer.text


async def test_member_list_refused_means_temporarily_unavailable(tmp_path):
    async with gated(tmp_path) as h:
        setup_channel(h, 1)
        key = await get_key(h, 1)
        h.session.chat_member_errors[CH] = "Bad Request: member list is inaccessible"
        await h.message(1, "/key")
        assert "temporarily unavailable" in h.texts()[-1]
        assert await verify_key(h.db, key) is not None  # our failure never switches a key off


async def test_bot_promoted_later_is_noticed(tmp_path):
    async with gated(tmp_path) as h:
        setup_channel(h, 1, bot_admin=False)
        await h.message(1, "/key")
        assert "temporarily unavailable" in h.texts()[-1]
        await h.feed(
            h.session.make_chat_member(
                CH, BOT_ID, "left", "administrator", my=True, from_user_id=777, chat_type="channel"
            )
        )
        await get_key(h, 1)


async def test_private_channel_links(tmp_path):
    async with harness(tmp_path, REQUIRED_CHANNEL=str(CH)) as h:
        setup_channel(h, username=None, invite_link="https://t.me/+InViTe")
        h.session.chats[CH].pop("username")
        await h.message(1, "/key")
        call = h.session.last(SendMessage)
        assert buttons(call)[0].url == "https://t.me/+InViTe"
        assert "VC News" in call.text

    async with harness(tmp_path / "b", REQUIRED_CHANNEL=str(CH)) as h:
        setup_channel(h)
        h.session.chats[CH].pop("username")
        await h.message(1, "/key")
        call = h.session.last(SendMessage)
        assert "no public link" in call.text
        assert [b.callback_data for b in buttons(call)] == ["key:check:"]


async def test_without_a_channel_keys_are_not_gated(tmp_path):
    async with harness(tmp_path) as h:
        key = await get_key(h, 1)
        assert "subscribed" not in h.session.last(SendMessage).text
        assert h.session.calls_of(GetChatMember) == []
        assert await verify_key(h.db, key) is not None


async def test_key_is_only_handed_out_in_private(tmp_path):
    async with harness(tmp_path) as h:
        await h.message(1, "/key", chat_type="supergroup")
        assert "private chat: @test_bot" in h.texts()[-1]
        assert await key_row(h, 1) is None


async def test_banned_user_gets_no_key(tmp_path):
    async with gated(tmp_path) as h:
        setup_channel(h, 1)
        await h.message(1, "/start")
        await h.db.execute("UPDATE users SET is_banned = 1 WHERE id = 1")
        await h.message(1, "/key")
        assert "blocked" in h.texts()[-1]
        assert await key_row(h, 1) is None


async def test_russian(tmp_path):
    async with gated(tmp_path) as h:
        setup_channel(h, 1)
        await h.message(1, "/key", language_code="ru")
        assert "Ваш API-ключ" in h.texts()[-1]
        await h.message(2, "/key", language_code="ru")
        assert "подписчикам" in h.texts()[-1]


def test_chat_member_updates_are_asked_for(tmp_path):
    from aiogram import Dispatcher

    from handlers import get_routers

    dp = Dispatcher()
    dp.include_routers(*get_routers())
    used = dp.resolve_used_update_types()
    assert "chat_member" in used and "my_chat_member" in used


async def test_key_status_line_for_usage(tmp_path):
    from bot.texts import Translator
    from handlers.keys import key_status_line

    t = Translator("en")
    async with gated(tmp_path) as h:
        setup_channel(h, 1)
        service = h.dp.workflow_data["key_service"]
        assert "none yet" in key_status_line(t, await service.key_status(1))
        key = await get_key(h, 1)
        line = key_status_line(t, await service.key_status(1))
        assert "active" in line and key[:8] in line and key[8:] not in line
        await service.sync_membership(1, False)
        line = key_status_line(Translator("ru"), await service.key_status(1))
        assert "не активен — вы не подписаны на канал" in line
