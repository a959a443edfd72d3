""":class:`bot.services.chat.ChatFront` in Telegram: drafts in private chats, an edited
message in groups, replies in the request's topic, photos and documents fetched with getFile."""

from __future__ import annotations

import io
import logging
from typing import Any

import aiohttp
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest

from bot.services.chat import ChatRequest, FileRef, ImageDownloadFailed, ImageTooBig
from bot.texts import Translator
from handlers.adapters.session import PROXY_ERRORS
from handlers.adapters.streaming import AnswerWriter, DraftWriter, EditWriter
from handlers.keyboards import retry_keyboard

logger = logging.getLogger(__name__)


def thread_gone(exc: TelegramBadRequest) -> bool:
    """Telegram says the topic no longer exists (the user deleted it): "message thread not
    found", or "TOPIC_DELETED" as some sends report it."""
    text = exc.message.lower()
    return "thread not found" in text or "topic_deleted" in text


def thread_of(request: ChatRequest) -> dict[str, Any]:
    return {"message_thread_id": request.thread_id} if request.thread_id else {}


class TelegramChatFront:
    def __init__(self, bot: Bot, t: Translator) -> None:
        self.bot = bot
        self.t = t

    def writer(self, request: ChatRequest, *, interval: float, rich: bool) -> AnswerWriter:
        label = self.t("chat.thinking")
        if request.private:
            return DraftWriter(
                self.bot,
                request.chat_id,
                thread_id=request.thread_id,
                interval=interval,
                rich=rich,
                thought_label=label,
            )
        return EditWriter(
            self.bot,
            request.chat_id,
            thread_id=request.thread_id,
            reply_to=request.message_id,
            interval=interval,
            rich=rich,
            thought_label=label,
        )

    async def say(self, request: ChatRequest, text: str, *, retry_token: str | None = None) -> None:
        markup = retry_keyboard(self.t, retry_token) if retry_token is not None else None
        await self.bot.send_message(
            request.chat_id, text, reply_markup=markup, **thread_of(request)
        )

    async def name_conversation(self, request: ChatRequest, title: str) -> bool:
        if request.thread_id is None:
            return False
        try:
            await self.bot.edit_forum_topic(
                chat_id=request.chat_id, message_thread_id=request.thread_id, name=title
            )
        except TelegramBadRequest as exc:
            logger.info("could not name topic %s: %s", request.thread_id, exc.message)
            # "not modified": it already has that name; anything else: try again next time
            return "not_modified" in exc.message.lower()
        return True

    async def download(self, file: FileRef) -> bytes:
        """The file's bytes through TELEGRAM_API_URL (getFile, then the file URL)."""
        buffer = io.BytesIO()
        try:
            await self.bot.download(file.file_id, destination=buffer, timeout=60)
        except TelegramBadRequest as exc:
            if "too big" in exc.message.lower():
                raise ImageTooBig("file is too big to download") from None
            logger.warning("could not download %s: %s", file.file_id, exc)
            raise ImageDownloadFailed(str(exc)) from None
        except (TelegramAPIError, aiohttp.ClientError, OSError, TimeoutError, *PROXY_ERRORS) as exc:
            logger.warning("could not download a file: %s", type(exc).__name__)
            raise ImageDownloadFailed(type(exc).__name__) from None
        return buffer.getvalue()
