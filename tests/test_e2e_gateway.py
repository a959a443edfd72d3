"""End to end through both processes: a key from /key (``python -m bot`` against the fake
Bot API) works against ``python -m api`` on the same database, follows the owner's channel
membership, and spends the same daily quota."""

from __future__ import annotations

import re

import openai
import pytest

from tests.conftest import TOKEN
from tests.e2e_helpers import add_channel, start_api, start_bot
from tests.gateway_helpers import OPERATOR_VC_KEY, sdk_client

CH = -1001500000003
KEY_RE = re.compile(r"(vc_[A-Za-z0-9]{32,})")
USER = 800
MESSAGES = [{"role": "user", "content": "hello"}]


def to(user_id: int, needle: str):
    return lambda c: c.get("chat_id") == user_id and needle in (c.text or "")


async def test_key_from_the_bot_works_against_the_gateway(telegram, upstream, tmp_path):
    add_channel(telegram, CH)
    upstream.reply = "Hello through both processes"
    telegram.chat_members[(CH, telegram.bot_id)] = "administrator"
    telegram.chat_members[(CH, USER)] = "member"
    shared = {
        "REQUIRED_CHANNEL": "@vc_news",
        "QUOTA_FREE_CHAT": "3",
        "API_RATE_FREE_PER_SECOND": "-1",
        "VISIONCRAFT_API_URL": upstream.url,
        "VISIONCRAFT_API_KEY": OPERATOR_VC_KEY,
        "NEBULA_API_URL": f"{upstream.url}/v1",
    }
    bot = await start_bot(telegram, tmp_path, TOKEN, **shared)
    gateway = None
    try:
        gateway, url = await start_api(tmp_path, upstream.url, **shared)
        telegram.push_update(telegram.make_message(USER, "/key"))
        call = await telegram.wait_for("sendMessage", to(USER, "vc_"), timeout=30)
        key = KEY_RE.search(call.text).group(1)

        async with sdk_client(url, key) as client:
            reply = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            assert reply.choices[0].message.content == "Hello through both processes"

            telegram.push_update(
                telegram.make_chat_member(CH, USER, "member", "left", chat_type="channel")
            )
            await telegram.wait_for("sendMessage", to(USER, "switched off"), timeout=30)
            with pytest.raises(openai.PermissionDeniedError) as left:
                await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            assert left.value.code == "not_subscribed" and "@vc_news" in left.value.message

            telegram.push_update(
                telegram.make_chat_member(CH, USER, "left", "member", chat_type="channel")
            )
            await telegram.wait_for("sendMessage", to(USER, "works again"), timeout=30)
            await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

            # The bot's chat spends the same budget: 2 API calls + 1 message = 3 of 3.
            telegram.push_update(telegram.make_message(USER, "Hi bot"))
            await telegram.wait_for(
                "sendMessage", to(USER, "Hello through both processes"), timeout=30
            )
            with pytest.raises(openai.PermissionDeniedError) as spent:
                await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            assert spent.value.code == "quota_exceeded"
        assert len(upstream.requests_to("/v1/chat/completions")) == 3
    finally:
        if gateway is not None:
            assert await gateway.stop() == 0
        assert await bot.stop() == 0
    for proc in (bot, gateway):
        assert "Traceback" not in proc.stderr
        assert key not in proc.stderr and OPERATOR_VC_KEY not in proc.stderr
