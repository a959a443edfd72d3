"""Showing an answer while it is written, then delivering it whole.

The upstream reader only calls :meth:`AnswerWriter.append` (no I/O, never blocks); a pump
task shows the latest state at most once per ``interval``, so a slow or flood-limited
Telegram never slows the reading, and intermediate states are simply skipped.

* :class:`DraftWriter` (private chats): ``sendMessageDraft`` with a stop button, then the
  answer is sent with ``sendMessage``.
* :class:`EditWriter` (groups): one message is sent on the first text and edited (by default
  at most every 1.5 s); that message becomes the answer.

Whenever the text outgrows one message, a finished piece is cut off (see
:func:`bot.services.markdown.take_chunk`) and delivered for good. Final sends honour
``TelegramRetryAfter`` (beyond what the session middleware already retried), and a part that
Telegram refuses to parse goes out as plain text: an answer is never lost to formatting.

With ``rich=True`` an answer that holds a table or a formula, comes with a reasoning model's
thinking, or outgrows a text message is shown as a rich message (``sendRichMessageDraft``,
``sendRichMessage``, or the edited message in groups) of up to 32,768 characters, built by
:mod:`bot.services.rich`. If Telegram refuses a rich message, the reason is logged once and
the rest of the answer takes the text path above.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

from aiogram import Bot
from aiogram.enums import ChatAction
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramRetryAfter
from aiogram.types import InlineKeyboardMarkup, InputRichMessage, Message, ReplyParameters
from aiogram.utils.chat_action import ChatActionSender

from bot.services.markdown import (
    MESSAGE_LIMIT,
    Part,
    clean,
    split_markdown,
    take_chunk,
    to_part,
    to_parts,
    utf16_len,
)
from bot.services.rich import (
    TEXT_LIMIT,
    Block,
    RichPart,
    needs_rich,
    rich_parts,
    thinking_placeholder,
)

logger = logging.getLogger(__name__)

FINAL_RETRIES = 3  # extra attempts after a flood wait that outlasted the session middleware
MAX_FLOOD_WAIT = 300.0
TYPING_INTERVAL = 5.0  # a chat action shows for about 5 s
FIRST_PREVIEW_GRACE = 0.05  # seconds between the first text and the first preview
TYPING_GRACE = 0.1  # no "typing…" for an answer whose text arrives within this


def is_parse_error(exc: TelegramBadRequest) -> bool:
    return "can't parse entities" in exc.message.lower()


def new_draft_id() -> int:
    return secrets.randbelow(2**31 - 2) + 1


@dataclass(frozen=True, slots=True)
class RichOut:
    """A piece of the answer as one or more rich messages (more only with a long thought)."""

    source: str
    parts: list[RichPart]


Out = Part | RichOut


def rich_message(blocks: list[Block]) -> InputRichMessage:
    return InputRichMessage.model_validate({"blocks": blocks})


class AnswerWriter:
    """Base: buffering, the pump, typing, cutting and final delivery."""

    draft_id: int | None = None  # drafts only: the key of the stop button

    def __init__(
        self,
        bot: Bot,
        chat_id: int,
        *,
        interval: float,
        thread_id: int | None = None,
        reply_to: int | None = None,
        limit: int = MESSAGE_LIMIT,
        typing: bool = True,
        rich: bool = False,
        thought_label: str = "Thinking",
    ) -> None:
        self.bot = bot
        self.chat_id = chat_id
        self.interval = interval
        self.thread_id = thread_id
        self.reply_to = reply_to
        self.limit = limit
        self.typing = typing
        self.text = ""  # everything received
        self.delivered: list[Message] = []  # final messages, in order
        self._incoming: list[str] = []
        self._pending = ""  # received, not yet delivered for good (Markdown)
        self._changed = asyncio.Event()
        self._closing = asyncio.Event()
        self._pump_task: asyncio.Task[None] | None = None
        self._typing_stack = AsyncExitStack()
        self._preview_html: str | None = None
        self._stopped = False
        self._first_action: asyncio.Task[None] | None = None
        self._first_text = asyncio.Event()
        self.rich = rich
        self.thought_label = thought_label
        self.thought = ""  # a reasoning model's thinking: shown collapsed in a rich answer
        self._thinking = False  # the model thinks: show the placeholder (rich drafts)
        self._rich_refused = False
        # Where a finished piece is cut off: one rich message holds 32,768 characters
        # (counted in code points; UTF-16 units are never fewer).
        self._cut = TEXT_LIMIT if rich else limit

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        if self.typing:
            # The first action is its own task: sent unless text arrives within
            # TYPING_GRACE (an answer that is there at once needs no "typing…" - one
            # Telegram call saved); the sender below repeats it while nothing shows.
            self._first_action = asyncio.create_task(self._first_typing())
            await self._typing_stack.enter_async_context(
                ChatActionSender.typing(
                    bot=self.bot,
                    chat_id=self.chat_id,
                    message_thread_id=self.thread_id,
                    interval=TYPING_INTERVAL,
                    initial_sleep=TYPING_INTERVAL,
                )
            )
        self._pump_task = asyncio.create_task(self._pump())

    async def _first_typing(self) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(TYPING_GRACE):
                await self._first_text.wait()
        if self._first_text.is_set() or self._closing.is_set():
            return
        try:
            async with asyncio.timeout(TYPING_INTERVAL):  # never held up by flood control
                await self.bot.send_chat_action(
                    self.chat_id, ChatAction.TYPING, message_thread_id=self.thread_id
                )
        except (TelegramAPIError, TimeoutError) as exc:
            logger.debug("typing action failed: %r", exc)

    def append(self, piece: str) -> None:
        if not piece:
            return
        self.text += piece
        self._incoming.append(piece)
        self._first_text.set()
        self._changed.set()

    def thinking(self) -> None:
        """The model is thinking (no I/O): a rich draft shows a "thinking" block."""
        if self.rich and not self._thinking:
            self._thinking = True
            self._changed.set()

    @property
    def has_text(self) -> bool:
        return bool(self.text.strip())

    def _render(self, markdown: str, *, preview: bool = False) -> Out | None:
        """A text part, or rich messages when the piece needs them (or is too long for text)."""
        piece = clean(markdown)
        thought = "" if preview or self.delivered else self.thought
        if (
            self.rich
            and not self._rich_refused
            and (thought or needs_rich(piece) or utf16_len(piece) > self.limit)
        ):
            parts = rich_parts(piece, thought=thought, thought_label=self.thought_label)
            return RichOut(piece, parts) if parts else None
        if utf16_len(piece) > self.limit:  # rich refused meanwhile: show the first text part
            piece = split_markdown(piece, self.limit)[0]
        return to_part(piece)

    def _refuse(self, exc: TelegramBadRequest) -> None:
        """Telegram refused a rich message: say why, once; the rest goes as text."""
        if not self._rich_refused:
            logger.warning(
                "Telegram refused a rich message in %s (%s); sending the answer as text",
                self.chat_id,
                exc.message,
            )
        self._rich_refused = True
        self._cut = self.limit

    async def _deliver(self, out: Out, reply_markup: InlineKeyboardMarkup | None = None) -> None:
        if isinstance(out, Part):
            await self._commit(out, reply_markup)
            return
        for index, part in enumerate(out.parts):
            markup = reply_markup if index == len(out.parts) - 1 else None
            if not self._rich_refused and await self._commit_rich(part, markup):
                continue
            texts = to_parts(part.source, self.limit)
            for number, text in enumerate(texts):
                await self._commit(text, markup if number == len(texts) - 1 else None)

    async def _retrying(self, call: Any) -> Any:
        """Run ``call()`` for a final send, through flood waits."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return await call()
            except TelegramRetryAfter as exc:
                if attempt > FINAL_RETRIES:
                    raise
                wait = min(float(exc.retry_after), MAX_FLOOD_WAIT)
                logger.warning("flood control while delivering an answer: waiting %.0f s", wait)
                await asyncio.sleep(wait)

    async def _send_rich(
        self, part: RichPart, reply_markup: InlineKeyboardMarkup | None = None
    ) -> bool:
        """sendRichMessage (through flood waits); False when Telegram refused it."""
        reply = None
        if self.reply_to is not None and not self.delivered:
            reply = ReplyParameters(message_id=self.reply_to, allow_sending_without_reply=True)

        async def send() -> Message:
            return await self.bot.send_rich_message(
                chat_id=self.chat_id,
                rich_message=rich_message(part.blocks),
                reply_parameters=reply,
                reply_markup=reply_markup,
                **self._common(),
            )

        try:
            message: Message = await self._retrying(send)
        except TelegramBadRequest as exc:
            self._refuse(exc)
            return False
        self.delivered.append(message)
        return True

    async def finish(self, *, reply_markup: InlineKeyboardMarkup | None = None) -> list[Message]:
        """Deliver everything received; returns the messages that carry the answer."""
        await self._stop_pump()
        self._take_incoming()
        outs = [
            p
            for p in (self._render(piece) for piece in split_markdown(self._pending, self._cut))
            if p
        ]
        if not outs and self.thought.strip() and self.rich and not self._rich_refused:
            outs = [
                RichOut("", rich_parts("", thought=self.thought, thought_label=self.thought_label))
            ]
        self._pending = ""
        if not outs:
            await self._drop_preview()
        for index, out in enumerate(outs):
            await self._deliver(out, reply_markup if index == len(outs) - 1 else None)
        await self._stop_typing()
        return self.delivered

    async def discard(self) -> None:
        """Stop showing anything (nothing more is delivered)."""
        await self._stop_pump()
        await self._stop_typing()
        await self._drop_preview()

    # -- the pump ------------------------------------------------------------------------------

    async def _pump(self) -> None:
        first = True
        while not self._closing.is_set():
            await self._changed.wait()
            if self._closing.is_set():
                return
            if first:
                first = False
                # An answer that arrives whole within a moment goes straight out as the
                # answer: no preview that is replaced at once (one Telegram call saved).
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), FIRST_PREVIEW_GRACE)
                if self._closing.is_set():
                    return
            self._changed.clear()
            try:
                await self._flush()
            except TelegramAPIError as exc:
                # Previews are best effort; what is not delivered yet stays pending.
                logger.warning("showing a partial answer in %s failed: %s", self.chat_id, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.interval)

    async def _stop_pump(self) -> None:
        self._closing.set()
        self._changed.set()
        if self._pump_task is not None:
            task, self._pump_task = self._pump_task, None
            await task

    def _take_incoming(self) -> None:
        if self._incoming:
            self._pending += clean("".join(self._incoming))
            self._incoming.clear()

    async def _flush(self) -> None:
        self._take_incoming()
        while (cut := take_chunk(self._pending, self._cut)) is not None:
            head, tail = cut
            out = self._render(head)
            if out is not None:
                await self._deliver(out)
            self._pending = tail
        if self._thinking and not self._pending.strip() and not self._rich_refused:
            self._thinking = False
            await self._preview_thinking()
            return
        if self._pending == self._preview_html:
            return
        out = self._render(self._pending, preview=True)
        if out is not None:
            await self._stop_typing()
            await self._preview(out)
            self._preview_html = self._pending

    async def _stop_typing(self) -> None:
        await self._typing_stack.aclose()

    # -- sending -------------------------------------------------------------------------------

    def _common(self) -> dict[str, Any]:
        return {"message_thread_id": self.thread_id} if self.thread_id else {}

    async def _send(self, part: Part, reply_markup: InlineKeyboardMarkup | None = None) -> Message:
        """sendMessage that survives flood waits and falls back to plain text."""
        reply = None
        if self.reply_to is not None and not self.delivered:
            reply = ReplyParameters(message_id=self.reply_to, allow_sending_without_reply=True)

        async def send(text: str, parse_mode: Any) -> Message:
            kwargs: dict[str, Any] = {"reply_parameters": reply, "reply_markup": reply_markup}
            if parse_mode is None:
                kwargs["parse_mode"] = None
            return await self.bot.send_message(self.chat_id, text, **self._common(), **kwargs)

        message: Message = await self._final(send, part)
        self.delivered.append(message)
        return message

    async def _final(self, call: Any, part: Part) -> Any:
        """Run ``call(text, parse_mode)`` for a part that must arrive: through flood waits
        (:meth:`_retrying`), and as plain text when Telegram refuses its formatting."""
        try:
            return await self._retrying(lambda: call(part.html, "default"))
        except TelegramBadRequest as exc:
            if not is_parse_error(exc):
                raise
        logger.warning("Telegram refused the formatting of a part; sending plain text")
        return await self._retrying(lambda: call(part.source, None))

    # -- per kind ------------------------------------------------------------------------------

    async def _preview(self, out: Out) -> None:
        raise NotImplementedError

    async def _preview_thinking(self) -> None:
        """Show that the model thinks (drafts only)."""

    async def _commit(self, part: Part, reply_markup: InlineKeyboardMarkup | None = None) -> None:
        """Deliver one finished text part for good."""
        raise NotImplementedError

    async def _commit_rich(
        self, part: RichPart, reply_markup: InlineKeyboardMarkup | None = None
    ) -> bool:
        """Deliver one rich message for good; False when Telegram refused it."""
        return await self._send_rich(part, reply_markup)

    async def _drop_preview(self) -> None:
        """Remove whatever preview is showing (drafts vanish by themselves)."""


