"""Tests for the test doubles in tests/fakes (they must behave like the real services)."""

from __future__ import annotations

import asyncio
import json
import struct
import time
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import (
    EditMessageText,
    GetStarTransactions,
    SendMessage,
    SendMessageDraft,
    SendPhoto,
)
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LabeledPrice,
    Message,
)

from tests.fakes import telegram_rules as rules
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.emulator import NotEmulatedError
from tests.fakes.session import RecordingSession, make_bot, to_update
from tests.fakes.upstream import HTML_ERROR_PAGE, PNG_SIGNATURE, FakeUpstream

TOKEN = "123:ABC"


# ============================================================================ telegram_rules
@pytest.mark.parametrize(
    ("text", "parse_mode", "expected"),
    [
        ("hello", None, None),
        ("<b>bold</b> <i>it</i> <a href='https://x.y'>l</a> &lt;3 &#128512;", "HTML", None),
        ('<span class="tg-spoiler">s</span><tg-spoiler>t</tg-spoiler>', "HTML", None),
        (
            "<blockquote expandable>q</blockquote><pre><code class='language-py'>x</code></pre>",
            "html",
            None,
        ),
        ("<div>nope</div>", None, None),  # no parse mode: markup is plain text
        ("", None, rules.EMPTY_TEXT),
        ("  \n ", "HTML", rules.EMPTY_TEXT),
        ("<b></b>", "HTML", rules.EMPTY_TEXT),
        ("<div>x</div>", "HTML", 'Unsupported start tag "div"'),
        ("<b>x", "HTML", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b><i>x</b></i>", "HTML", "Unmatched end tag"),
        ("x</b>", "HTML", "Unexpected end tag"),
        ("1 < 2", "HTML", 'Unsupported start tag ""'),
        ("a &nbsp; b", "HTML", "Unsupported HTML entity"),
        ("Tom & Jerry", "HTML", 'Unescaped "&"'),
        ("&amp without semicolon", "HTML", 'Unescaped "&"'),
        ("<span>x</span>", "HTML", 'must have class "tg-spoiler"'),
        ("<a>x</a>", "HTML", 'must have attribute "href"'),
        ("<!-- c -->x", "HTML", "can't parse entities"),
    ],
)
def test_check_text_rules(text: str, parse_mode: str | None, expected: str | None) -> None:
    result = rules.check_text(text, parse_mode)
    if expected is None:
        assert result is None
    else:
        assert result is not None
        assert expected in result
        if expected != rules.EMPTY_TEXT:
            assert result.startswith("Bad Request: can't parse entities: ")


def test_length_limits_use_visible_utf16_length() -> None:
    assert rules.check_text("x" * 4096) is None
    assert rules.check_text("x" * 4097) == rules.TEXT_TOO_LONG
    # markup and entities don't count
    assert rules.check_text("<b>" + "&amp;" * 4096 + "</b>", "HTML") is None
    # astral emoji count as 2 UTF-16 units
    assert rules.check_text("😀" * 2048) is None
    assert rules.check_text("😀" * 2048 + "x") == rules.TEXT_TOO_LONG
    assert rules.check_caption("") is None
    assert rules.check_caption(None) is None
    assert rules.check_caption("y" * 1024) is None
    assert rules.check_caption("<i>" + "y" * 1025 + "</i>", "HTML") == rules.CAPTION_TOO_LONG
    assert rules.check_text("", allow_empty=True) is None


def test_visible_text_and_entities() -> None:
    assert rules.visible_text("<b>Hi</b> &lt;you&gt; &quot;x&quot; &#65;&#x42;", "HTML") == (
        'Hi <you> "x" AB'
    )
    assert rules.visible_text("<b>raw</b>", None) == "<b>raw</b>"
    parsed = rules.parse_html("😀 <b>bold <i>both</i></b> <a href='https://e.x'>link</a>")
    assert parsed.text == "😀 bold both link"
    assert parsed.entities == [
        {"type": "bold", "offset": 3, "length": 9},
        {"type": "italic", "offset": 8, "length": 4},
        {"type": "text_link", "offset": 13, "length": 4, "url": "https://e.x"},
    ]
    with pytest.raises(rules.HTMLMarkupError):
        rules.visible_text("<b>", "HTML")


def test_reply_markup_rules() -> None:
    ok = {"inline_keyboard": [[{"text": "a", "callback_data": "x" * 64}]]}
    assert rules.check_reply_markup(ok) is None
    too_long = {"inline_keyboard": [[{"text": "a", "callback_data": "x" * 65}]]}
    assert rules.check_reply_markup(too_long) == "Bad Request: BUTTON_DATA_INVALID"
    no_action = {"inline_keyboard": [[{"text": "a"}]]}
    assert "Text buttons are unallowed" in str(rules.check_reply_markup(no_action))


# ========================================================================= RecordingSession
async def test_session_records_handler_calls() -> None:
    session = RecordingSession()
    bot = make_bot(session, parse_mode="HTML")
    dp = Dispatcher()

    @dp.message()
    async def handler(message: Message) -> None:
        await message.answer(f"<b>Hi</b>, {message.from_user.first_name}")  # type: ignore[union-attr]
        await message.answer_photo(
            BufferedInputFile(b"\x89PNG\r\n\x1a\n" + b"\0" * 8, "p.png"), caption="<i>cap</i>"
        )

    await dp.feed_update(bot, to_update(session.make_message(7, "/start", first_name="Ann"), bot))

    assert session.sent_texts() == ["<b>Hi</b>, Ann"]
    assert session.method_names() == ["sendMessage", "sendPhoto"]
    assert session.last(SendPhoto).caption == "<i>cap</i>"
    assert session.uploads[0][1:] == ("photo", b"\x89PNG\r\n\x1a\n" + b"\0" * 8)
    first = await bot.send_message(7, "a")
    second = await bot.send_message(7, "b")
    assert second.message_id == first.message_id + 1
    assert first.chat.id == 7 and first.chat.type == "private"
    assert first.from_user is not None and first.from_user.id == 42
    assert (await bot.get_me()).username == "test_bot"
    assert len(session.calls_of(SendMessage)) == 3


async def test_session_validates_with_default_parse_mode() -> None:
    session = RecordingSession()
    html_bot = make_bot(session, parse_mode="HTML")
    plain_bot = make_bot(session)

    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await html_bot.send_message(1, "<div>x</div>")
    assert (await plain_bot.send_message(1, "<div>x</div>")).text == "<div>x</div>"
    sent = await html_bot.send_message(1, "<b>x</b>")
    assert sent.text == "x" and sent.entities and sent.entities[0].type == "bold"
    assert (await html_bot.send_message(1, "<div>", parse_mode=None)).text == "<div>"
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await plain_bot.send_message(1, "x" * 4097)
    with pytest.raises(TelegramBadRequest, match="caption is too long"):
        await plain_bot.send_photo(1, "file-id", caption="c" * 1025)
    assert await html_bot(SendMessageDraft(chat_id=1, draft_id=5, text="")) is True
    with pytest.raises(TelegramBadRequest):
        await html_bot(SendMessageDraft(chat_id=1, draft_id=5, text="<x>"))

    assert len(session.failed_calls) == 4
    assert len(session.calls) == 8
    assert session.sent_texts() == ["<div>x</div>", "<b>x</b>", "<div>"]
    assert len(session.sent_texts(include_failed=True)) == 5


async def test_session_fail_next_reaches_request_middlewares() -> None:
    session = RecordingSession()
    bot = make_bot(session)
    seen: list[BaseException] = []

    async def middleware(make_request: Any, bot: Bot, method: Any) -> Any:
        try:
            return await make_request(bot, method)
        except Exception as exc:
            seen.append(exc)
            raise

    session.middleware(middleware)
    session.fail_next(SendMessage, retry_after=7)
    with pytest.raises(TelegramRetryAfter) as info:
        await bot.send_message(1, "x")
    assert info.value.retry_after == 7
    session.fail_next(SendMessage, status=403)
    with pytest.raises(TelegramForbiddenError, match="blocked"):
        await bot.send_message(1, "x")
    session.fail_next("sendMessage", times=2, status=502)
    for _ in range(2):
        with pytest.raises(TelegramServerError):
            await bot.send_message(1, "x")
    session.fail_next(SendMessage, description="Bad Request: chat not found")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(1, "x")
    assert (await bot.send_message(1, "ok")).text == "ok"
    assert [type(e) for e in seen] == [
        TelegramRetryAfter,
        TelegramForbiddenError,
        TelegramServerError,
        TelegramServerError,
        TelegramBadRequest,
    ]


async def test_session_members_files_overrides_and_edits() -> None:
    session = RecordingSession()
    bot = make_bot(session)
    session.chat_members[("@chan", 5)] = {"status": "member"}
    session.chat_members[(-100, 6)] = "administrator"
    assert (await bot.get_chat_member("@chan", 5)).status == "member"
    assert (await bot.get_chat_member(-100, 6)).status == "administrator"
    assert (await bot.get_chat_member("@chan", 6)).status == "left"
    session.chat_member_errors["@closed"] = "Bad Request: member list is inaccessible"
    with pytest.raises(TelegramBadRequest, match="inaccessible"):
        await bot.get_chat_member("@closed", 5)

    file = await bot.get_file("abc")
    assert file.file_path == "photos/abc.jpg"
    session.files["photos/abc.jpg"] = b"picture-bytes"
    downloaded = await bot.download_file("photos/abc.jpg")
    assert downloaded is not None and downloaded.read() == b"picture-bytes"
    assert (await bot.download(file)).read() == b"picture-bytes"  # type: ignore[union-attr]

    price = [LabeledPrice(label="x", amount=5)]
    assert (await bot.create_invoice_link("t", "d", "p", "XTR", price)).startswith("https://t.me/$")
    with pytest.raises(NotEmulatedError):
        await bot.get_star_transactions()
    session.responses[GetStarTransactions] = lambda method: {"transactions": []}
    assert (await bot.get_star_transactions()).transactions == []

    dp = Dispatcher()

    @dp.callback_query()
    async def on_callback(query: CallbackQuery) -> None:
        assert isinstance(query.message, Message)
        await query.message.edit_text(query.message.text or "")

    sent = await bot.send_message(9, "pick")
    update = session.make_callback(9, "choice", message_id=sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await dp.feed_update(bot, to_update(update, bot))
    edited = await bot.edit_message_text("picked", chat_id=9, message_id=sent.message_id)
    assert isinstance(edited, Message) and edited.text == "picked"
    assert session.calls_of(EditMessageText)[-1].text == "picked"


# =============================================================================== FakeBotAPI
# Not conftest's ``telegram``: these tests check the fake's long polling itself, uncapped (one
# of them sets a cap and clears it again).
@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(token=TOKEN) as server:
        yield server


@pytest.fixture
async def bot(api: FakeBotAPI) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api.url))
    bot = Bot(TOKEN, session=session, default=DefaultBotProperties(parse_mode="HTML"))
    yield bot
    await _close_fast(bot)


