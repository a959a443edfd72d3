"""One /image or /gif request from the command to the delivered result, with no Telegram.

:class:`ImageFlow` wraps :meth:`Generations.generate` (slot, quota unit, fair queue,
deadline, cancel, refund) with what the user sees: a queue notice (removed when the work
starts or ends), a "sending a photo…" indicator while the upstream works, the result with
its buttons (a token in :class:`ResultStore` behind "Again" and "Original"), and a notice
when a shutdown cut the request off. The front that asked does the showing
(:class:`ImageFront`; in Telegram ``handlers.adapters.image_front``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from bot.clients.visioncraft import ImageClient, Media
from bot.services.cancel import SHUTDOWN, OperationCancelled
from bot.services.generation import Generations, ResultStore, StoredResult
from bot.services.image_errors import GenerationBusy
from bot.services.images import ImageRequest, ImageService
from bot.texts import Translator

logger = logging.getLogger(__name__)

IMAGE = "image"
GIF = "gif"
CAPTION_PROMPT_MAX = 300


def short_prompt(prompt: str) -> str:
    return prompt if len(prompt) <= CAPTION_PROMPT_MAX else prompt[: CAPTION_PROMPT_MAX - 1] + "…"


class ImageFront(Protocol):
    """What the flow needs from the chat the request came from."""

    chat_id: int  # told after a restart if the process dies mid-request

    async def notice(self, text: str) -> Any:
        """A message in the chat; returns a handle for :meth:`withdraw` (``None`` when it
        could not be sent). Never raises."""

    async def withdraw(self, handle: Any) -> None:
        """Remove a notice. Never raises."""

    def working(self, kind: str) -> AbstractAsyncContextManager[None]:
        """Shows that a result of ``kind`` is being made while inside."""
        ...

    async def send_image(self, media: Media, caption: str, file_caption: str, token: str) -> None:
        """The image with "Again" and "Original" buttons (as a file, with ``file_caption``,
        when it can't be shown as a photo)."""

    async def send_gif(self, media: Media, caption: str, token: str) -> None:
        """The animation with an "Again" button."""


OnSpent = Callable[[], Awaitable[None]]


class ImageFlow:
    def __init__(self, generations: Generations, results: ResultStore) -> None:
        self.generations = generations
        self.results = results

    def check_free(self, user_id: int) -> None:
        """Refuse at once (before any validation or spending) when one is running."""
        if self.generations.busy(user_id):
            raise GenerationBusy("already generating")

    async def image(
        self,
        front: ImageFront,
        t: Translator,
        client: ImageClient,
        *,
        user_id: int,
        request: ImageRequest,
        on_spent: OnSpent | None = None,
    ) -> None:
        async def deliver(media: Media) -> None:
            token = self.results.put(
                StoredResult(
                    user_id=user_id,
                    kind=IMAGE,
                    request=request,
                    data=media.data,
                    filename=media.filename("image"),
                    content_type=media.content_type,
                )
            )
            params = dict(
                prompt=short_prompt(request.prompt),
                model=request.model,
                width=media.info.width or request.width,
                height=media.info.height or request.height,
            )
            await front.send_image(
                media, t("images.caption", **params), t("images.caption_file", **params), token
            )

        await self._run(
            front,
            t,
            user_id=user_id,
            kind=IMAGE,
            work=lambda: client.generate_image(request.payload()),
            deliver=deliver,
            on_spent=on_spent,
        )

    async def gif(
        self,
        front: ImageFront,
        t: Translator,
        client: ImageClient,
        *,
        user_id: int,
        prompt: str,
        on_spent: OnSpent | None = None,
    ) -> None:
        async def deliver(media: Media) -> None:
            token = self.results.put(StoredResult(user_id=user_id, kind=GIF, request=prompt))
            await front.send_gif(media, t("gif.caption", prompt=short_prompt(prompt)), token)

        await self._run(
            front,
            t,
            user_id=user_id,
            kind=GIF,
            work=lambda: client.generate_gif(prompt),
            deliver=deliver,
            on_spent=on_spent,
        )

    async def again(
        self,
        front: ImageFront,
        t: Translator,
        client: ImageClient,
        images: ImageService,
        *,
        user_id: int,
        stored: StoredResult,
        on_spent: OnSpent | None = None,
    ) -> None:
        """The same request once more (the "Again" button)."""
        self.check_free(user_id)
        if stored.kind == IMAGE:
            # The catalogue may have changed since: a model that is gone gets a clear answer.
            request = await images.canonical(stored.request)
            await self.image(front, t, client, user_id=user_id, request=request, on_spent=on_spent)
        else:
            prompt = stored.request
            await self.gif(front, t, client, user_id=user_id, prompt=prompt, on_spent=on_spent)

    async def _run(
        self,
        front: ImageFront,
        t: Translator,
        *,
        user_id: int,
        kind: str,
        work: Callable[[], Awaitable[Media]],
        deliver: Callable[[Media], Awaitable[None]],
        on_spent: OnSpent | None,
    ) -> None:
        notices: list[Any] = []

        async def on_queued(position: int) -> None:
            if on_spent is not None:
                await on_spent()
            handle = await front.notice(t("images.queued", position=position))
            if handle is not None:
                notices.append(handle)

        async def started() -> Media:
            if on_spent is not None:
                await on_spent()
            return await work()

        try:
            await self.generations.generate(
                user_id=user_id,
                kind=kind,
                work=started,
                deliver=deliver,
                on_queued=on_queued,
                progress=lambda: front.working(kind),
                chat_id=front.chat_id,
            )
        except OperationCancelled as exc:
            # By /cancel: its handler has already told the user. By shutdown: say so here.
            if exc.reason == SHUTDOWN:
                await front.notice(t("images.shutdown"))
        finally:
            for handle in notices:
                await front.withdraw(handle)
