"""What the bot relies on aiogram doing. A failure here after an aiogram upgrade names the
assumption that broke, before the behaviour built on it breaks in production."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from aiogram import BaseMiddleware, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.dispatcher.event.handler import FilterObject
from aiogram.dispatcher.flags import get_flag
from aiogram.exceptions import TelegramRetryAfter, TelegramServerError
from aiogram.methods import SendMessage
from aiogram.types import Message, TelegramObject, Update

from tests.fakes.session import RecordingSession, make_bot, to_update
from tests.harness import harness


async def test_a_plain_filter_runs_in_a_worker_thread_and_an_async_one_on_the_loop() -> None:
    """Why ``handlers/filters.py`` writes the hot path's filters as coroutine functions."""
    loop_thread = threading.get_ident()
    threads: dict[str, int] = {}

    def sync_filter(message: Message) -> bool:
        threads["sync"] = threading.get_ident()
        return True

    async def async_filter(message: Message) -> bool:
        threads["async"] = threading.get_ident()
        return True

    router = Router()

    @router.message(sync_filter, async_filter)
    async def handler(message: Message) -> None:
        pass

    dp = Dispatcher()
    dp.include_router(router)
    session = RecordingSession()
    bot = make_bot(session)
    await dp.feed_update(bot, to_update(session.make_message(1, "hi"), bot))
    assert threads["async"] == loop_thread
    assert threads["sync"] != loop_thread, "aiogram no longer runs sync filters in a thread"


def _filters(router: Router) -> Iterator[tuple[str, FilterObject]]:
    for name, observer in router.observers.items():
        # Router-level filters (router.message.filter(...)) live on the observer's own
        # handler object, which aiogram does not expose publicly; fine for a test.
        for flt in observer._handler.filters or ():
            yield f"{router.name}.{name} (router filter)", flt
        for handler in observer.handlers:
            for flt in handler.filters or ():
                yield f"{router.name}.{name}:{handler.callback.__name__}", flt
    for sub in router.sub_routers:
        yield from _filters(sub)


async def test_no_filter_of_the_bot_goes_to_a_thread(tmp_path) -> None:
    async with harness(tmp_path) as h:
        found = list(_filters(h.dp))
        assert len(found) > 20  # the walk above still finds the bot's filters
        threaded = [where for where, flt in found if not flt.awaitable]
        assert threaded == []


async def test_a_plain_text_message_reaches_the_chat_handler_without_a_thread(
    tmp_path, monkeypatch
) -> None:
    calls: list[Any] = []
    real = asyncio.to_thread

    async def counting(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        calls.append(func)
        return await real(func, *args, **kwargs)

    async with harness(tmp_path) as h:
        monkeypatch.setattr(asyncio, "to_thread", counting)
        await h.message(5, "/help")  # a command and then plain text
        await h.message(5, "how are you?")
        assert calls == []
        assert h.texts()  # something was answered: the message went through the routers


async def test_outer_update_middlewares_run_in_order_before_inner_message_ones() -> None:
    """UserMiddleware (user row, in-flight count) must run before BanMiddleware, and both
    before the quota middleware that reads the handler's flags."""
    order: list[str] = []
    flags_seen: list[Any] = []

    def recorder(name: str) -> BaseMiddleware:
        class Recorder(BaseMiddleware):
            async def __call__(
                self,
                handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                event: TelegramObject,
                data: dict[str, Any],
            ) -> Any:
                order.append(name)
                if name == "inner":
                    flags_seen.append(get_flag(data, "quota"))
                return await handler(event, data)

        return Recorder()

    dp = Dispatcher(disable_fsm=True)
    dp.update.outer_middleware(recorder("user"))
    dp.update.outer_middleware(recorder("ban"))
    dp.message.middleware(recorder("inner"))

    @dp.message(F.text, flags={"quota": "chat"})
    async def handler(message: Message) -> None:
        order.append("handler")

    session = RecordingSession()
    bot = make_bot(session)
    await dp.feed_update(bot, to_update(session.make_message(1, "hi"), bot))
    assert order == ["user", "ban", "inner", "handler"]
    assert flags_seen == ["chat"]


async def test_feed_update_returns_what_the_handler_returns() -> None:
    """The webhook handler feeds the updates it read and sends a returned method itself."""
    dp = Dispatcher()

    @dp.message()
    async def handler(message: Message) -> SendMessage:
        return SendMessage(chat_id=message.chat.id, text="as a reply")

    session = RecordingSession()
    bot = make_bot(session)
    result = await dp.feed_update(bot, to_update(session.make_message(1, "hi"), bot))
    assert isinstance(result, SendMessage)
    assert inspect.iscoroutinefunction(dp.silent_call_request)
    await dp.silent_call_request(bot, result)
    assert session.sent_texts() == ["as a reply"]


def test_the_session_turns_answers_into_results_through_check_response() -> None:
    """``TolerantAiohttpSession`` overrides this public hook for getUpdates."""
    params = list(inspect.signature(AiohttpSession.check_response).parameters)
    assert params == ["self", "bot", "method", "status_code", "content"]
    assert "check_response" in inspect.getsource(AiohttpSession.make_request)


def test_errors_the_retry_middleware_tells_apart() -> None:
    session = AiohttpSession()
    bot = make_bot(session)
    method = SendMessage(chat_id=1, text="x")
    for status, error in ((502, TelegramServerError), (429, TelegramRetryAfter)):
        extra = ', "parameters": {"retry_after": 2}' if status == 429 else ""
        content = f'{{"ok": false, "error_code": {status}, "description": "x"{extra}}}'
        try:
            session.check_response(bot, method, status, content)
        except error as exc:
            assert exc.method is method
        else:
            raise AssertionError(f"{status} raised nothing")
    assert SendMessage.__api_method__ == "sendMessage"


def test_update_fields_the_payment_journal_reads() -> None:
    session = RecordingSession()
    raw = session.make_successful_payment(7, "prem:7:tier1:x", 500, "ch-1")
    update = Update.model_validate(raw)
    message = update.message
    assert message is not None and message.from_user is not None
    paid = message.successful_payment
    assert paid is not None
    assert paid.telegram_payment_charge_id == "ch-1"
    assert paid.invoice_payload == "prem:7:tier1:x"
    assert (paid.currency, paid.total_amount) == ("XTR", 500)
    assert hasattr(paid, "provider_payment_charge_id")
    sender = message.from_user
    assert (sender.id, sender.first_name) == (7, sender.first_name)
    for field in ("username", "last_name", "language_code"):
        assert hasattr(sender, field)
