"""Telegram behind a proxy: the Bot API calls and file downloads of ``python -m bot`` go
through the proxy the usual variables name (``HTTP_PROXY`` here: the fake Bot API is plain
http), ``NO_PROXY`` exempts a host, and a proxy that is down or refuses is one line at start,
and a network error or a failed download, never an unexpected error, while running."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from aiogram.exceptions import TelegramNetworkError

from bot.factory import create_bot
from bot.services.chat import ImageDownloadFailed, ImageRef
from bot.texts import Translator
from handlers.adapters.chat_front import TelegramChatFront
from tests.conftest import TOKEN, make_settings
from tests.e2e_helpers import Process, bot_env, free_port, start_bot
from tests.fakes.proxy import ForwardProxy, Socks5Proxy


def tunnel_to(url: str) -> str:
    """The request line an HTTP proxy receives for a tunnel to ``url``'s host."""
    parts = urlsplit(url)
    return f"CONNECT {parts.hostname}:{parts.port} HTTP/1.1"


async def test_the_bot_api_is_called_through_the_proxy(telegram, tmp_path):
    async with ForwardProxy() as proxy:
        settings = make_settings(tmp_path, TELEGRAM_API_URL=telegram.url, HTTP_PROXY=proxy.url)
        bot = create_bot(settings)
        try:
            me = await bot.get_me()
            await bot.send_message(100, "hello")
        finally:
            await bot.session.close()
    assert me.username == "test_bot"
    assert proxy.requests and set(proxy.requests) == {tunnel_to(telegram.url)}
    assert telegram.calls_of("sendMessage")[-1]["text"] == "hello"


async def test_telegram_proxy_takes_socks5_with_a_login(telegram, tmp_path):
    async with Socks5Proxy() as proxy, ForwardProxy() as http_proxy:
        socks = f"socks5://bot:s3cret@127.0.0.1:{proxy.port}"
        settings = make_settings(
            tmp_path,
            TELEGRAM_API_URL=telegram.url,
            TELEGRAM_PROXY=socks,
            HTTP_PROXY=http_proxy.url,  # TELEGRAM_PROXY wins for Telegram
        )
        bot = create_bot(settings)
        try:
            assert (await bot.get_me()).username == "test_bot"
        finally:
            await bot.session.close()
    parts = urlsplit(telegram.url)
    assert proxy.requests == [f"CONNECT {parts.hostname}:{parts.port}"]
    assert proxy.logins == [("bot", "s3cret")]
    assert http_proxy.requests == []


async def test_no_proxy_naming_the_host_goes_direct(telegram, tmp_path):
    async with ForwardProxy() as proxy:
        settings = make_settings(
            tmp_path, TELEGRAM_API_URL=telegram.url, HTTP_PROXY=proxy.url, NO_PROXY="127.0.0.1"
        )
        bot = create_bot(settings)
        try:
            assert (await bot.get_me()).username == "test_bot"
        finally:
            await bot.session.close()
    assert proxy.requests == []


async def test_a_proxy_that_is_down_is_a_network_error(telegram, tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"
    settings = make_settings(tmp_path, TELEGRAM_API_URL=telegram.url, HTTP_PROXY=dead)
    bot = create_bot(settings)
    try:
        with pytest.raises(TelegramNetworkError, match="proxy"):
            await bot.send_message(100, "hello")
    finally:
        await bot.session.close()
    assert telegram.calls_of("sendMessage") == []


async def test_a_proxy_refusing_the_file_download_is_a_failed_download(telegram, tmp_path):
    # getFile goes through (the first tunnel); the file itself is refused: that path has no
    # request middleware, so the download itself must name the proxy's errors.
    telegram.add_file("photo-1", b"\x89PNG...")
    telegram.close_connections = True  # the download needs a tunnel of its own
    async with ForwardProxy(allow=1) as proxy:
        settings = make_settings(tmp_path, TELEGRAM_API_URL=telegram.url, HTTP_PROXY=proxy.url)
        bot = create_bot(settings)
        try:
            with pytest.raises(ImageDownloadFailed, match="ProxyError"):
                await TelegramChatFront(bot, Translator("en")).download(ImageRef("photo-1"))
        finally:
            await bot.session.close()
    assert [call.method for call in telegram.calls_of("getFile")] == ["getFile"]
    assert len(proxy.requests) == 2 and telegram.downloads == []


async def test_the_bot_process_polls_and_answers_through_the_proxy(telegram, tmp_path):
    async with ForwardProxy() as proxy:
        bot = await start_bot(telegram, tmp_path, TOKEN, HTTP_PROXY=proxy.url)
        try:
            telegram.push_update(telegram.make_message(100, "/start", first_name="Ann"))
            call = await telegram.wait_for("sendMessage", lambda c: c["chat_id"] == 100)
            assert "Hi, Ann!" in call.text
        finally:
            assert await bot.stop() == 0
    assert tunnel_to(telegram.url) in proxy.requests


async def test_a_proxy_that_is_down_at_start_is_one_line_naming_it(telegram, tmp_path):
    port = free_port()
    env = bot_env(telegram.url, tmp_path, TOKEN, HTTP_PROXY=f"http://me:hunter22@127.0.0.1:{port}")
    proc = await Process("bot", env, tmp_path).start()
    assert await proc.wait() == 2
    lines = [line for line in proc.stderr_lines if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"error: HTTP_PROXY: cannot reach {telegram.url} through the proxy")
    assert f"127.0.0.1:{port}" in lines[0]
    assert "hunter22" not in proc.stderr
