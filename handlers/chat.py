"""Chat: /chat, /new, plain text in private chats, mentions and replies in groups, the retry
button and the draft stop button. The catch-all router: it must come last."""

from __future__ import annotations

import logging
from contextlib import suppress

from aiogram import Bot, F, Router
from aiogram.enums import ChatType, ContentType
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message, MessageGenerationStopped

from bot.services.chat import ChatRequest, ChatService, DocumentRef, ImageRef, NotYourRetry
from bot.services.conversation import Key
from bot.services.errors import DomainError
from bot.services.quota import Ticket
from bot.texts import Translator
from handlers.adapters.chat_front import TelegramChatFront, thread_gone
from handlers.errors import render_domain_error
from handlers.filters import Addressed, PrivateContent, command_for_me, plain_text
from handlers.keyboards import RetryCallback
from storage.users import UserRow

logger = logging.getLogger(__name__)

_UNSUPPORTED = {
    ContentType.STICKER,
    ContentType.VOICE,
    ContentType.AUDIO,
    ContentType.VIDEO,
    ContentType.VIDEO_NOTE,
    ContentType.ANIMATION,
    ContentType.LOCATION,
    ContentType.VENUE,
    ContentType.CONTACT,
    ContentType.POLL,
    ContentType.DICE,
}


async def answer_with_chat(
    message: Message,
    prompt: str,
    *,
    bot: Bot,
    t: Translator,
    user: UserRow,
    quota: Ticket,
    chat_service: ChatService,
    image: ImageRef | None = None,
    document: DocumentRef | None = None,
) -> None:
    """Answer ``message`` with the chat service: ``prompt`` is the question (about ``image``
    or ``document`` when given; in groups the sender's name goes first), asked of the user's
    chosen model and charged to ``quota``."""
    assert message.from_user is not None
    private = message.chat.type == ChatType.PRIVATE
    request = ChatRequest(
        user_id=message.from_user.id,
        chat_id=message.chat.id,
        private=private,
        text=prompt if private else f"{message.from_user.full_name}: {prompt}",
        message_id=message.message_id,
        thread_id=message.message_thread_id if message.is_topic_message else None,
        image=image,
        document=document,
    )
    await answer_in_topic(bot, t, request, quota, user, chat_service)


async def answer_in_topic(
    bot: Bot,
    t: Translator,
    request: ChatRequest,
    quota: Ticket,
    user: UserRow,
    chat_service: ChatService,
) -> None:
    """Answer; a topic the user deleted meanwhile takes its memory with it (Telegram sends
    no update when a topic is deleted: "message thread not found" is how the bot learns)."""
    try:
        await chat_service.answer(
            TelegramChatFront(bot, t), t, request, quota=quota, stored_model=user.chat_model
        )
    except TelegramBadRequest as exc:
        if request.thread_id is None or not thread_gone(exc):
            raise
        await quota.refund()
        dropped = await chat_service.conversation.drop(request.conversation)
        logger.info("topic %s is gone: %s messages forgotten", request.thread_id, dropped)


async def topics_enabled(bot: Bot) -> bool:
    """The bot has topics in private chats (``getMe`` is cached by aiogram)."""
    return bool((await bot.me()).has_topics_enabled)


async def cmd_new(message: Message, bot: Bot, t: Translator, chat_service: ChatService) -> None:
    """With topics in private chats: a new topic (a new conversation, the others stay);
    otherwise the conversation here is forgotten."""
    assert message.from_user is not None
    private = message.chat.type == ChatType.PRIVATE
    if private and await topics_enabled(bot):
        try:
            topic = await bot.create_forum_topic(message.chat.id, t("chat.new_topic_name"))
        except TelegramBadRequest as exc:  # e.g. the user turned topics off meanwhile
            logger.warning("could not open a topic for /new: %s", exc.message)
        else:
            thread = topic.message_thread_id
            await chat_service.conversation.opened(Key(message.from_user.id, thread))
            await bot.send_message(message.chat.id, t("chat.new_topic"), message_thread_id=thread)
            return
    scope = message.from_user.id if private else message.chat.id
    here = message.message_thread_id if message.is_topic_message else None
    await chat_service.forget(Key(scope, here or 0))
    await message.answer(t("chat.new_done" if private else "chat.new_done_group"))


async def cmd_chat(
    message: Message,
    command: CommandObject,
    bot: Bot,
    t: Translator,
    user: UserRow,
    quota: Ticket,
    chat_service: ChatService,
) -> None:
    await answer_with_chat(
        message,
        (command.args or "").strip(),
        bot=bot,
        t=t,
        user=user,
        quota=quota,
        chat_service=chat_service,
    )


async def cmd_chat_usage(message: Message, t: Translator) -> None:
    await message.answer(t("chat.usage"))


async def on_text(
    message: Message,
    prompt: str,
    bot: Bot,
    t: Translator,
    user: UserRow,
    quota: Ticket,
    chat_service: ChatService,
) -> None:
    if not prompt:  # only "@bot" in a group
        await quota.refund()
        await message.answer(t("chat.usage"))
        return
    await answer_with_chat(
        message, prompt, bot=bot, t=t, user=user, quota=quota, chat_service=chat_service
    )


async def unknown_command(message: Message, t: Translator) -> None:
    await message.answer(t("chat.unknown_command"))


async def unsupported(message: Message, t: Translator) -> None:
    await message.answer(t("chat.unsupported"))


async def on_retry(
    query: CallbackQuery,
    callback_data: RetryCallback,
    bot: Bot,
    t: Translator,
    user: UserRow,
    quota: Ticket,
    chat_service: ChatService,
) -> None:
    try:
        request = chat_service.take_retry(callback_data.token, query.from_user.id)
    except NotYourRetry:
        await quota.refund()
        await query.answer(t("chat.retry_not_yours"), show_alert=True)
        return
    if request is None:
        await quota.refund()
        await query.answer(t("chat.retry_expired"), show_alert=True)
        return
    await query.answer()
    if isinstance(query.message, Message):
        with suppress(TelegramBadRequest):  # too old to edit: the button simply stays
            await query.message.edit_reply_markup(reply_markup=None)
    try:
        await answer_in_topic(bot, t, request, quota, user, chat_service)
    except DomainError as exc:
        # The callback is already answered: tell the user in the chat instead of an alert.
        await quota.refund()
        await bot.send_message(request.chat_id, render_domain_error(t, exc))


async def on_stop(event: MessageGenerationStopped, chat_service: ChatService) -> None:
    chat_service.stop(event.chat.id, event.draft_id)


def make_router() -> Router:
    """A fresh router with this module's handlers (one per dispatcher: a router belongs to
    one parent)."""
    router = Router(name=__name__)
    router.message.register(cmd_new, Command("new"))
    router.message.register(cmd_chat, Command("chat", magic=F.args), flags={"quota": "chat"})
    router.message.register(cmd_chat_usage, Command("chat"))
    router.message.register(on_text, plain_text, Addressed(), flags={"quota": "chat"})
    router.message.register(unknown_command, command_for_me)
    router.message.register(unsupported, PrivateContent(_UNSUPPORTED))
    router.callback_query.register(on_retry, RetryCallback.filter(), flags={"quota": "chat"})
    router.stopped_message_generation.register(on_stop)
    return router
