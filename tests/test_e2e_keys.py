"""End to end: /key and REQUIRED_CHANNEL through ``python -m bot`` and the fake Bot API."""

from __future__ import annotations

import re

from storage.db import Database
from tests.conftest import TOKEN
from tests.e2e_helpers import add_channel, bot_db_path, start_bot
from tests.fakes.bot_api import FakeBotAPI
from tests.key_helpers import verify_key

CH = -1001500000002
KEY_RE = re.compile(r"<tg-spoiler><code>(vc_[A-Za-z0-9]{40})</code></tg-spoiler>")


def to(user_id: int, needle: str):
    return lambda c: c.get("chat_id") == user_id and needle in (c.text or "")


async def open_db(tmp_path) -> Database:
    return await Database(bot_db_path(tmp_path)).connect()


async def get_key(telegram: FakeBotAPI, user_id: int) -> str:
    telegram.push_update(telegram.make_message(user_id, "/key"))
    call = await telegram.wait_for("sendMessage", to(user_id, "<tg-spoiler>"), timeout=15)
    match = KEY_RE.search(call.text)
    assert match, call.text
    return match.group(1)


async def test_key_follows_channel_membership_and_catches_up_after_a_restart(telegram, tmp_path):
    add_channel(telegram, CH)
    telegram.chat_members[(CH, telegram.bot_id)] = "administrator"
    telegram.chat_members[(CH, 500)] = "member"
    telegram.chat_members[(CH, 600)] = "member"
    bot = await start_bot(telegram, tmp_path, TOKEN, REQUIRED_CHANNEL="@vc_news")
    db = await open_db(tmp_path)
    try:
        await bot.wait_for_log("the bot is an administrator")
        allowed = (await telegram.wait_for("getUpdates")).get("allowed_updates")
        assert "chat_member" in allowed and "message" in allowed

        # a non-member meets the gate
        telegram.push_update(telegram.make_message(501, "/key"))
        gate = await telegram.wait_for("sendMessage", to(501, "subscribers of @vc_news"))
        assert gate["reply_markup"]["inline_keyboard"][0][0]["url"] == "https://t.me/vc_news"

        key = await get_key(telegram, 500)
        leaver = await get_key(telegram, 600)
        assert (await verify_key(db, key)).user_id == 500

        telegram.push_update(
            telegram.make_chat_member(CH, 500, "member", "left", chat_type="channel")
        )
        await telegram.wait_for("sendMessage", to(500, "switched off"))
        assert await verify_key(db, key) is None

        telegram.push_update(
            telegram.make_chat_member(CH, 500, "left", "member", chat_type="channel")
        )
        await telegram.wait_for("sendMessage", to(500, "works again"))
        assert (await verify_key(db, key)).user_id == 500
    finally:
        code = await bot.stop()
    assert code == 0
    assert "Traceback" not in bot.stderr and "ERROR" not in bot.stderr
    assert key not in bot.stderr and key[8:] not in bot.stderr

    # While the bot is down 600 leaves: no update will ever tell it.
    telegram.chat_members[(CH, 600)] = "left"
    await db.execute("UPDATE api_keys SET checked_at = 0")  # last checked long ago
    bot = await start_bot(
        telegram,
        tmp_path,
        TOKEN,
        REQUIRED_CHANNEL="@vc_news",
        KEY_RECHECK_PER_SECOND="20",
        KEY_RECHECK_INTERVAL="3600",
    )
    try:
        await telegram.wait_for("sendMessage", to(600, "switched off"), timeout=15)
        assert await verify_key(db, leaver) is None
        assert (await verify_key(db, key)).user_id == 500
        assert not [c for c in telegram.calls_of("sendMessage") if to(500, "switched off")(c)][1:]
    finally:
        await db.close()
        code = await bot.stop()
    assert code == 0
    assert "Traceback" not in bot.stderr


async def test_bot_not_admin_is_an_error_for_the_operator_only(telegram, tmp_path):
    add_channel(telegram, CH)
    telegram.chat_members[(CH, 700)] = "member"
    bot = await start_bot(telegram, tmp_path, TOKEN, REQUIRED_CHANNEL="@vc_news")
    try:
        await bot.wait_for_log("not an administrator")
        line = next(s for s in bot.stderr_lines if "not an administrator" in s)
        assert " ERROR " in line and "@vc_news" in line
        telegram.push_update(telegram.make_message(700, "/key"))
        await telegram.wait_for("sendMessage", to(700, "temporarily unavailable"))
        assert bot.proc.returncode is None
    finally:
        code = await bot.stop()
    assert code == 0
    assert "Traceback" not in bot.stderr
    assert bot.stderr.count("not an administrator") == 1  # logged once, not per user
    assert "REQUIRED_CHANNEL is not set" not in bot.stderr