async def _close_fast(bot: Bot) -> None:
    # AiohttpSession.close() sleeps 250 ms for TLS shutdown; plain local HTTP doesn't need it
    inner = bot.session._session  # type: ignore[attr-defined]
    if inner is not None:
        await inner.close()


async def test_api_send_message_is_recorded(api: FakeBotAPI, bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Go", callback_data="go")]]
    )
    me = await bot.get_me()
    assert me.id == 123 and me.is_bot
    message = await bot.send_message(-100777, "<b>Hi</b> &amp; bye", reply_markup=keyboard)
    assert message.text == "Hi & bye"
    assert message.chat.type == "supergroup" and message.chat.id == -100777
    assert message.reply_markup is not None
    assert message.reply_markup.model_dump() == keyboard.model_dump()
    call = api.last("sendMessage")
    assert call.params["chat_id"] == -100777
    assert call.params["parse_mode"] == "HTML"
    assert call.params["reply_markup"] == {
        "inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]
    }
    assert call.token == TOKEN and not call.failed
    assert api.sent_texts() == ["<b>Hi</b> &amp; bye"]
    second = await bot.send_message(-100777, "again")
    assert second.message_id == message.message_id + 1


async def test_api_refuses_bad_html_and_long_text(api: FakeBotAPI, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(1, "<b>unclosed")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(1, "x" * 4097)
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(
            1,
            "x",
            reply_markup=InlineKeyboardMarkup(
                inline_keyboard=[[InlineKeyboardButton(text="a", callback_data="d" * 65)]]
            ),
        )
    failed = api.calls_of("sendMessage", include_failed=True)
    assert [c.status for c in failed] == [400, 400, 400]
    assert all(c.failed for c in failed)
    assert api.calls_of("sendMessage") == []


async def test_api_fault_injection(api: FakeBotAPI, bot: Bot) -> None:
    api.fail_next("sendMessage", retry_after=3)
    with pytest.raises(TelegramRetryAfter) as info:
        await bot.send_message(1, "x")
    assert info.value.retry_after == 3
    assert api.last("sendmessage", include_failed=True).response == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3},
    }
    api.fail_next("getMe", status=500)
    with pytest.raises(TelegramServerError):
        await bot.get_me()
    api.blocked_chats.add(99)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(99, "hi")
    assert (await bot.send_message(1, "fine")).text == "fine"


