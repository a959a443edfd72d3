"""In-process aiogram session that records calls and answers like Telegram would.

Usage::

    session = RecordingSession()
    bot = make_bot(session, parse_mode="HTML")
    await dp.feed_update(bot, to_update(session.make_message(1, "/start"), bot))
    assert session.sent_texts() == ["Hello!"]
"""

from __future__ import annotations

import typing
from collections.abc import AsyncGenerator, Callable
from typing import TYPE_CHECKING, Any

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import PRODUCTION, TelegramAPIServer
from aiogram.exceptions import TelegramAPIError
from aiogram.methods import EditMessageText, SendMessage, TelegramMethod
from aiogram.types import InputFile, TelegramObject, Update
from aiohttp import ClientResponseError, RequestInfo
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from .emulator import NotEmulatedError, TelegramEmulator, Upload

if TYPE_CHECKING:
    from aiogram.methods.base import TelegramType

__all__ = ["RecordingSession", "make_bot", "to_update"]

MethodFilter = type[TelegramMethod[Any]] | str | None


def _matches(method: TelegramMethod[Any], wanted: MethodFilter) -> bool:
    if wanted is None:
        return True
    if isinstance(wanted, str):
        return method.__api_method__.lower() == wanted.lower()
    return isinstance(method, wanted)


