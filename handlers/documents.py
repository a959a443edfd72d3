"""Documents (PDF, text, Markdown, CSV, JSON, code): the caption is a question about the
file; without one, a short summary is asked for. In groups only when the bot is mentioned in
the caption or replied to. Reading the file is the chat service's work
(:mod:`bot.services.documents`); a file it cannot read is refused there, and the quota
middleware gives the unit back."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.types import Message

from bot.services.chat import ChatService, DocumentRef
from bot.services.quota import Ticket
from bot.texts import Translator
from handlers.chat import answer_with_chat
from handlers.filters import Addressed, has_document
from storage.users import UserRow


async def on_document(
    message: Message,
    prompt: str,
    bot: Bot,
    t: Translator,
    user: UserRow,
    quota: Ticket,
    chat_service: ChatService,
) -> None:
    document = message.document
    assert document is not None
    await answer_with_chat(
        message,
        prompt or t("doc.summarize"),
        document=DocumentRef(document.file_id, document.file_name or "file", document.file_size),
        bot=bot,
        t=t,
        user=user,
        quota=quota,
        chat_service=chat_service,
    )


def make_router() -> Router:
    """A fresh router with this module's handlers (one per dispatcher: a router belongs to
    one parent). After the photo router: image files go to the vision model there."""
    router = Router(name=__name__)
    router.message.register(on_document, has_document, Addressed(), flags={"quota": "chat"})
    return router