async def test_api_token_methods_and_body_encodings(api: FakeBotAPI) -> None:
    wrong = Bot("123:WRONG", session=AiohttpSession(api=TelegramAPIServer.from_base(api.url)))
    with pytest.raises(TelegramUnauthorizedError):
        await wrong.get_me()
    await _close_fast(wrong)
    base = f"{api.url}/bot{TOKEN}"
    async with aiohttp.ClientSession() as client:
        async with client.post(f"{base}/noSuchMethod") as resp:
            assert resp.status == 404
            assert await resp.json() == {
                "ok": False,
                "error_code": 404,
                "description": "Not Found: method not found",
            }
        async with client.post(f"{base}/SENDMESSAGE", json={"chat_id": 5, "text": "j"}) as resp:
            assert (await resp.json())["result"]["text"] == "j"
        form = {"chat_id": "5", "text": "123", "disable_notification": "true"}
        async with client.post(f"{base}/sendmessage", data=form) as resp:
            assert resp.status == 200
        multipart = aiohttp.FormData()
        multipart.add_field("chat_id", "5")
        multipart.add_field("photo", b"raw-bytes", filename="a.jpg")
        async with client.post(f"{base}/sendPhoto", data=multipart) as resp:
            photo = (await resp.json())["result"]["photo"]
    calls = api.calls_of("sendMessage")
    assert calls[0].params == {"chat_id": 5, "text": "j"}
    assert calls[1].params == {"chat_id": 5, "text": "123", "disable_notification": True}
    upload = api.last("sendPhoto")
    assert upload.upload("photo") == b"raw-bytes" and upload.filenames["photo"] == "a.jpg"
    assert api.files[api.file_ids[photo[-1]["file_id"]]] == b"raw-bytes"


