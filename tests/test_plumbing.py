"""The pieces that keep the bot fast (bench/) and crash-safe, each on its own: the Bot API
session (stock aiogram, reading getUpdates one update at a time), kept response types, the
payment journal (polling and webhook) and the webhook's bound on updates in flight."""

from __future__ import annotations

import asyncio
import gc
import json
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter
from aiogram.methods import GetMyShortDescription, GetUpdates, Response
from aiogram.types import BufferedInputFile, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder
from aiohttp import ClientSession, web
from prometheus_client import REGISTRY

from bot.services.payments import PaymentService
from bot.services.users import UserService
from handlers.adapters.payment_journal import PaymentJournal
from handlers.adapters.session import TolerantAiohttpSession
from handlers.adapters.webhook import WebhookHandler
from handlers.middlewares.response_types import KeepResponseTypes
from storage.db import Database
from tests.conftest import TOKEN, make_settings, wait_until
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.session import RecordingSession, make_bot
from tests.fakes.upstream import make_png


class TypedFakeAPI(FakeBotAPI):
    """Remembers the Content-Type of every request."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.content_types: list[tuple[str, str]] = []

    async def _read_request(self, request: web.Request) -> Any:
        self.content_types.append((request.match_info["method"], request.content_type))
        return await super()._read_request(request)


# Not conftest's ``telegram``: one test reads the Content-Type of each request, which only
# this subclass records.
@pytest.fixture
async def api():
    async with TypedFakeAPI(token=TOKEN) as server:
        yield server


def json_bot(api: FakeBotAPI) -> Bot:
    session = TolerantAiohttpSession(api=TelegramAPIServer.from_base(api.url))
    return Bot(TOKEN, session=session, default=DefaultBotProperties(parse_mode="HTML"))


async def test_calls_are_sent_and_answers_read_as_usual(api):
    bot = json_bot(api)
    try:
        keyboard = InlineKeyboardBuilder()
        keyboard.button(text="Go", callback_data="go:1")
        message = await bot.send_message(
            55, "<b>Hi</b> &amp; bye", reply_markup=keyboard.as_markup(), disable_notification=True
        )
        assert message.text == "Hi & bye" and message.chat.id == 55
        call = api.last("sendMessage")
        assert call["chat_id"] == 55 and call["parse_mode"] == "HTML"
        assert call["disable_notification"] is True
        assert call["reply_markup"] == {
            "inline_keyboard": [[{"text": "Go", "callback_data": "go:1"}]]
        }
    finally:
        await bot.session.close()


async def test_uploads_still_go_as_multipart(api):
    bot = json_bot(api)
    try:
        png = make_png(4, 4)
        await bot.send_photo(56, BufferedInputFile(png, "a.png"), caption="<i>x</i>")
        call = api.last("sendPhoto")
        assert call.upload("photo") == png and call["caption"] == "<i>x</i>"
        assert ("sendPhoto", "multipart/form-data") in api.content_types
    finally:
        await bot.session.close()


async def test_telegram_errors_are_raised_as_before(api):
    bot = json_bot(api)
    try:
        with pytest.raises(TelegramBadRequest, match="can't parse entities"):
            await bot.send_message(57, "<b>broken")
        api.fail_next("sendMessage", retry_after=3)
        with pytest.raises(TelegramRetryAfter) as info:
            await bot.send_message(57, "later")
        assert info.value.retry_after == 3
    finally:
        await bot.session.close()


async def test_response_types_are_kept_alive():
    middleware = KeepResponseTypes()
    method = GetMyShortDescription()

    async def make_request(bot: Any, method: Any) -> str:
        return "ok"

    assert await middleware(make_request, None, method) == "ok"
    pinned = middleware.pinned[method.__returning__]
    ref = weakref.ref(pinned)
    del pinned
    gc.collect()
    assert ref() is not None and Response[method.__returning__] is ref()


# -- the payment journal -------------------------------------------------------------------


@pytest.fixture
async def payments(tmp_path):
    db = await Database(tmp_path / "pay.sqlite3").connect()
    try:
        yield PaymentService(db, make_settings(tmp_path))
    finally:
        await db.close()


async def statuses(payments: PaymentService) -> list[tuple[str, str]]:
    rows = await payments.db.fetchall("SELECT charge_id, status FROM payments ORDER BY charge_id")
    return [tuple(row) for row in rows]


async def test_a_payment_is_recorded_before_getupdates_returns(api, payments):
    await UserService(payments.db).touch(
        701, username=None, first_name="P", last_name=None, language_code="en"
    )
    invoice = await payments.create_invoice(701, "tier1")
    bot = json_bot(api)
    bot.session.middleware(PaymentJournal(payments, UserService(payments.db)))
    try:
        api.push_update(api.make_message(701, "hello"))
        api.push_update(api.make_successful_payment(701, invoice.payload, 500, "ch-1"))
        updates = await bot(GetUpdates(timeout=0))
        assert len(updates) == 2
        # Recorded (not credited: that is the handler's job) before anyone handled it.
        assert await statuses(payments) == [("ch-1", "received")]
        assert await payments.db.fetchval("SELECT COUNT(*) FROM user_tiers") == 0
        # Delivered again (Telegram never got the confirming offset): still one record.
        await bot(GetUpdates(timeout=0))
        assert await statuses(payments) == [("ch-1", "received")]
    finally:
        await bot.session.close()


async def test_a_payment_that_cannot_be_recorded_is_not_confirmed(api, payments):
    bot = json_bot(api)
    bot.session.middleware(PaymentJournal(payments, UserService(payments.db)))
    try:
        api.push_update(api.make_successful_payment(702, "prem:702:tier1:x", 500, "ch-2"))
        await payments.db.close()  # the database is gone
        with pytest.raises(RuntimeError):
            await bot(GetUpdates(timeout=0))
        # aiogram's polling backs off and asks again with the same offset: the update waits.
        assert len(api.pending_updates) == 1
        await payments.db.connect()
        await bot(GetUpdates(timeout=0))
        assert await statuses(payments) == [("ch-2", "unmatched")]
    finally:
        await bot.session.close()


@asynccontextmanager
async def webhook_server(
    payments, dp: Dispatcher, session: RecordingSession, **options: Any
) -> AsyncIterator[str]:
    """bot.app's webhook handler (secret ``s3cret``) on 127.0.0.1; yields its URL."""
    handler = WebhookHandler(
        journal=PaymentJournal(payments, UserService(payments.db)),
        dispatcher=dp,
        bot=make_bot(session),
        secret_token="s3cret",
        **options,
    )
    app = web.Application()
    handler.register(app, "/hook")
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    finally:
        await runner.cleanup()