class RecordingSession(TelegramEmulator, BaseSession):
    """aiogram ``BaseSession`` that never touches the network.

    * ``calls`` – every method that reached ``make_request`` (in order, failed ones included);
      ``failed_calls`` – the refused ones; ``errors`` – ``(method, exception)`` pairs.
    * ``uploads`` – ``(method, field, bytes)`` for every InputFile sent.
    * ``files[file_path] = bytes`` – served by ``stream_content`` / ``bot.download_file``;
      ``downloads`` – file paths requested.
    * everything from :class:`~tests.fakes.emulator.TelegramEmulator`: ``chat_members``,
      ``chat_member_errors``, ``responses``, ``fail_next``, ``add_file``, ``messages``,
      ``blocked_chats``, ``make_message`` / ``make_callback`` / ... update builders.

    Unknown file_ids are accepted by getFile (``file_path="photos/<file_id>.jpg"``).
    """

    def __init__(
        self,
        *,
        bot_id: int = 42,
        bot_username: str = "test_bot",
        bot_first_name: str = "Test Bot",
        api: TelegramAPIServer = PRODUCTION,
        **kwargs: Any,
    ) -> None:
        BaseSession.__init__(self, api=api, **kwargs)
        TelegramEmulator.__init__(
            self,
            bot_id=bot_id,
            bot_username=bot_username,
            bot_first_name=bot_first_name,
            strict_file_ids=False,
        )
        self.calls: list[TelegramMethod[Any]] = []
        self.failed_calls: list[TelegramMethod[Any]] = []
        self.errors: list[tuple[TelegramMethod[Any], BaseException]] = []
        self.uploads: list[tuple[TelegramMethod[Any], str, bytes]] = []
        self.downloads: list[str] = []
        self.closed = False
        self._failed_flags: list[bool] = []

    # ------------------------------------------------------------------------- BaseSession API
    async def close(self) -> None:
        self.closed = True

    async def _wire_params(
        self, bot: Bot, method: TelegramMethod[Any]
    ) -> tuple[dict[str, Any], dict[str, Upload]]:
        files: dict[str, InputFile] = {}
        params: dict[str, Any] = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=files, _dumps_json=False)
            if prepared is not None:
                params[key] = prepared
        uploads: dict[str, Upload] = {}
        for attach_key, input_file in files.items():
            data = b"".join([chunk async for chunk in input_file.read(bot)])
            uploads[attach_key] = Upload(data=data, filename=input_file.filename)
            field = next(
                (k for k, v in params.items() if v == f"attach://{attach_key}"), attach_key
            )
            self.uploads.append((method, field, data))
        return params, uploads

    def _override(self, method: TelegramMethod[Any]) -> Callable[[], Any] | None:
        cls = type(method)
        for key in (cls, cls.__api_method__, cls.__api_method__.lower()):
            if key in self.responses:
                value = self.responses[key]
                if callable(value) and not isinstance(value, type):
                    return lambda: value(method)
                return lambda: value
        return None

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 - BaseSession signature
    ) -> TelegramType:
        self.calls.append(method)
        self._failed_flags.append(False)
        index = len(self.calls) - 1
        try:
            params, uploads = await self._wire_params(bot, method)
            status, payload = self.emulate(
                method.__api_method__, params, uploads, override=self._override(method)
            )
            result = payload.get("result")
            if payload.get("ok") and (
                isinstance(result, TelegramObject)
                or (isinstance(result, list) and any(isinstance(r, TelegramObject) for r in result))
            ):
                return typing.cast("TelegramType", result)
            response = self.check_response(
                bot=bot, method=method, status_code=status, content=self.json_dumps(payload)
            )
        except (TelegramAPIError, NotEmulatedError) as exc:
            self._failed_flags[index] = True
            self.failed_calls.append(method)
            self.errors.append((method, exc))
            raise
        return typing.cast("TelegramType", response.result)

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109 - BaseSession signature
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        marker = "/file/bot"
        path = url
        if marker in url:
            _token, _, path = url.split(marker, 1)[1].partition("/")
        self.downloads.append(path)
        data = self.files.get(path)
        if data is None:
            if raise_for_status:
                info = RequestInfo(
                    url=URL(url),
                    method="GET",
                    headers=CIMultiDictProxy(CIMultiDict()),
                    real_url=URL(url),
                )
                raise ClientResponseError(info, (), status=404, message="Not Found")
            return
        for start in range(0, len(data), chunk_size):
            yield data[start : start + chunk_size]

    # ------------------------------------------------------------------------------- helpers
    def calls_of(
        self, method: MethodFilter = None, *, include_failed: bool = False
    ) -> list[TelegramMethod[Any]]:
        """Successful calls of ``method`` (class or API name; ``None`` = all), in order."""
        return [
            call
            for call, failed in zip(self.calls, self._failed_flags, strict=True)
            if _matches(call, method) and (include_failed or not failed)
        ]

    def last(self, method: MethodFilter = None, *, include_failed: bool = False) -> Any:
        """The most recent successful call of ``method``; AssertionError if there is none."""
        found = self.calls_of(method, include_failed=include_failed)
        if not found:
            names = [c.__api_method__ for c in self.calls]
            raise AssertionError(f"no {method!r} call recorded; calls so far: {names}")
        return found[-1]

    def sent_texts(self, *, include_failed: bool = False) -> list[str]:
        """Texts (as sent, with markup) of successful SendMessage / EditMessageText calls."""
        return [
            typing.cast(str, call.text)  # type: ignore[attr-defined]
            for call in self.calls_of(None, include_failed=include_failed)
            if isinstance(call, SendMessage | EditMessageText) and call.text is not None
        ]

    def method_names(self) -> list[str]:
        """API names of all recorded calls, e.g. ``["getMe", "sendMessage"]``."""
        return [call.__api_method__ for call in self.calls]

    def reset_calls(self) -> None:
        self.calls.clear()
        self.failed_calls.clear()
        self.errors.clear()
        self.uploads.clear()
        self.downloads.clear()
        self._failed_flags.clear()


def make_bot(
    session: BaseSession | None = None,
    *,
    token: str | None = None,
    **defaults: Any,
) -> Bot:
    """A ``Bot`` using ``session`` (a new RecordingSession by default).

    The token's numeric part equals ``session.bot_id`` so ``bot.id`` matches getMe.
    ``defaults`` go to ``DefaultBotProperties`` (e.g. ``parse_mode="HTML"``).
    """
    if session is None:
        session = RecordingSession()
    if token is None:
        token = f"{getattr(session, 'bot_id', 42)}:TEST-TOKEN"
    return Bot(token=token, session=session, default=DefaultBotProperties(**defaults))


def to_update(data: dict[str, Any], bot: Bot | None = None) -> Update:
    """Validate an update dict (e.g. from ``make_message``) into an ``Update`` bound to bot."""
    context = {"bot": bot} if bot is not None else {}
    return Update.model_validate(data, context=context)