async def test_api_get_updates_offset_and_long_poll(api: FakeBotAPI, bot: Bot) -> None:
    first = api.push_update(api.make_message(5, "/start payload"))
    built = api.make_message(5, "two")
    del built["update_id"]
    second = api.push_update(built)  # update_id assigned automatically
    assert second > first
    updates = await bot.get_updates(timeout=1)
    assert [u.update_id for u in updates] == [first, second]
    assert updates[0].message is not None and updates[0].message.entities is not None
    assert updates[0].message.entities[0].type == "bot_command"
    assert await bot.get_updates(offset=second + 1, timeout=0) == []
    assert api.pending_updates == []

    api.max_poll_timeout = 0.3  # long poll waits for the (capped) timeout when idle
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == []
    assert 0.25 <= time.monotonic() - started < 0.9
    api.max_poll_timeout = None

    async def push_later() -> None:
        await asyncio.sleep(0.1)
        api.push_update(api.make_callback(5, "cb-data"))

    task = asyncio.create_task(push_later())
    started = time.monotonic()
    updates = await bot.get_updates(timeout=10)
    await task
    assert time.monotonic() - started < 1
    assert updates[0].callback_query is not None and updates[0].callback_query.data == "cb-data"


async def test_api_polling_dispatcher_and_wait_for(api: FakeBotAPI, bot: Bot) -> None:
    dp = Dispatcher()

    @dp.message()
    async def echo(message: Message) -> None:
        await message.answer(f"echo: {message.text}")

    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=2))
    try:
        api.push_update(api.make_message(5, "one"))
        api.push_update(api.make_message(5, "two"))
        calls = await api.wait_for("sendMessage", count=2, timeout=5)
        assert [c.text for c in calls] == ["echo: one", "echo: two"]
        hit = await api.wait_for("sendMessage", lambda c: c.text == "echo: two", timeout=1)
        assert hit.params["chat_id"] == 5
        with pytest.raises(TimeoutError):
            await api.wait_for("sendPhoto", timeout=0.05)
    finally:
        await dp.stop_polling()
        await polling


