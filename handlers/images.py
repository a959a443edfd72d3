"""/image and /gif, and the "Again" / "Original" buttons under a result.

Validation (``ImageService.build``) runs before anything is spent; ``Generations.generate``
then owns the unit: it is given back whenever nothing was delivered (cancel, timeout, upstream
error, a failed send).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiogram import Bot, F, Router
from aiogram.enums import ChatAction
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    Message,
    ReplyParameters,
)
from aiogram.utils.chat_action import ChatActionSender

from bot.clients import Clients
from bot.clients.visioncraft import ImageClient, Media
from bot.services.cancel import SHUTDOWN, OperationCancelled
from bot.services.errors import DomainError, UpstreamUnavailable
from bot.services.generation import Generations, ResultStore, StoredResult
from bot.services.image_errors import GenerationBusy
from bot.services.images import ImageRequest, ImageService, check_gif_prompt
from bot.services.media import fits_photo
from bot.texts import Translator
from handlers.errors import render_domain_error
from handlers.keyboards import ResultCb, result_keyboard
from storage.users import UserRow

logger = logging.getLogger(__name__)

CAPTION_PROMPT_MAX = 300
ACTION_INTERVAL = 4.5  # a chat action shows for about 5 s
IMAGE = "image"
GIF = "gif"


def _short(prompt: str) -> str:
    return prompt if len(prompt) <= CAPTION_PROMPT_MAX else prompt[: CAPTION_PROMPT_MAX - 1] + "…"


def image_client(clients: Clients) -> ImageClient:
    if clients.images is None:  # a Clients built without the image client: a wiring bug
        raise UpstreamUnavailable("no image client")
    return clients.images


class Target:
    """Where a generation's messages go: the chat, its topic, and the message to reply to."""

    def __init__(self, chat_id: int, thread_id: int | None, reply_to: int | None) -> None:
        self.chat_id = chat_id
        self.thread_id = thread_id
        self.reply_to = reply_to

    @classmethod
    def of(cls, message: Message) -> Target:
        thread = message.message_thread_id if message.is_topic_message else None
        return cls(message.chat.id, thread, message.message_id)

    def reply(self) -> dict[str, Any]:
        params: dict[str, Any] = {"message_thread_id": self.thread_id}
        if self.reply_to is not None:
            params["reply_parameters"] = ReplyParameters(
                message_id=self.reply_to, allow_sending_without_reply=True
            )
        return params


