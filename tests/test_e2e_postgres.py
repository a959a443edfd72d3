"""Several processes on one PostgreSQL database (``TEST_DATABASE_URL``; skipped without it):
three ``python -m api`` gateways and the bot share one daily quota exactly, a key the bot
switches off is refused by every gateway at its next request, and a payment that reaches two
processes is credited once."""

from __future__ import annotations

import asyncio
import re

import httpx

from bot.config import Settings
from bot.services.payments import PaymentService
from storage.postgres import PgDatabase
from tests.conftest import TOKEN, make_settings
from tests.e2e_helpers import Process, add_channel, start_api, start_bot
from tests.gateway_helpers import seed_key, used_today
from tests.pg_helpers import empty_database

CH = -1001500000009
SPENDER = 900  # spends the daily quota through three gateways
LEAVER = 901  # leaves the channel: the bot switches the key off
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
QUOTA = 40
REQUESTS = 1000


async def test_three_gateways_and_the_bot_share_one_database_exactly(
    pg_url, telegram, upstream, tmp_path
):
    add_channel(telegram, CH)
    upstream.reply = "from PostgreSQL"
    db = await empty_database(pg_url)
    spender_key = await seed_key(db, SPENDER)
    leaver_key = await seed_key(db, LEAVER)
    telegram.chat_members[(CH, telegram.bot_id)] = "administrator"
    telegram.chat_members[(CH, LEAVER)] = "member"
    telegram.chat_members[(CH, SPENDER)] = "member"
    shared = {
        "DATABASE_URL": pg_url,
        "REQUIRED_CHANNEL": "@vc_news",
        "QUOTA_FREE_CHAT": str(QUOTA),
        "API_RATE_FREE_PER_SECOND": "-1",
        "RATE_FREE_PER_MINUTE": "-1",  # the per-process burst limit is not what is tested
        # 1,000 requests from one test process that also runs both fakes: on a loaded machine
        # its pool may hold a fresh connection silent for longer than the 10 s default
        "API_CLIENT_TIMEOUT": "60",
        "NEBULA_API_URL": f"{upstream.url}/v1",
    }
    procs: list[Process] = []
    try:
        bot = await start_bot(telegram, tmp_path, TOKEN, VISIONCRAFT_API_URL=upstream.url, **shared)
        procs.append(bot)
        urls = []
        for _ in range(3):
            gateway, url = await start_api(tmp_path, upstream.url, **shared)
            procs.append(gateway)
            urls.append(url)
        limits = httpx.Limits(max_connections=150)
        async with httpx.AsyncClient(timeout=60, limits=limits) as http:

            async def spend(i: int) -> int:
                reply = await http.post(
                    f"{urls[i % 3]}/v1/chat/completions",
                    json=BODY,
                    headers={"Authorization": f"Bearer {spender_key}"},
                )
                return reply.status_code

            codes = await asyncio.gather(*(spend(i) for i in range(REQUESTS)))
            assert codes.count(200) == QUOTA, sorted(set(codes))
            assert set(codes) == {200, 403}  # the rest: quota_exceeded
            assert await used_today(db, SPENDER, "chat") == QUOTA
            assert len(upstream.requests_to("/v1/chat/completions")) == QUOTA

            # Every gateway serves the leaver's key; the bot switches it off; each refuses.
            for url in urls:
                ok = await http.post(
                    f"{url}/v1/chat/completions",
                    json=BODY,
                    headers={"Authorization": f"Bearer {leaver_key}"},
                )
                assert ok.status_code == 200
            telegram.push_update(
                telegram.make_chat_member(CH, LEAVER, "member", "left", chat_type="channel")
            )
            await telegram.wait_for(
                "sendMessage",
                lambda c: c.get("chat_id") == LEAVER and "switched off" in (c.text or ""),
                timeout=30,
            )
            for url in urls:
                refused = await http.post(
                    f"{url}/v1/chat/completions",
                    json=BODY,
                    headers={"Authorization": f"Bearer {leaver_key}"},
                )
                assert refused.status_code == 403
                assert refused.json()["error"]["code"] == "not_subscribed"
    finally:
        codes_at_exit = [await proc.stop() for proc in procs]
        await db.close()
    assert codes_at_exit == [0] * len(procs)
    for proc in procs:
        assert "Traceback" not in proc.stderr
        assert spender_key not in proc.stderr and leaver_key not in proc.stderr
        assert not re.search(r"slow statement .*ROLLBACK", proc.stderr)


T0 = 1_767_225_600
BUYER = 1001


async def test_a_payment_reaching_two_processes_is_credited_once(pg_url, tmp_path):
    """Two databases (two pools: as the bot in two processes would have) receive the same
    successful payment ten times each, all at once."""
    settings: Settings = make_settings(tmp_path)
    first = await empty_database(pg_url)
    second = await PgDatabase(pg_url).connect()
    try:
        await first.execute(
            "INSERT INTO users (id, first_name, created_at, updated_at) VALUES (?, 'u', 0, 0)",
            (BUYER,),
        )
        services = [PaymentService(first, settings), PaymentService(second, settings)]
        invoice = await services[0].create_invoice(BUYER, "tier1", now=T0)
        outcomes = await asyncio.gather(
            *(
                services[i % 2].receive(
                    user_id=BUYER,
                    charge_id="charge-twice",
                    provider_charge_id=None,
                    payload=invoice.payload,
                    currency=invoice.currency,
                    amount=invoice.amount,
                    now=T0,
                )
                for i in range(20)
            )
        )
        assert [o.status for o in outcomes].count("credited") == 1
        assert await first.fetchval("SELECT COUNT(*) FROM payments") == 1
        assert (
            await second.fetchval("SELECT expires_at FROM user_tiers WHERE user_id = ?", (BUYER,))
            == T0 + 30 * 86400
        )
    finally:
        await second.close()
        await first.close()