async def test_api_files_members_payments_webhook(api: FakeBotAPI, bot: Bot) -> None:
    api.add_file("photo-1", b"\x89PNG-data", "photos/p1.png")
    file = await bot.get_file("photo-1")
    assert file.file_path == "photos/p1.png" and file.file_size == 9
    downloaded = await bot.download_file("photos/p1.png")
    assert downloaded is not None and downloaded.read() == b"\x89PNG-data"
    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("unknown")
    async with (
        aiohttp.ClientSession() as client,
        client.get(f"{api.url}/file/bot{TOKEN}/missing.jpg") as resp,
    ):
        assert resp.status == 404

    api.chat_members[("@channel", 5)] = {"status": "member"}
    assert (await bot.get_chat_member("@channel", 5)).status == "member"
    assert (await bot.get_chat_member("@channel", 6)).status == "left"
    api.chat_member_errors["@hidden"] = "Bad Request: member list is inaccessible"
    with pytest.raises(TelegramBadRequest, match="member list is inaccessible"):
        await bot.get_chat_member("@hidden", 5)

    invoice = await bot.send_invoice(
        5, "Stars", "Buy", "pl-1", "XTR", [{"label": "x", "amount": 50}]
    )
    assert invoice.invoice is not None and invoice.invoice.total_amount == 50
    assert await bot.answer_pre_checkout_query("q1", ok=True) is True
    assert await bot.refund_star_payment(5, "charge-1") is True
    with pytest.raises(TelegramBadRequest, match="CHARGE_ALREADY_REFUNDED"):
        await bot.refund_star_payment(5, "charge-1")

    assert await bot.set_webhook("http://127.0.0.1:9/hook", secret_token="s3cret") is True
    assert api.webhook is not None and api.webhook["secret_token"] == "s3cret"
    with pytest.raises(TelegramConflictError, match="webhook is active"):
        await bot.get_updates()
    assert await bot.delete_webhook() is True
    assert api.webhook is None


