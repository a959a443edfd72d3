"""Guest mode: a question asked by mentioning the bot in a chat it is not a member of.

Telegram sends such a mention as a ``guest_message`` and takes exactly one answer for it
(``answerGuestQuery``), which it posts into that chat: no drafts, no edits, no second
message. So :meth:`GuestAnswers.answer` runs the model to the end and hands the front the
whole answer once; the front renders and cuts it to one message.

Charged as one chat unit of the asking user, through the same quota middleware as any chat
message (quota, ban and burst rules alike); one answer at a time per user (the chat
service's :class:`~bot.services.chat.AnswerGate`). The question is asked without the
user's conversation memory, and the exchange is not remembered: the chat is someone else's,
and what the user discussed with the bot in private must not show up there.

Failures are never silent: an upstream failure gives the unit back and answers with an
apology; refusals raised before the answer (quota, burst, busy) are answered by the error
router through the same ``answerGuestQuery``.
"""

from __future__ import annotations

import logging
from contextlib import aclosing
from typing import Protocol

from bot.services.chat import ChatService
from bot.services.errors import UpstreamBusy, UpstreamError, UpstreamUnavailable
from bot.services.quota import Ticket
from bot.services.reasoning import ThinkFilter, thinks
from bot.texts import Translator

logger = logging.getLogger(__name__)


class GuestFront(Protocol):
    """The one reply a guest question gets."""

    async def answer(self, markdown: str) -> None:
        """Post the model's answer (Markdown; the front renders and cuts it)."""

    async def notice(self, text: str) -> None:
        """Post one of our own texts (Telegram HTML) instead of an answer."""


class GuestAnswers:
    def __init__(self, chat: ChatService) -> None:
        self.chat = chat

    async def answer(
        self,
        front: GuestFront,
        t: Translator,
        *,
        user_id: int,
        question: str,
        quota: Ticket,
        stored_model: str | None,
    ) -> None:
        if not question:
            await quota.refund()
            await front.notice(t("guest.usage"))
            return
        async with self.chat.gate.turn(user_id):
            try:
                text = await self._complete(question, stored_model)
            except (UpstreamUnavailable, UpstreamBusy):
                raise  # the error router has the words for these (and the unit goes back)
            except UpstreamError as exc:
                logger.info("guest answer failed upstream: %s", type(exc).__name__)
                text = ""
        if not text.strip():
            await quota.refund()
            await front.notice(t("guest.failed"))
            return
        await front.answer(text)

    async def _complete(self, question: str, stored_model: str | None) -> str:
        model = self.chat.catalog.for_user(stored_model)
        client = self.chat.clients[model.provider]
        messages = self.chat.conversation.build([], question)
        thinking = ThinkFilter() if thinks(model.name) else None
        parts: list[str] = []
        # The clients' streams are async generators: aclosing stops the upstream request if
        # this task is cancelled mid-answer.
        stream = client.stream(model.name, messages, **self.chat.params)
        async with aclosing(stream) as pieces:
            async for piece in pieces:
                parts.append(piece if thinking is None else thinking.feed(piece))
        if thinking is not None:
            parts.append(thinking.flush())
        return "".join(parts)