class DraftWriter(AnswerWriter):
    """Private chats: drafts while writing, real messages at the end."""

    def __init__(self, bot: Bot, chat_id: int, *, draft_id: int | None = None, **kw: Any) -> None:
        kw.setdefault("interval", 0.5)
        super().__init__(bot, chat_id, **kw)
        self.draft: int = draft_id or new_draft_id()
        self.draft_id = self.draft
        self._drafts_broken = False

    async def _preview_thinking(self) -> None:
        await self._rich_draft([thinking_placeholder(self.thought_label + "…")])

    async def _rich_draft(self, blocks: list[Block]) -> None:
        if self._drafts_broken:
            return
        try:
            await self.bot.send_rich_message_draft(
                chat_id=self.chat_id,
                draft_id=self.draft,
                rich_message=rich_message(blocks),
                can_stop=True,
                **self._common(),
            )
        except TelegramBadRequest as exc:
            self._refuse(exc)

    async def _preview(self, out: Out) -> None:
        if isinstance(out, RichOut):
            await self._rich_draft(out.parts[0].blocks)
            return
        part = out
        if self._drafts_broken:
            return
        try:
            await self.bot.send_message_draft(
                chat_id=self.chat_id,
                draft_id=self.draft,
                text=part.html,
                can_stop=True,
                **self._common(),
            )
        except TelegramBadRequest as exc:
            if not is_parse_error(exc):
                # e.g. drafts not available for this chat: stop trying, the answer still comes.
                logger.warning("sendMessageDraft refused (%s); answering without drafts", exc)
                self._drafts_broken = True
                return
            await self.bot.send_message_draft(
                chat_id=self.chat_id,
                draft_id=self.draft,
                text=part.source,
                parse_mode=None,
                can_stop=True,
                **self._common(),
            )

    async def _commit(self, part: Part, reply_markup: InlineKeyboardMarkup | None = None) -> None:
        await self._send(part, reply_markup)