async def _generate(
    *,
    bot: Bot,
    t: Translator,
    generations: Generations,
    user_id: int,
    kind: str,
    target: Target,
    work: Callable[[], Awaitable[Media]],
    deliver: Callable[[Media], Awaitable[Any]],
    on_spent: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Run one generation with the queue notice, the chat action and cancellation."""
    notices: list[Message] = []

    async def on_queued(position: int) -> None:
        if on_spent is not None:
            await on_spent()
        try:
            notices.append(
                await bot.send_message(
                    target.chat_id, t("images.queued", position=position), **target.reply()
                )
            )
        except TelegramAPIError as exc:
            logger.warning("could not send the queue notice: %s", exc)

    action = ChatAction.UPLOAD_PHOTO if kind == IMAGE else ChatAction.UPLOAD_VIDEO

    @asynccontextmanager
    async def progress() -> AsyncIterator[None]:
        # The first action goes out now (a fast answer would otherwise show none); the
        # sender repeats it while the upstream works. A failed action never stops the work.
        try:
            async with asyncio.timeout(ACTION_INTERVAL):  # never held up by flood control
                await bot.send_chat_action(
                    target.chat_id, action, message_thread_id=target.thread_id
                )
        except (TelegramAPIError, TimeoutError) as exc:
            logger.debug("chat action failed: %r", exc)
        async with ChatActionSender(
            bot=bot,
            chat_id=target.chat_id,
            message_thread_id=target.thread_id,
            action=action,
            interval=ACTION_INTERVAL,
            initial_sleep=ACTION_INTERVAL,
        ):
            yield

    async def started() -> Media:
        if on_spent is not None:
            await on_spent()
        return await work()

    try:
        await generations.generate(
            user_id=user_id,
            kind=kind,
            work=started,
            deliver=deliver,
            on_queued=on_queued,
            progress=progress,
            chat_id=target.chat_id,
        )
    except OperationCancelled as exc:
        # By /cancel: its handler has already told the user. By shutdown: say so here.
        if exc.reason == SHUTDOWN:
            await bot.send_message(target.chat_id, t("images.shutdown"), **target.reply())
    finally:
        for notice in notices:
            try:
                await notice.delete()
            except TelegramAPIError as exc:
                logger.debug("could not delete the queue notice: %s", exc)


def _image_delivery(
    *,
    bot: Bot,
    t: Translator,
    results: ResultStore,
    user_id: int,
    target: Target,
    request: ImageRequest,
) -> Callable[[Media], Awaitable[Message]]:
    async def deliver(media: Media) -> Message:
        width = media.info.width or request.width
        height = media.info.height or request.height
        token = results.put(
            StoredResult(
                user_id=user_id,
                kind=IMAGE,
                request=request,
                data=media.data,
                filename=media.filename("image"),
                content_type=media.content_type,
            )
        )
        keyboard = result_keyboard(t, token, original=True)
        params = dict(
            prompt=_short(request.prompt), model=request.model, width=width, height=height
        )
        if fits_photo(len(media.data), media.info):
            try:
                return await bot.send_photo(
                    target.chat_id,
                    BufferedInputFile(media.data, filename=media.filename("image")),
                    caption=t("images.caption", **params),
                    reply_markup=keyboard,
                    **target.reply(),
                )
            except TelegramBadRequest as exc:
                # e.g. PHOTO_INVALID_DIMENSIONS / IMAGE_PROCESS_FAILED: the file still goes out
                logger.warning("sendPhoto refused the image (%s); sending it as a file", exc)
        return await bot.send_document(
            target.chat_id,
            BufferedInputFile(media.data, filename=media.filename("image")),
            caption=t("images.caption_file", **params),
            reply_markup=keyboard,
            **target.reply(),
        )

    return deliver


def _gif_delivery(
    *, bot: Bot, t: Translator, results: ResultStore, user_id: int, target: Target, prompt: str
) -> Callable[[Media], Awaitable[Message]]:
    async def deliver(media: Media) -> Message:
        token = results.put(StoredResult(user_id=user_id, kind=GIF, request=prompt))
        return await bot.send_animation(
            target.chat_id,
            BufferedInputFile(media.data, filename=media.filename("animation")),
            caption=t("gif.caption", prompt=_short(prompt)),
            reply_markup=result_keyboard(t, token, original=False),
            **target.reply(),
        )

    return deliver


async def run_image(
    *,
    bot: Bot,
    t: Translator,
    generations: Generations,
    results: ResultStore,
    client: ImageClient,
    user_id: int,
    target: Target,
    request: ImageRequest,
    on_spent: Callable[[], Awaitable[None]] | None = None,
) -> None:
    await _generate(
        bot=bot,
        t=t,
        generations=generations,
        user_id=user_id,
        kind=IMAGE,
        target=target,
        work=lambda: client.generate_image(request.payload()),
        deliver=_image_delivery(
            bot=bot, t=t, results=results, user_id=user_id, target=target, request=request
        ),
        on_spent=on_spent,
    )


async def run_gif(
    *,
    bot: Bot,
    t: Translator,
    generations: Generations,
    results: ResultStore,
    client: ImageClient,
    user_id: int,
    target: Target,
    prompt: str,
    on_spent: Callable[[], Awaitable[None]] | None = None,
) -> None:
    await _generate(
        bot=bot,
        t=t,
        generations=generations,
        user_id=user_id,
        kind=GIF,
        target=target,
        work=lambda: client.generate_gif(prompt),
        deliver=_gif_delivery(
            bot=bot, t=t, results=results, user_id=user_id, target=target, prompt=prompt
        ),
        on_spent=on_spent,
    )


async def cmd_image(
    message: Message,
    command: CommandObject,
    bot: Bot,
    t: Translator,
    user: UserRow,
    images: ImageService,
    generations: Generations,
    results: ResultStore,
    clients: Clients,
) -> None:
    if not (command.args or "").strip():
        await message.answer(t("images.usage"))
        return
    if generations.busy(user.id):
        raise GenerationBusy("already generating")
    request = await images.build(user, command.args or "")
    await run_image(
        bot=bot,
        t=t,
        generations=generations,
        results=results,
        client=image_client(clients),
        user_id=user.id,
        target=Target.of(message),
        request=request,
    )


async def cmd_gif(
    message: Message,
    command: CommandObject,
    bot: Bot,
    t: Translator,
    user: UserRow,
    generations: Generations,
    results: ResultStore,
    clients: Clients,
) -> None:
    if not (command.args or "").strip():
        await message.answer(t("gif.usage"))
        return
    if generations.busy(user.id):
        raise GenerationBusy("already generating")
    prompt = check_gif_prompt(command.args or "")
    await run_gif(
        bot=bot,
        t=t,
        generations=generations,
        results=results,
        client=image_client(clients),
        user_id=user.id,
        target=Target.of(message),
        prompt=prompt,
    )


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
    generations: Generations,
    results: ResultStore,
    clients: Clients,
) -> None:
    stored, problem = _stored_for(query, t, results, callback_data.token)
    if stored is None:
        await query.answer(problem, show_alert=True)
        return
    assert isinstance(query.message, Message)
    if generations.busy(user.id):
        raise GenerationBusy("already generating")
    request = stored.request
    if stored.kind == IMAGE:
        # The catalogue may have changed since: a model that is gone gets a clear answer.
        request = await images.canonical(request)
    target = Target(query.message.chat.id, None, query.message.message_id)
    if query.message.is_topic_message:
        target.thread_id = query.message.message_thread_id
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

    run = run_image if stored.kind == IMAGE else run_gif
    extra = {"request": request} if stored.kind == IMAGE else {"prompt": request}
    try:
        await run(
            bot=bot,
            t=t,
            generations=generations,
            results=results,
            client=image_client(clients),
            user_id=user.id,
            target=target,
            on_spent=on_spent,
            **extra,
        )
    except Exception as exc:
        if not answered:
            raise  # the error router answers the button
        await _report(bot, t, target, exc)


async def _report(bot: Bot, t: Translator, target: Target, exc: Exception) -> None:
    """Tell the chat about a failure after the button was already answered."""
    if isinstance(exc, DomainError):
        logger.info("Again failed: %s", type(exc).__name__)
        text = render_domain_error(t, exc)
    else:
        logger.error("Again failed: %r", exc, exc_info=exc)
        text = t("error.generic")
    try:
        await bot.send_message(target.chat_id, text, **target.reply())
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
    data = stored.data
    if data is None:
        await query.answer(t("images.original_expired"), show_alert=True)
        return
    assert isinstance(query.message, Message)
    target = Target.of(query.message)
    await bot.send_document(
        target.chat_id,
        BufferedInputFile(data, filename=stored.filename or "image.png"),
        caption=t("images.original_caption"),
        **target.reply(),
    )
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