async def test_webhook_records_a_payment_before_answering(payments):
    session = RecordingSession()
    update = session.make_successful_payment(703, "prem:703:tier1:x", 500, "ch-3")
    async with webhook_server(payments, Dispatcher(), session) as url, ClientSession() as http:
        wrong = {"X-Telegram-Bot-Api-Secret-Token": "nope"}
        async with http.post(url, data=json.dumps(update), headers=wrong) as resp:
            assert resp.status == 401
        assert await statuses(payments) == []
        right = {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
        async with http.post(url, data=json.dumps(update), headers=right) as resp:
            assert resp.status == 200
        assert await statuses(payments) == [("ch-3", "unmatched")]
        await payments.db.close()
        update = session.make_successful_payment(703, "prem:703:tier1:y", 500, "ch-4")
        async with http.post(url, data=json.dumps(update), headers=right) as resp:
            assert resp.status == 500  # Telegram delivers it again later
        # Anything else is answered as before, even with the database gone.
        plain = session.make_message(703, "hi")
        async with http.post(url, data=json.dumps(plain), headers=right) as resp:
            assert resp.status == 200


async def test_an_unreadable_update_is_skipped_not_retried_forever(api):
    bot = json_bot(api)
    try:
        api.push_update({"message": {"message_id": 1}})  # no chat, no sender, no date
        good = api.push_update(api.make_message(60, "after the bad one"))
        updates = await bot(GetUpdates(timeout=0))
        assert [u.update_id for u in updates] == [good - 1, good]
        assert updates[0].message is None  # an empty update: handled as an unknown type
        assert updates[1].message is not None and updates[1].message.text == "after the bad one"
        # The next poll confirms both: nothing comes back.
        assert await bot(GetUpdates(offset=good + 1, timeout=0)) == []
    finally:
        await bot.session.close()


async def test_durable_writes_are_flushed_and_the_setting_restored(tmp_path):
    db = await Database(tmp_path / "d.sqlite3").connect()
    try:
        assert await db.fetchval("PRAGMA synchronous") == 1  # NORMAL
        async with db.durable():
            assert await db.fetchval("PRAGMA synchronous") == 2  # FULL
        assert await db.fetchval("PRAGMA synchronous") == 1
    finally:
        await db.close()


async def test_webhook_handles_at_most_max_in_flight_updates_at_once(payments):
    session = RecordingSession()
    dp = Dispatcher()
    release = asyncio.Event()
    handled: list[str] = []

    @dp.message()
    async def slow(message: Message) -> None:
        handled.append(message.text or "")
        await release.wait()

    headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
    async with (
        webhook_server(payments, dp, session, max_in_flight=2) as url,
        ClientSession() as http,
    ):
        try:

            async def deliver(text: str) -> int:
                update = session.make_message(704, text)
                async with http.post(url, data=json.dumps(update), headers=headers) as resp:
                    return resp.status

            first = await asyncio.wait_for(deliver("one"), 5)
            second = await asyncio.wait_for(deliver("two"), 5)
            assert (first, second) == (200, 200)
            third = asyncio.create_task(deliver("three"))
            await asyncio.sleep(0.3)
            assert not third.done()  # no slot: Telegram is kept waiting, nothing is lost
            assert sorted(handled) == ["one", "two"]
            release.set()
            assert await asyncio.wait_for(third, 5) == 200
            await wait_until(lambda: len(handled) == 3)  # the handler runs after the 200
            assert handled[-1] == "three"
        finally:
            release.set()  # before the server stops: it waits for its handlers


async def test_webhook_refuses_what_is_not_a_json_update(payments):
    session = RecordingSession()
    async with webhook_server(payments, Dispatcher(), session) as url, ClientSession() as http:
        right = {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
        for body in (b"{not json", b"[1, 2]"):
            async with http.post(url, data=body, headers=right) as resp:
                assert resp.status == 400
        async with http.post(url, data=b"{not json", headers={}) as resp:
            assert resp.status == 401  # the secret is checked before the body is read


async def test_webhook_confirms_and_skips_an_update_it_cannot_read(payments, caplog):
    # As with polling: answered otherwise than 200, Telegram would deliver it again and again.
    counted = skipped_updates("no")
    session = RecordingSession()
    dp = Dispatcher()
    handled: list[str] = []

    @dp.message()
    async def record(message: Message) -> None:
        handled.append(message.text or "")

    right = {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
    unreadable = [
        {"update_id": 801, "message": {"message_id": 1}},  # no chat, no sender, no date
        {"update_id": 802, "message": 5},
        {"update_id": "x", "message": {"successful_payment": 1}},
    ]
    async with webhook_server(payments, dp, session) as url, ClientSession() as http:
        for update in unreadable:
            async with http.post(url, data=json.dumps(update), headers=right) as resp:
                assert resp.status == 200
        good = session.make_message(705, "after the bad ones")
        async with http.post(url, data=json.dumps(good), headers=right) as resp:
            assert resp.status == 200
        await wait_until(lambda: handled)
    assert handled == ["after the bad ones"]
    skipped = [r.getMessage() for r in caplog.records if "could not be read" in r.getMessage()]
    assert [line.split()[1] for line in skipped] == ["801", "802", "x"]
    assert skipped_updates("no") == counted + 3
    assert await statuses(payments) == []
    assert "Traceback" not in caplog.text


def skipped_updates(payment: str) -> float:
    return REGISTRY.get_sample_value("bot_updates_unreadable_total", {"payment": payment}) or 0.0


async def test_an_unreadable_payment_is_an_error_naming_the_charge(api, payments, caplog):
    counted = skipped_updates("yes")
    session = RecordingSession()
    paid = session.make_successful_payment(706, "prem:706:tier1:z", 500, "ch-unreadable")
    paid["message"]["successful_payment"]["total_amount"] = "five hundred"
    right = {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
    async with webhook_server(payments, Dispatcher(), session) as url, ClientSession() as http:
        resp = await http.post(url, data=json.dumps(paid), headers=right)
        assert resp.status == 200  # delivered again, it would be unreadable again
    # the same through getUpdates
    api.push_update(paid)
    bot = json_bot(api)
    try:
        [skipped] = await bot(GetUpdates(timeout=0))
    finally:
        await bot.session.close()
    assert skipped.message is None
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 2
    for line in errors:
        assert "ch-unreadable" in line and "five hundred XTR" in line and "user 706" in line
    assert skipped_updates("yes") == counted + 2  # /metrics: bot_updates_unreadable_total
    assert await statuses(payments) == []
