"""Photos and image files: the vision model answers about them (with the caption as the
question). In groups only when the bot is mentioned in the caption or replied to. Other
documents go on to :mod:`handlers.documents`."""

from __future__ import annotations

from pathlib import PurePath

from aiogram import Bot, Router
from aiogram.types import Document, Message, PhotoSize

from bot.services.chat import IMAGE_TYPES, MAX_DOWNLOAD_BYTES, ChatService, ImageRef, ImageTooBig
from bot.services.quota import Ticket
from bot.texts import Translator
from handlers.chat import answer_with_chat
from handlers.filters import Addressed, HasImageDocument, has_photo
from storage.users import UserRow

_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


def largest_photo(sizes: list[PhotoSize]) -> PhotoSize | None:
    """The largest size Telegram lets a bot download (unknown sizes are assumed fine)."""
    fitting = [s for s in sizes if s.file_size is None or s.file_size <= MAX_DOWNLOAD_BYTES]
    return max(fitting, key=lambda s: (s.width * s.height, s.file_size or 0), default=None)


def is_image_document(document: Document | None) -> bool:
    if document is None:
        return False
    if document.mime_type in IMAGE_TYPES:
        return True
    name = document.file_name or ""
    return PurePath(name.lower()).suffix in _IMAGE_SUFFIXES


async def on_photo(
    message: Message,
    prompt: str,
    bot: Bot,
    t: Translator,
    user: UserRow,
    quota: Ticket,
    chat_service: ChatService,
) -> None:
    size = largest_photo(message.photo or [])
    if size is None:
        raise ImageTooBig("every size is over 20 MB")
    await answer_with_chat(
        message,
        prompt or t("chat.describe_image"),
        image=ImageRef(size.file_id),
        bot=bot,
        t=t,
        user=user,
        quota=quota,
        chat_service=chat_service,
    )


async def on_image_document(
    message: Message,
    prompt: str,
    bot: Bot,
    t: Translator,
    user: UserRow,
    quota: Ticket,
    chat_service: ChatService,
) -> None:
    assert message.document is not None
    if (message.document.file_size or 0) > MAX_DOWNLOAD_BYTES:
        raise ImageTooBig("document is over 20 MB")
    await answer_with_chat(
        message,
        prompt or t("chat.describe_image"),
        image=ImageRef(message.document.file_id),
        bot=bot,
        t=t,
        user=user,
        quota=quota,
        chat_service=chat_service,
    )


def make_router() -> Router:
    """A fresh router with this module's handlers (one per dispatcher: a router belongs to
    one parent)."""
    router = Router(name=__name__)
    router.message.register(on_photo, has_photo, Addressed(), flags={"quota": "chat"})
    router.message.register(
        on_image_document, HasImageDocument(is_image_document), Addressed(), flags={"quota": "chat"}
    )
    return router
