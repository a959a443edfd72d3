"""Faults around the real process (``python -m bot``) on 127.0.0.1.

Starting the bot is the slow part (importing aiogram), so the whole module shares two runs:
the first is killed with SIGKILL in the middle of a payment, an image generation and a
streamed answer; the second starts on the same database and then goes through Telegram
refusing sends (429, 5xx), upstreams that hang, answer garbage or cut a stream, the database
locked by another writer, and malformed updates. The tests run in file order.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot.texts import Translator
from tests.conftest import FAKE_POLL_SECONDS, TOKEN
from tests.e2e_helpers import Process, start_bot
from tests.fakes.bot_api import Call, FakeBotAPI
from tests.fakes.upstream import FakeUpstream
from tests.fault_helpers import Lock

pytestmark = pytest.mark.asyncio(loop_scope="module")

KEY = "vc-operator-key-faults-0123456789"
CHAT = "/v1/chat/completions"
PAYER, DRAWER, TALKER = 7001, 7002, 7003
EN = Translator.for_code("en")


@dataclass
class World:
    api: FakeBotAPI
    upstream: FakeUpstream
    root: Path
    bot: Process | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def db_path(self) -> Path:
        return self.root / "data" / "bot.sqlite3"

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        con = sqlite3.connect(self.db_path)
        try:
            return [tuple(r) for r in con.execute(sql, params).fetchall()]
        finally:
            con.close()

    def used(self, user_id: int, kind: str) -> int:
        found = self.rows(
            "SELECT COALESCE(SUM(used), 0) FROM usage_daily WHERE user_id = ? AND kind = ?",
            user_id,
            kind,
        )
        return found[0][0]

    async def running(self) -> Process:
        """The second run (started by the first test; started here if that test failed)."""
        if self.bot is None or self.bot.proc is None or self.bot.proc.returncode is not None:
            self.bot = await start_bot(self.api, self.root, TOKEN, **self.env)
        return self.bot


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory) -> AsyncIterator[World]:
    # Its own fake, built like conftest's ``telegram``: that one lives for one test, this one
    # for the whole module (the bot's two runs span the tests).
    async with (
        FakeBotAPI(token=TOKEN, max_poll_timeout=FAKE_POLL_SECONDS) as api,
        FakeUpstream() as upstream,
    ):
        env = {
            "VISIONCRAFT_API_URL": upstream.url,
            "VISIONCRAFT_API_KEY": KEY,
            "NEBULA_API_URL": f"{upstream.url}/v1",
            "GENERATION_CONCURRENCY": "2",
        }
        state = World(api, upstream, tmp_path_factory.mktemp("faults"), env=env)
        try:
            yield state
        finally:
            if state.bot is not None:
                code = await state.bot.stop()
                assert code == 0, state.bot.stderr
                assert "Traceback" not in state.bot.stderr, state.bot.stderr


def to(chat_id: int, needle: str | None = None):
    def match(call: Call) -> bool:
        if call.get("chat_id") != chat_id:
            return False
        return needle is None or needle in (call.text or call.get("caption") or "")

    return match


def delivered(update_id: int):
    return lambda call: any(u.get("update_id") == update_id for u in call.result or [])


async def until(predicate, seconds: float = 20.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def test_kill_9_during_a_payment_a_generation_and_an_answer(world: World) -> None:
    api, up = world.api, world.upstream
    bot = await start_bot(api, world.root, TOKEN, **world.env)
    try:
        # The payer gets an invoice and passes pre-checkout.
        api.push_update(api.make_message(PAYER, "/premium"))
        await api.wait_for("sendMessage", to(PAYER))
        api.push_update(api.make_callback(PAYER, "prem:buy:tier1"))
        invoice = await api.wait_for("sendInvoice", to(PAYER))
        api.push_update(api.make_pre_checkout(PAYER, invoice["payload"], 500))
        assert (await api.wait_for("answerPreCheckoutQuery"))["ok"] is True

        # An image is being generated (the upstream takes its time) ...
        up.hang("/sd", 120)
        api.push_update(api.make_message(DRAWER, "/image a lighthouse at dusk"))
        await until(lambda: up.requests_to("/sd"))
        # ... and an answer is being streamed (the upstream stalls after two pieces).
        up.stream_chunks = ["Half ", "of ", "an ", "answer"]
        up.stall_stream_after = 2
        api.push_update(api.make_message(TALKER, "tell me everything"))
        await api.wait_for("sendMessageDraft", to(TALKER))

        # The payment arrives while another process holds the database: the bot has it
        # (getUpdates returned it) but cannot write it down yet - and is killed.
        lock = Lock(world.db_path, 60).take()
        try:
            payment = api.make_successful_payment(PAYER, invoice["payload"], 500, "charge-k9")
            api.push_update(payment)
            await api.wait_for("getUpdates", delivered(payment["update_id"]))
            await asyncio.sleep(0.3)
            await bot.kill()  # SIGKILL: no shutdown hooks, no refunds, nothing flushed
        finally:
            lock.release()
        assert bot.proc is not None and bot.proc.returncode == -9
    except BaseException:
        await bot.kill()
        raise

    # What the dead process left: two units spent for undelivered work, no payment.
    assert world.used(DRAWER, "image") == 1 and world.used(TALKER, "chat") == 1
    assert len(world.rows("SELECT id FROM quota_holds")) == 2
    assert world.rows("SELECT charge_id FROM payments") == []
    up.clear_faults()
    up.stall_stream_after = None
    up.stream_chunks = None
    calls_before = len(api.calls)

    # Second run, same database. Telegram never got the offset that confirms the payment,
    # so it is delivered again: recorded, credited once, receipt sent.
    world.env["CHAT_FIRST_TOKEN_TIMEOUT"] = "2"  # for the upstream-fault test below
    world.bot = await start_bot(api, world.root, TOKEN, **world.env)
    receipt = await api.wait_for("sendMessage", to(PAYER, "charge-k9"), timeout=30)
    assert "Payment received" in receipt.text
    assert world.rows("SELECT charge_id, status FROM payments") == [("charge-k9", "credited")]
    assert world.rows("SELECT tier FROM user_tiers WHERE user_id = ?", PAYER) == [("tier1",)]

    # The cut-off image and answer: units given back, both people told to send again.
    image_note = EN("restart.interrupted", kind=EN("kind.image"))
    chat_note = EN("restart.interrupted", kind=EN("kind.chat"))
    await api.wait_for("sendMessage", lambda c: to(DRAWER)(c) and c.text == image_note)
    await api.wait_for("sendMessage", lambda c: to(TALKER)(c) and c.text == chat_note)
    assert world.used(DRAWER, "image") == 0 and world.used(TALKER, "chat") == 0
    assert world.rows("SELECT id FROM quota_holds") == []

    # Telegram delivers the same payment once more: no second credit.
    api.push_update({k: v for k, v in payment.items() if k != "update_id"})
    await api.wait_for("sendMessage", to(PAYER, "charge-k9"), count=2)
    assert world.rows("SELECT charge_id, status FROM payments") == [("charge-k9", "credited")]
    expires = world.rows("SELECT expires_at FROM user_tiers WHERE user_id = ?", PAYER)
    api.push_update(api.make_message(PAYER, "/usage"))
    usage = await api.wait_for("sendMessage", to(PAYER, "usage today"))
    assert "Tier 1" in usage.text
    assert world.rows("SELECT expires_at FROM user_tiers WHERE user_id = ?", PAYER) == expires
    new_calls = api.calls[calls_before:]
    assert not [c for c in new_calls if c.method == "sendMessage" and c.failed]

    # The same image and question now go through and are counted once.
    api.push_update(api.make_message(DRAWER, "/image a lighthouse at dusk"))
    await api.wait_for("sendPhoto", to(DRAWER), timeout=30)
    assert world.used(DRAWER, "image") == 1


async def test_telegram_429_and_5xx_on_sends(world: World) -> None:
    api = world.api
    await world.running()
    user = 7101

    api.fail_next("sendMessage", retry_after=1)
    api.push_update(api.make_message(user, "/start"))
    answer = await api.wait_for("sendMessage", to(user), timeout=20)
    assert "Hi" in answer.text
    attempts = [c.status for c in api.calls_of("sendMessage", include_failed=True) if to(user)(c)]
    assert attempts == [429, 200]

    # A 5xx on a send is not repeated (Telegram may have delivered it before failing): the
    # help is tried once, and the error router's apology follows.
    api.fail_next("sendMessage", status=502)
    api.push_update(api.make_message(user, "/help"))
    sorry = await api.wait_for("sendMessage", to(user, EN("error.generic")), timeout=20)
    assert sorry.status == 200
    calls = [c for c in api.calls_of("sendMessage", include_failed=True) if to(user)(c)]
    assert [c.status for c in calls[-2:]] == [502, 200]
    assert not any("/usage" in (c.get("text") or "") for c in calls if c.status == 200)


async def test_upstream_hangs_answers_garbage_or_cuts_the_stream(world: World) -> None:
    api, up = world.api, world.upstream
    await world.running()
    user = 7201
    api.push_update(api.make_message(user, "/start"))
    await api.wait_for("sendMessage", to(user))

    def retry_offer(needle: str):
        def match(call: Call) -> bool:
            markup = call.get("reply_markup") or {}
            buttons = [b for row in markup.get("inline_keyboard", []) for b in row]
            return to(user, needle)(call) and any(
                b.get("callback_data", "").startswith("chat-retry:") for b in buttons
            )

        return match

    # Hangs: no first token within CHAT_FIRST_TOKEN_TIMEOUT (2 s).
    up.hang(CHAT, 30)
    api.push_update(api.make_message(user, "are you there?"))
    await api.wait_for("sendMessage", retry_offer(EN("chat.failed")), timeout=20)
    up.clear_faults()
    assert world.used(user, "chat") == 0

    # Garbage: an HTML error page with status 200.
    up.fail(CHAT, status=200, body="<html><body>Bad gateway</body></html>", times=1)
    api.push_update(api.make_message(user, "and now?"))
    await api.wait_for("sendMessage", retry_offer(EN("chat.failed")), count=2, timeout=20)
    assert world.used(user, "chat") == 0

    # A stream closed half-way: what arrived stays, with an apology and the retry button.
    up.stream_chunks = ["First ", "half ", "second ", "half"]
    up.break_stream_after = 2
    api.push_update(api.make_message(user, "one more"))
    cut = await api.wait_for("sendMessage", to(user, "First half"), timeout=20)
    await api.wait_for("sendMessage", retry_offer(EN("chat.failed")), count=3, timeout=20)
    assert "second" not in cut.text
    up.break_stream_after = None
    up.stream_chunks = None
    assert world.used(user, "chat") == 0

    # An image upstream answering JSON instead of a picture.
    up.fail("/sd", status=200, body={"error": "model overloaded"}, times=1)
    api.push_update(api.make_message(user, "/image a red fox"))
    await api.wait_for("sendMessage", to(user, "not a picture"), timeout=20)
    await until(lambda: world.used(user, "image") == 0)
    assert not [c for c in api.calls_of("sendPhoto") if to(user)(c)]

    # Everything works again once the upstream does.
    up.reply = "Back to normal."
    api.push_update(api.make_message(user, "hello again"))
    await api.wait_for("sendMessage", to(user, "Back to normal."), timeout=20)
    assert world.used(user, "chat") == 1


async def test_database_locked_by_another_writer(world: World) -> None:
    api = world.api
    await world.running()
    known, newcomer = 7301, 7302
    api.push_update(api.make_message(known, "/start"))
    await api.wait_for("sendMessage", to(known))

    lock = Lock(world.db_path, 20).take()
    try:
        # A newcomer must be written down: that waits. A known user's /help only reads: it
        # is answered meanwhile - the bot keeps polling and serving.
        api.push_update(api.make_message(newcomer, "/start"))
        api.push_update(api.make_message(known, "/help"))
        await api.wait_for("sendMessage", to(known, "/usage"), timeout=20)
        assert not [c for c in api.calls_of("sendMessage") if to(newcomer)(c)]
        await asyncio.sleep(1.5)
        assert not [c for c in api.calls_of("sendMessage") if to(newcomer)(c)]
    finally:
        lock.release()
    await api.wait_for("sendMessage", to(newcomer, "Hi"), timeout=20)
    assert world.rows("SELECT id FROM users WHERE id = ?", newcomer) == [(newcomer,)]


async def test_malformed_updates_do_not_stop_polling(world: World) -> None:
    api = world.api
    bot = await world.running()
    user = 7401
    api.push_update({"future_update_kind": {"id": 1, "payload": ["x"] * 10}})
    api.push_update({})
    api.push_update({"message": {"message_id": 1}})  # no chat, no sender, no date
    button = api.make_callback(user, "button-of-a-removed-feature")
    api.push_update(button)
    query_id = button["callback_query"]["id"]
    alert = await api.wait_for(
        "answerCallbackQuery", lambda c: c.get("callback_query_id") == query_id, timeout=20
    )
    assert alert.get("show_alert") is True and "button" in alert["text"]
    api.push_update(api.make_message(user, "/start"))
    await api.wait_for("sendMessage", to(user, "Hi"), timeout=20)
    assert "Traceback" not in bot.stderr
