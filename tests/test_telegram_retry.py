"""A Telegram 5xx never sends a message twice; reads, edits and chat actions are retried,
and a 429 is waited out for every method. Through the production session and middlewares
(``bot.factory.create_bot``) against the fake Bot API on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramServerError
from aiogram.types import LabeledPrice

from bot.factory import create_bot
from handlers.middlewares.retry import RetryAfterMiddleware, repeatable_on_server_error
from tests.conftest import make_settings
from tests.fakes.bot_api import FakeBotAPI


@pytest.fixture
async def bot(telegram: FakeBotAPI, tmp_path) -> AsyncIterator[Bot]:
    bot = create_bot(make_settings(tmp_path, TELEGRAM_API_URL=telegram.url))
    for mw in bot.session.middleware:
        if isinstance(mw, RetryAfterMiddleware):
            mw.server_error_delay = 0.0  # no waiting in tests; the count is what matters
    try:
        yield bot
    finally:
        await bot.session.close()


def attempts(telegram: FakeBotAPI, method: str) -> int:
    return len(telegram.calls_of(method, include_failed=True))


async def test_a_send_that_fails_with_5xx_is_made_once(telegram: FakeBotAPI, bot: Bot) -> None:
    telegram.fail_next("sendMessage", status=502)
    with pytest.raises(TelegramServerError):
        await bot.send_message(71, "hello")
    assert attempts(telegram, "sendMessage") == 1
    assert telegram.sent_texts() == []


async def test_an_invoice_and_a_refund_are_not_repeated_on_5xx(
    telegram: FakeBotAPI, bot: Bot
) -> None:
    telegram.fail_next("sendInvoice", status=500)
    with pytest.raises(TelegramServerError):
        await bot.send_invoice(
            71, "t", "d", "p", currency="XTR", prices=[LabeledPrice(label="x", amount=1)]
        )
    telegram.fail_next("refundStarPayment", status=500)
    with pytest.raises(TelegramServerError):
        await bot.refund_star_payment(user_id=71, telegram_payment_charge_id="ch-1")
    assert attempts(telegram, "sendInvoice") == 1
    assert attempts(telegram, "refundStarPayment") == 1


async def test_an_edit_a_read_and_a_chat_action_are_retried(telegram: FakeBotAPI, bot: Bot) -> None:
    sent = await bot.send_message(72, "first")
    telegram.fail_next("editMessageText", status=502)
    await bot.edit_message_text("second", chat_id=72, message_id=sent.message_id)
    assert attempts(telegram, "editMessageText") == 2
    telegram.fail_next("getMe", status=500)
    assert (await bot.get_me()).id == telegram.bot_id
    assert attempts(telegram, "getMe") == 2
    telegram.fail_next("sendChatAction", status=503)
    assert await bot.send_chat_action(72, "typing") is True
    assert attempts(telegram, "sendChatAction") == 2


async def test_flood_control_is_still_waited_out_for_a_send(telegram: FakeBotAPI, bot: Bot) -> None:
    telegram.fail_next("sendMessage", retry_after=1)
    await bot.send_message(73, "after the wait")
    assert attempts(telegram, "sendMessage") == 2
    assert telegram.sent_texts() == ["after the wait"]


async def test_a_5xx_that_persists_on_a_read_gives_up() -> None:
    calls = 0

    async def failing(bot: object, method: object) -> object:
        nonlocal calls
        calls += 1
        raise TelegramServerError(method=method, message="Bad Gateway")  # type: ignore[arg-type]

    from aiogram.methods import GetMe

    with pytest.raises(TelegramServerError):
        await RetryAfterMiddleware(server_error_delay=0)(failing, None, GetMe())
    assert calls == 3


@pytest.mark.parametrize(
    ("method", "repeatable"),
    [
        ("getChatMember", True),
        ("getFile", True),
        ("editMessageReplyMarkup", True),
        ("sendMessageDraft", True),
        ("sendRichMessageDraft", True),  # a draft replaces the last one: sending it twice is safe
        ("sendRichMessage", False),
        ("answerCallbackQuery", True),
        ("sendMessage", False),
        ("sendPhoto", False),
        ("sendAnimation", False),
        ("sendDocument", False),
        ("copyMessage", False),
        ("sendInvoice", False),
        ("refundStarPayment", False),
        ("answerWebAppQuery", False),  # sends a message on the user's behalf
    ],
)
def test_which_methods_are_repeated_after_a_5xx(method: str, repeatable: bool) -> None:
    assert repeatable_on_server_error(method) is repeatable
