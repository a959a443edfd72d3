"""End to end: ``python -m bot`` as a process against the fake Bot API on 127.0.0.1."""

from __future__ import annotations

import json

import aiohttp
import pytest

from tests.conftest import TOKEN
from tests.e2e_helpers import (
    WEBHOOK_SECRET,
    WEBHOOK_URL,
    Process,
    bot_db_path,
    bot_env,
    free_port,
    start_bot,
    start_webhook_bot,
)


async def test_start_and_help_in_english_and_russian(telegram, tmp_path):
    bot = await start_bot(telegram, tmp_path, TOKEN, LOG_LEVEL="DEBUG")
    try:
        telegram.push_update(telegram.make_message(100, "/start", first_name="Ann"))
        call = await telegram.wait_for("sendMessage", lambda c: c["chat_id"] == 100)
        assert "Hi, Ann!" in call.text
        telegram.push_update(telegram.make_message(101, "/help", language_code="ru"))
        call = await telegram.wait_for("sendMessage", lambda c: c["chat_id"] == 101)
        assert "Команды" in call.text and "/usage" in call.text
        telegram.push_update(telegram.make_message(100, "/help"))
        call = await telegram.wait_for(
            "sendMessage", lambda c: c["chat_id"] == 100 and "Commands" in c.text
        )
        # The command menu is registered in English (default) and Russian.
        menus = telegram.calls_of("setMyCommands")
        assert {c.get("language_code") for c in menus} == {None, "ru"}
        ru = next(c for c in menus if c.get("language_code") == "ru")
        assert any(cmd["command"] == "usage" for cmd in ru["commands"])
    finally:
        code = await bot.stop()
    assert code == 0
    assert "shutdown complete" in bot.stderr
    assert TOKEN not in bot.stderr and TOKEN.split(":")[1] not in bot.stderr
    assert "Traceback" not in bot.stderr


async def test_flood_control_on_first_send_is_retried(telegram, tmp_path):
    bot = await start_bot(telegram, tmp_path, TOKEN)
    try:
        telegram.fail_next("sendMessage", retry_after=1)
        telegram.push_update(telegram.make_message(200, "/start"))
        call = await telegram.wait_for("sendMessage", lambda c: c["chat_id"] == 200, timeout=15)
        assert "Hi" in call.text
        attempts = telegram.calls_of("sendMessage", include_failed=True)
        assert [a.status for a in attempts] == [429, 200]
        assert attempts[1].time - attempts[0].time >= 0.9
    finally:
        await bot.stop()


async def test_data_survives_a_restart(telegram, tmp_path):
    bot = await start_bot(telegram, tmp_path, TOKEN)
    telegram.push_update(telegram.make_message(300, "/start", username="keeper"))
    await telegram.wait_for("sendMessage", lambda c: c["chat_id"] == 300)
    assert await bot.stop() == 0
    bot = await start_bot(telegram, tmp_path, TOKEN)
    try:
        telegram.push_update(telegram.make_message(300, "/usage"))
        call = await telegram.wait_for("sendMessage", lambda c: "usage today" in (c.text or ""))
        assert "Free" in call.text
    finally:
        await bot.stop()
    assert (bot_db_path(tmp_path)).exists()


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"BOT_TOKEN": ""}, "BOT_TOKEN"),
        ({"ADMIN_IDS": "12,abc"}, "ADMIN_IDS"),
        ({"QUOTA_FREE_CHAT": "lots"}, "QUOTA_FREE_CHAT"),
        ({"TELEGRAM_API_URL": "api.telegram.org"}, "TELEGRAM_API_URL"),
        ({"DATABASE_PATH": "/proc/visioncraft/bot.sqlite3"}, "DATABASE_PATH"),
        ({"HTTPS_PROXY": "socks5://user:hunter22@127.0.0.1:1080"}, "HTTPS_PROXY"),
        ({"http_proxy": "proxy.example.org:3128"}, "http_proxy"),
    ],
)
async def test_bad_configuration_is_one_line_and_exit_2(telegram, tmp_path, env, needle):
    proc = await Process("bot", bot_env(telegram.url, tmp_path, TOKEN, **env), tmp_path).start()
    code = await proc.wait()
    assert code == 2
    lines = [line for line in proc.stderr_lines if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and needle in lines[0]
    assert "hunter22" not in proc.stderr  # a proxy's password is never repeated
    assert "Traceback" not in proc.stderr


async def test_wrong_token_is_one_line_and_exit_2(telegram, tmp_path):
    other = "555666:WRONGtoken-wrongTOKEN_wrongtokenWRONG1"
    proc = await Process("bot", bot_env(telegram.url, tmp_path, other), tmp_path).start()
    assert await proc.wait() == 2
    assert "BOT_TOKEN: Telegram refused this token" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert other not in proc.stderr


async def test_dotenv_file_is_read(telegram, tmp_path):
    (tmp_path / ".env").write_text(
        f"BOT_TOKEN={TOKEN}\nTELEGRAM_API_URL={telegram.url}\n"
        f"DATABASE_PATH={tmp_path / 'envdb.sqlite3'}\n"
    )
    env = bot_env(telegram.url, tmp_path, TOKEN)
    for name in ("BOT_TOKEN", "TELEGRAM_API_URL", "DATABASE_PATH"):
        env.pop(name)
    proc = await Process("bot", env, tmp_path).start()
    try:
        await proc.wait_for_log("Run polling", timeout=90)
        assert (tmp_path / "envdb.sqlite3").exists()
    finally:
        await proc.stop()


async def test_webhook_mode_checks_the_secret(telegram, tmp_path):
    port = free_port()
    proc = await start_webhook_bot(telegram, tmp_path, TOKEN, port)
    try:
        call = await telegram.wait_for("setWebhook", timeout=90)
        assert call["url"] == WEBHOOK_URL
        assert call["secret_token"] == WEBHOOK_SECRET
        update = telegram.make_message(400, "/start")
        url = f"http://127.0.0.1:{port}/tg/hook"
        async with aiohttp.ClientSession() as http:
            bad = {"X-Telegram-Bot-Api-Secret-Token": "wrong"}
            async with http.post(url, data=json.dumps(update), headers=bad) as resp:
                assert resp.status == 401
            good = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
            async with http.post(url, data=json.dumps(update), headers=good) as resp:
                assert resp.status == 200
        call = await telegram.wait_for("sendMessage", lambda c: c["chat_id"] == 400)
        assert "Hi" in call.text
        assert not telegram.calls_of("getUpdates")
    finally:
        assert await proc.stop() == 0
    assert WEBHOOK_SECRET not in proc.stderr