async def test_api_update_builders_validate_as_aiogram_updates(api: FakeBotAPI) -> None:
    api.add_file("ph", b"x" * 100)
    builders: list[dict[str, Any]] = [
        api.make_message(1, "/start ref", language_code="ru", username="ann"),
        api.make_message(1, "hi group", chat_id=-1001, chat_type="supergroup"),
        api.make_callback(1, "data"),
        api.make_photo(1, "ph", caption="look"),
        api.make_pre_checkout(1, "payload", 100),
        api.make_successful_payment(1, "payload", 100, "charge-9"),
        api.make_chat_member(-1002, 1, "left", "member"),
        api.make_chat_member(1, 1, "member", "kicked", my=True),
        api.make_chat_member(-1002, 3, "member", "restricted", is_member=True),
    ]
    updates = [to_update(u) for u in builders]
    assert len({u.update_id for u in updates}) == len(updates)
    assert updates[3].message is not None and updates[3].message.photo is not None
    assert updates[3].message.photo[-1].file_id == "ph"
    assert updates[5].message is not None and updates[5].message.successful_payment is not None
    assert updates[7].my_chat_member is not None
    assert updates[7].my_chat_member.new_chat_member.status == "kicked"


# ============================================================================== FakeUpstream
async def _read_sse(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> list[str]:
    lines = []
    async with client.stream("POST", path, json=body) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            lines.append(line)
    return lines


async def test_upstream_chat_completion_and_stream(upstream: FakeUpstream) -> None:
    upstream.reply = lambda body: "echo: " + body["messages"][-1]["content"]
    body = {"model": "m1", "messages": [{"role": "user", "content": "hello there"}]}
    async with httpx.AsyncClient(base_url=upstream.url, timeout=5) as client:
        response = await client.post(
            "/v1/chat/completions", json=body, headers={"Authorization": "Bearer vc-key"}
        )
        data = response.json()
        assert data["object"] == "chat.completion"
        assert data["choices"][0]["message"] == {
            "role": "assistant",
            "content": "echo: hello there",
        }

        upstream.keep_alive = True
        upstream.chunk_size = 4
        lines = await _read_sse(client, "/chat/completions", {**body, "stream": True})
    assert ": keep-alive" in lines
    assert lines[-2:] == ["data: [DONE]", ""]
    chunks = [json.loads(x[6:]) for x in lines if x.startswith("data: {")]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == "echo: hello there"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert upstream.requests_to("/v1/chat/completions")[0].headers["authorization"] == (
        "Bearer vc-key"
    )
    assert upstream.requests_to("/chat/completions")[0].json_body["stream"] is True


async def test_upstream_stream_chunks_and_break(upstream: FakeUpstream) -> None:
    upstream.stream_chunks = ["Hel", "lo", "!"]
    body = {"model": "m", "stream": True, "messages": []}
    async with httpx.AsyncClient(base_url=upstream.url, timeout=5) as client:
        lines = await _read_sse(client, "/v1/chat/completions", body)
        contents = [
            json.loads(x[6:])["choices"][0]["delta"].get("content")
            for x in lines
            if x.startswith("data: {")
        ]
        assert contents == ["", "Hel", "lo", "!", None]
        upstream.break_stream_after = 1
        with pytest.raises(httpx.RemoteProtocolError):
            await _read_sse(client, "/v1/chat/completions", body)


async def test_upstream_error_modes(upstream: FakeUpstream) -> None:
    path = "/v1/chat/completions"
    async with httpx.AsyncClient(base_url=upstream.url, timeout=5) as client:
        upstream.fail(path, 401, times=1)
        response = await client.post(path, json={})
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"
        upstream.fail(path, 429, times=1)
        response = await client.post(path, json={})
        assert response.status_code == 429 and response.headers["retry-after"] == "1"
        upstream.fail(path, 502, HTML_ERROR_PAGE, times=1)
        response = await client.post(path, json={})
        assert response.status_code == 502
        assert response.headers["content-type"].startswith("text/html")
        upstream.fail(path, 200, times=1)
        response = await client.post(path, json={})
        assert response.status_code == 200 and response.content == b""
        upstream.fail(path, 200, {"error": "model overloaded"}, times=1)
        response = await client.post(path, json={})
        assert response.json() == {"error": "model overloaded"}
        response = await client.post(path, json={"messages": []})
        assert response.json()["object"] == "chat.completion"

        upstream.hang("/sd")
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            await client.post("/sd", json={"prompt": "cat"}, timeout=0.2)
        assert time.monotonic() - started < 1
        upstream.clear_faults("/sd")
        upstream.delay("/sd", 0.1)
        started = time.monotonic()
        assert (await client.post("/sd", json={"prompt": "cat"})).status_code == 200
        assert time.monotonic() - started >= 0.1
    assert len(upstream.requests_to("/sd")) == 2


def _decode_gif_frames(data: bytes) -> tuple[int, int, list[list[int]]]:
    """Minimal independent GIF decoder (standard variable-width LZW)."""
    width, height, packed = struct.unpack("<HHB", data[6:11])
    pos = 13 + (3 * (2 << (packed & 7)) if packed & 0x80 else 0)
    frames = []
    while data[pos] != 0x3B:
        kind = data[pos]
        pos += 1
        if kind == 0x21:
            pos += 1
            while data[pos]:
                pos += data[pos] + 1
            pos += 1
            continue
        assert kind == 0x2C
        pos += 9
        min_size = data[pos]
        pos += 1
        stream = bytearray()
        while data[pos]:
            stream += data[pos + 1 : pos + 1 + data[pos]]
            pos += data[pos] + 1
        pos += 1
        clear, end = 1 << min_size, (1 << min_size) + 1
        size, table, prev, out = min_size + 1, [], None, []
        bits = nbits = index = 0
        while True:
            while nbits < size:
                bits |= stream[index] << nbits
                nbits += 8
                index += 1
            code = bits & ((1 << size) - 1)
            bits >>= size
            nbits -= size
            if code == clear:
                size, prev = min_size + 1, None
                table = [[i] for i in range(clear)] + [[], []]
                continue
            if code == end:
                break
            entry = table[code] if code < len(table) else prev + prev[:1]  # type: ignore[operator]
            out += entry
            if prev is not None:
                table.append(prev + entry[:1])
                if len(table) == 1 << size and size < 12:
                    size += 1
            prev = entry
        frames.append(out)
    return width, height, frames


async def test_upstream_images_and_lists(upstream: FakeUpstream) -> None:
    upstream.image_size = (64, 48)
    upstream.sd_loras = ["my-lora"]
    async with httpx.AsyncClient(base_url=upstream.url, timeout=5) as client:
        png = await client.post("/sd", json={"prompt": "a cat"})
        gif = await client.post("/text2gif", json={"prompt": "a dog"})
        assert (await client.get("/models-llm")).json() == upstream.llm_models
        models = (await client.get("/v1/models")).json()
        assert [m["id"] for m in models["data"]] == upstream.llm_models
        assert (await client.get("/sd/loras")).json() == ["my-lora"]
        assert (await client.get("/sd/models")).json() == upstream.sd_models
        assert (await client.get("/sd/samplers")).json() == upstream.sd_samplers

    assert png.headers["content-type"] == "image/png"
    data = png.content
    assert data.startswith(PNG_SIGNATURE)
    assert struct.unpack(">II", data[16:24]) == (64, 48)
    idat_len = struct.unpack(">I", data[33:37])[0]
    assert data[37:41] == b"IDAT"
    assert zlib.crc32(data[37 : 41 + idat_len]) == struct.unpack(">I", data[41 + idat_len :][:4])[0]
    assert len(zlib.decompress(data[41 : 41 + idat_len])) == 48 * (1 + 64 * 3)

    assert gif.headers["content-type"] == "image/gif"
    assert gif.content.startswith(b"GIF89a") and gif.content.endswith(b";")
    width, height, frames = _decode_gif_frames(gif.content)
    assert (width, height) == upstream.gif_size
    assert len(frames) == upstream.gif_frames
    assert all(len(frame) == width * height for frame in frames)
    assert upstream.requests_to("/text2gif")[0].json_body == {"prompt": "a dog"}


def test_upstream_url_requires_start() -> None:
    with pytest.raises(RuntimeError):
        _ = FakeUpstream().url