class EditWriter(AnswerWriter):
    """Groups: one message edited while writing (throttled), more when it outgrows one."""

    def __init__(self, bot: Bot, chat_id: int, **kw: Any) -> None:
        kw.setdefault("interval", 1.5)
        super().__init__(bot, chat_id, **kw)
        self._current: Message | None = None  # the message being edited
        self._current_html: str | None = None
        self._current_rich = False  # the message being edited is a rich message

    async def _preview(self, out: Out) -> None:
        if isinstance(out, RichOut):
            await self._preview_rich(out.parts[0])
            return
        part = out
        if self._current is not None and self._current_rich:
            await self._drop_preview()  # a rich preview does not turn back into text
        if self._current is None:
            reply = None
            if self.reply_to is not None and not self.delivered:
                reply = ReplyParameters(message_id=self.reply_to, allow_sending_without_reply=True)
            try:
                self._current = await self.bot.send_message(
                    self.chat_id, part.html, reply_parameters=reply, **self._common()
                )
            except TelegramBadRequest as exc:
                if not is_parse_error(exc):
                    raise
                self._current = await self.bot.send_message(
                    self.chat_id,
                    part.source,
                    parse_mode=None,
                    reply_parameters=reply,
                    **self._common(),
                )
            self._current_html = part.html
            return
        await self._edit(part)

    async def _preview_rich(self, part: RichPart) -> None:
        if self._current is not None and not self._current_rich:
            await self._drop_preview()  # a text preview is replaced by the rich one
        try:
            if self._current is None:
                reply = None
                if self.reply_to is not None and not self.delivered:
                    reply = ReplyParameters(
                        message_id=self.reply_to, allow_sending_without_reply=True
                    )
                self._current = await self.bot.send_rich_message(
                    chat_id=self.chat_id,
                    rich_message=rich_message(part.blocks),
                    reply_parameters=reply,
                    **self._common(),
                )
                self._current_rich = True
            else:
                await self._edit_rich(self._current, part, None)
        except TelegramBadRequest as exc:
            self._refuse(exc)

    async def _edit_rich(
        self, message: Message, part: RichPart, reply_markup: InlineKeyboardMarkup | None
    ) -> None:
        try:
            await self.bot.edit_message_text(
                chat_id=self.chat_id,
                message_id=message.message_id,
                rich_message=rich_message(part.blocks),
                reply_markup=reply_markup,
            )
        except TelegramBadRequest as exc:
            if "message is not modified" not in exc.message.lower():
                raise

    async def _commit_rich(
        self, part: RichPart, reply_markup: InlineKeyboardMarkup | None = None
    ) -> bool:
        current = self._current
        if current is None or not self._current_rich:
            await self._drop_preview()
            return await self._send_rich(part, reply_markup)
        self._current = None
        self._current_rich = False
        self._current_html = None
        try:
            await self._retrying(lambda: self._edit_rich(current, part, reply_markup))
        except TelegramBadRequest as exc:
            self._current, self._current_rich = current, True
            await self._drop_preview()
            if "can't parse" in exc.message.lower() or "rich" in exc.message.lower():
                self._refuse(exc)
                return False
            logger.warning("could not finish an edited answer (%s); sending it anew", exc)
            return await self._send_rich(part, reply_markup)
        self.delivered.append(current)
        return True

    def _editor(self, message: Message, reply_markup: InlineKeyboardMarkup | None) -> Any:
        async def edit(text: str, parse_mode: Any) -> Any:
            kwargs: dict[str, Any] = {"reply_markup": reply_markup}
            if parse_mode is None:
                kwargs["parse_mode"] = None
            try:
                return await self.bot.edit_message_text(
                    text=text, chat_id=self.chat_id, message_id=message.message_id, **kwargs
                )
            except TelegramBadRequest as exc:
                if "message is not modified" not in exc.message.lower():
                    raise
                return None

        return edit

    async def _edit(self, part: Part) -> None:
        """A throttled preview edit (best effort)."""
        assert self._current is not None
        if part.html == self._current_html:
            return
        edit = self._editor(self._current, None)
        try:
            await edit(part.html, "default")
        except TelegramBadRequest as exc:
            if not is_parse_error(exc):
                raise
            await edit(part.source, None)
        self._current_html = part.html

    async def _edit_final(
        self, message: Message, part: Part, reply_markup: InlineKeyboardMarkup | None
    ) -> None:
        if part.html != self._current_html or reply_markup is not None:
            await self._final(self._editor(message, reply_markup), part)
        self._current_html = None

    async def _commit(self, part: Part, reply_markup: InlineKeyboardMarkup | None = None) -> None:
        if self._current is not None and self._current_rich:
            await self._drop_preview()
        current = self._current
        self._current = None
        if current is not None:
            try:
                await self._edit_final(current, part, reply_markup)
            except TelegramBadRequest as exc:
                # The message being edited is gone (e.g. deleted by a group admin): send anew.
                logger.warning("could not finish an edited answer (%s); sending it anew", exc)
            else:
                self.delivered.append(current)
                return
        await self._send(part, reply_markup)

    async def _drop_preview(self) -> None:
        if self._current is None:
            return
        current, self._current = self._current, None
        self._current_rich = False
        self._current_html = None
        try:
            await self.bot.delete_message(self.chat_id, current.message_id)
        except TelegramAPIError as exc:
            logger.info("could not delete a partial answer: %s", exc)
