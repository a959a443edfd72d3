"""/image and /gif, and the "Again" / "Original" buttons under a result.

Validation (``ImageService.build``) runs before anything is spent; the flow
(:class:`bot.services.image_flow.ImageFlow`) then owns the unit: it is given back whenever
nothing was delivered (cancel, timeout, upstream error, a failed send).
"""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message

from bot.clients import Clients
from bot.clients.visioncraft import ImageClient
from bot.services.errors import DomainError, UpstreamUnavailable
from bot.services.generation import ResultStore, StoredResult
from bot.services.image_flow import ImageFlow
from bot.services.images import ImageService, check_gif_prompt
from bot.texts import Translator
from handlers.adapters.image_front import TelegramImageFront
from handlers.errors import render_domain_error
from handlers.keyboards import ResultCb
from storage.users import UserRow

logger = logging.getLogger(__name__)


def image_client(clients: Clients) -> ImageClient:
    if clients.images is None:  # a Clients built without the image client: a wiring bug
        raise UpstreamUnavailable("no image client")
    return clients.images


async def cmd_image(
    message: Message,
    command: CommandObject,
    bot: Bot,
    t: Translator,
    user: UserRow,
    images: ImageService,
    image_flow: ImageFlow,
    clients: Clients,
) -> None:
    if not (command.args or "").strip():
        await message.answer(t("images.usage"))
        return
    image_flow.check_free(user.id)
    request = await images.build(user, command.args or "")
    front = TelegramImageFront.replying_to(bot, t, message)
    await image_flow.image(front, t, image_client(clients), user_id=user.id, request=request)


async def cmd_gif(
    message: Message,
    command: CommandObject,
    bot: Bot,
    t: Translator,
    user: UserRow,
    image_flow: ImageFlow,
    clients: Clients,
) -> None:
    if not (command.args or "").strip():
        await message.answer(t("gif.usage"))
        return
    image_flow.check_free(user.id)
    prompt = check_gif_prompt(command.args or "")
    front = TelegramImageFront.replying_to(bot, t, message)
    await image_flow.gif(front, t, image_client(clients), user_id=user.id, prompt=prompt)


def _stored_for(
    query: CallbackQuery, t: Translator, results: ResultStore, token: str
) -> tuple[StoredResult | None, str | None]:
    """The stored result behind a button, or the alert to show instead."""
    stored = results.get(token)
    if stored is None or not isinstance(query.message, Message):
        return None, t("images.expired")
    if stored.user_id != query.from_user.id:
        return None, t("images.not_yours")
    return stored, None


async def on_again(
    query: CallbackQuery,
    callback_data: ResultCb,
    bot: Bot,
    t: Translator,
    user: UserRow,
    images: ImageService,
    image_flow: ImageFlow,
    results: ResultStore,
    clients: Clients,
) -> None:
    stored, problem = _stored_for(query, t, results, callback_data.token)
    if stored is None:
        await query.answer(problem, show_alert=True)
        return
    assert isinstance(query.message, Message)
    message = query.message
    thread = message.message_thread_id if message.is_topic_message else None
    front = TelegramImageFront(bot, t, message.chat.id, thread, message.message_id)
    answered = False

    async def on_spent() -> None:
        # The unit is spent: answer the button now (a callback must be answered within
        # seconds); from here on problems are reported as messages in the chat.
        nonlocal answered
        if answered:
            return
        answered = True
        try:
            await query.answer(t("images.again_started"))
        except TelegramAPIError as exc:
            logger.warning("could not answer the Again button: %s", exc)

    try:
        await image_flow.again(
            front,
            t,
            image_client(clients),
            images,
            user_id=user.id,
            stored=stored,
            on_spent=on_spent,
        )
    except Exception as exc:
        if not answered:
            raise  # the error router answers the button
        await _report(front, t, exc)


async def _report(front: TelegramImageFront, t: Translator, exc: Exception) -> None:
    """Tell the chat about a failure after the button was already answered."""
    if isinstance(exc, DomainError):
        logger.info("Again failed: %s", type(exc).__name__)
        text = render_domain_error(t, exc)
    else:
        logger.error("Again failed: %r", exc, exc_info=exc)
        text = t("error.generic")
    try:
        await front.say(text)
    except TelegramAPIError as send_exc:
        logger.warning("could not report a failed generation: %s", send_exc)


async def on_original(
    query: CallbackQuery,
    callback_data: ResultCb,
    bot: Bot,
    t: Translator,
    results: ResultStore,
) -> None:
    stored, problem = _stored_for(query, t, results, callback_data.token)
    if stored is None:
        await query.answer(problem, show_alert=True)
        return
    if stored.data is None:
        await query.answer(t("images.original_expired"), show_alert=True)
        return
    assert isinstance(query.message, Message)
    front = TelegramImageFront.replying_to(bot, t, query.message)
    await front.send_file(stored.data, stored.filename or "image.png", t("images.original_caption"))
    await query.answer()


def make_router() -> Router:
    """A fresh router with this module's handlers (one per dispatcher: a router belongs to
    one parent)."""
    router = Router(name=__name__)
    router.message.register(cmd_image, Command("image"))
    router.message.register(cmd_gif, Command("gif"))
    router.callback_query.register(on_again, ResultCb.filter(F.action == "again"))
    router.callback_query.register(on_original, ResultCb.filter(F.action == "orig"))
    return router
