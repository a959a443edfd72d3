""":class:`bot.services.image_flow.ImageFront` in Telegram: replies in the request's chat and
topic, a chat action while the upstream works, photos (or files) and animations with the
result keyboard."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiogram import Bot
from aiogram.enums import ChatAction
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.types import BufferedInputFile, Message, ReplyParameters
from aiogram.utils.chat_action import ChatActionSender

from bot.clients.visioncraft import Media
from bot.services.image_flow import IMAGE
from bot.services.media import fits_photo
from bot.texts import Translator
from handlers.keyboards import result_keyboard

logger = logging.getLogger(__name__)

ACTION_INTERVAL = 4.5  # a chat action shows for about 5 s


class TelegramImageFront:
    """Where a generation's messages go: the chat, its topic, and the message to reply to."""

    def __init__(
        self, bot: Bot, t: Translator, chat_id: int, thread_id: int | None, reply_to: int | None
    ) -> None:
        self.bot = bot
        self.t = t
        self.chat_id = chat_id
        self.thread_id = thread_id
        self.reply_to = reply_to

    @classmethod
    def replying_to(cls, bot: Bot, t: Translator, message: Message) -> TelegramImageFront:
        thread = message.message_thread_id if message.is_topic_message else None
        return cls(bot, t, message.chat.id, thread, message.message_id)

    def reply(self) -> dict[str, Any]:
        params: dict[str, Any] = {"message_thread_id": self.thread_id}
        if self.reply_to is not None:
            params["reply_parameters"] = ReplyParameters(
                message_id=self.reply_to, allow_sending_without_reply=True
            )
        return params

    async def notice(self, text: str) -> Message | None:
        try:
            return await self.bot.send_message(self.chat_id, text, **self.reply())
        except TelegramAPIError as exc:
            logger.warning("could not send a notice: %s", exc)
            return None

    async def withdraw(self, handle: Any) -> None:
        if not isinstance(handle, Message):
            return
        try:
            await handle.delete()
        except TelegramAPIError as exc:
            logger.debug("could not delete the queue notice: %s", exc)

    @asynccontextmanager
    async def working(self, kind: str) -> AsyncIterator[None]:
        action = ChatAction.UPLOAD_PHOTO if kind == IMAGE else ChatAction.UPLOAD_VIDEO
        # The first action goes out now (a fast answer would otherwise show none); the
        # sender repeats it while the upstream works. A failed action never stops the work.
        try:
            async with asyncio.timeout(ACTION_INTERVAL):  # never held up by flood control
                await self.bot.send_chat_action(
                    self.chat_id, action, message_thread_id=self.thread_id
                )
        except (TelegramAPIError, TimeoutError) as exc:
            logger.debug("chat action failed: %r", exc)
        async with ChatActionSender(
            bot=self.bot,
            chat_id=self.chat_id,
            message_thread_id=self.thread_id,
            action=action,
            interval=ACTION_INTERVAL,
            initial_sleep=ACTION_INTERVAL,
        ):
            yield

    async def send_image(self, media: Media, caption: str, file_caption: str, token: str) -> None:
        keyboard = result_keyboard(self.t, token, original=True)
        upload = BufferedInputFile(media.data, filename=media.filename("image"))
        if fits_photo(len(media.data), media.info):
            try:
                await self.bot.send_photo(
                    self.chat_id, upload, caption=caption, reply_markup=keyboard, **self.reply()
                )
                return
            except TelegramBadRequest as exc:
                # e.g. PHOTO_INVALID_DIMENSIONS / IMAGE_PROCESS_FAILED: the file still goes out
                logger.warning("sendPhoto refused the image (%s); sending it as a file", exc)
        await self.bot.send_document(
            self.chat_id, upload, caption=file_caption, reply_markup=keyboard, **self.reply()
        )

    async def send_gif(self, media: Media, caption: str, token: str) -> None:
        await self.bot.send_animation(
            self.chat_id,
            BufferedInputFile(media.data, filename=media.filename("animation")),
            caption=caption,
            reply_markup=result_keyboard(self.t, token, original=False),
            **self.reply(),
        )

    async def send_file(self, data: bytes, filename: str, caption: str) -> None:
        await self.bot.send_document(
            self.chat_id,
            BufferedInputFile(data, filename=filename),
            caption=caption,
            **self.reply(),
        )

    async def say(self, text: str) -> None:
        """A message that must go out (errors are raised to the caller)."""
        await self.bot.send_message(self.chat_id, text, **self.reply())
