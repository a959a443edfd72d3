"""Answering a chat message or a photo: the one place that ties model, memory and delivery.

``ChatService.answer()`` runs one request:

1. waits for the user's turn (:class:`AnswerGate`: one answer at a time per user, a short
   queue behind it, anything more is refused with :class:`ChatBusy`);
2. builds the request from the conversation memory (and the photo or the document's text,
   if any: see :mod:`bot.services.documents`);
3. streams the answer into the front's writer (:class:`ChatFront`: in Telegram, drafts in
   private chats and an edited message in groups), cancelling the upstream request when the
   user presses "stop";
4. stores the exchange, or on failure keeps what arrived, apologises with a retry button
   and gives the quota unit back.

401/403 and 429 from the provider are raised on (the quota middleware refunds, the error
router tells the user); everything else upstream is an apology with a retry button.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.clients.openai_compat import ChatClient
from bot.metrics import ANSWERS, outcome_of
from bot.personas import Persona, default_personas
from bot.services.conversation import PHOTO_MARKER, Conversation, Key, Message, Turn
from bot.services.documents import (
    PDF,
    DocumentDownloadFailed,
    DocumentReader,
    DocumentText,
    DocumentTooBig,
)
from bot.services.errors import DomainError, UpstreamBusy, UpstreamError, UpstreamUnavailable
from bot.services.models import ChatModel, ModelCatalog
from bot.services.quota import Ticket
from bot.services.reasoning import ThinkFilter, thinks
from bot.texts import Translator
from bot.tiers import CHAT

logger = logging.getLogger(__name__)

MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # what a front may hand over (the Bot API's getFile limit)
IMAGE_TYPES = {"image/jpeg": "jpeg", "image/png": "png", "image/webp": "webp"}


class ChatBusy(DomainError):
    """The user already has an answer running and more waiting."""

    text_key = "chat.busy"


class ImageTooBig(DomainError):
    text_key = "chat.photo_too_big"


class UnsupportedImage(DomainError):
    text_key = "chat.unsupported_file"


class ImageDownloadFailed(DomainError):
    text_key = "chat.photo_download_failed"


class NotYourRetry(DomainError):
    text_key = "chat.retry_not_yours"


@dataclass(frozen=True, slots=True)
class ImageRef:
    """A photo or image document, by Telegram file id (its type is sniffed from the bytes)."""

    file_id: str


@dataclass(frozen=True, slots=True)
class DocumentRef:
    """A document to answer about: Telegram file id, and its name and size as sent."""

    file_id: str
    name: str
    size: int | None = None

    @property
    def label(self) -> str:
        """What memory keeps of it: name and size. The model later knows a file was
        discussed, but its text (up to DOCUMENT_MAX_CHARS) is not replayed every turn."""
        size = f", {human_size(self.size)}" if self.size else ""
        return f"[document: {self.name}{size}]"


FileRef = ImageRef | DocumentRef


class AnswerWriter(Protocol):
    """Where a streamed answer goes while it is written (the front's side)."""

    text: str  # everything received so far
    thought: str  # a reasoning model's closed thinking (shown collapsed where possible)
    # Set when the user can stop the answer from the front (a stop button): the key under
    # which :meth:`ChatService.stop` finds it.
    draft_id: int | None

    @property
    def has_text(self) -> bool: ...

    async def start(self) -> None: ...

    def append(self, piece: str) -> None:
        """Take the next piece (no I/O, never blocks)."""

    def thinking(self) -> None:
        """The model is thinking, nothing of the answer yet (no I/O, never blocks)."""

    async def finish(self) -> list[Any]:
        """Deliver everything; returns what carries the answer (empty: nothing showed)."""
        ...

    async def discard(self) -> None: ...


class ChatFront(Protocol):
    """What the chat service needs from the front that asked."""

    def writer(self, request: ChatRequest, *, interval: float, rich: bool) -> AnswerWriter:
        """A writer for the answer to ``request``, showing it at most every ``interval`` s;
        ``rich``: tables, formulas, thinking and long answers may go as rich messages."""
        ...

    async def say(self, request: ChatRequest, text: str, *, retry_token: str | None = None) -> None:
        """A message in the request's chat; with ``retry_token``, a button that retries."""

    async def download(self, file: FileRef) -> bytes:
        """The file's bytes. Raises :class:`ImageTooBig` or :class:`ImageDownloadFailed`."""
        ...

    async def name_conversation(self, request: ChatRequest, title: str) -> bool:
        """Give the request's topic this name; False when that was not possible."""
        ...


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """What to answer and where. ``text`` is what the model reads (and memory keeps);
    in groups it starts with the sender's name."""

    user_id: int
    chat_id: int
    private: bool
    text: str
    message_id: int | None = None  # the user's message (groups reply to it)
    thread_id: int | None = None
    image: ImageRef | None = None
    document: DocumentRef | None = None

    @property
    def scope(self) -> int:
        return self.user_id if self.private else self.chat_id

    @property
    def conversation(self) -> Key:
        """Whose memory: the chat (the user, in private) and the topic, if any."""
        return Key(self.scope, self.thread_id or 0)

    @property
    def remembered(self) -> str:
        if self.document is not None:
            return f"{self.document.label} {self.text}"
        return f"{PHOTO_MARKER} {self.text}" if self.image else self.text


# -- small state holders --------------------------------------------------------------------


@dataclass(slots=True)
class _Slot:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    holders: int = 0  # running + waiting


class AnswerGate:
    """One answer at a time per user; up to ``queue`` more wait (in order), the rest are
    refused with :class:`ChatBusy`."""

    def __init__(self, queue: int = 2) -> None:
        self.queue = queue
        self._slots: dict[int, _Slot] = {}

    @asynccontextmanager
    async def turn(self, user_id: int) -> AsyncIterator[None]:
        slot = self._slots.setdefault(user_id, _Slot())
        if slot.holders > self.queue:
            raise ChatBusy("answer queue full")
        slot.holders += 1
        try:
            async with slot.lock:
                yield
        finally:
            slot.holders -= 1
            if slot.holders == 0:
                self._slots.pop(user_id, None)

    def busy(self, user_id: int) -> bool:
        return user_id in self._slots

    def full(self, user_id: int) -> bool:
        """One answer running and the queue full: :meth:`turn` would refuse now."""
        slot = self._slots.get(user_id)
        return slot is not None and slot.holders > self.queue


class StopSignals:
    """Drafts being written, by ``(chat_id, draft_id)``: the stop button sets the event."""

    def __init__(self) -> None:
        self._events: dict[tuple[int, int], asyncio.Event] = {}

    def register(self, chat_id: int, draft_id: int) -> asyncio.Event:
        event = asyncio.Event()
        self._events[(chat_id, draft_id)] = event
        return event

    def unregister(self, chat_id: int, draft_id: int) -> None:
        self._events.pop((chat_id, draft_id), None)

    def stop(self, chat_id: int, draft_id: int) -> bool:
        event = self._events.get((chat_id, draft_id))
        if event is None:
            return False
        event.set()
        return True


class RetryStore:
    """Failed requests behind retry buttons: in memory, bounded, expiring. (A restart
    forgets them; the button then says so and the user simply writes again.)"""

    def __init__(self, size: int = 5000, ttl: float = 3600.0) -> None:
        self.size = size
        self.ttl = ttl
        self._items: OrderedDict[str, tuple[float, ChatRequest]] = OrderedDict()

    def put(self, request: ChatRequest) -> str:
        token = secrets.token_urlsafe(12)
        self._items[token] = (time.monotonic() + self.ttl, request)
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return token

    def peek(self, token: str) -> ChatRequest | None:
        item = self._items.get(token)
        if item is None:
            return None
        if item[0] < time.monotonic():
            self._items.pop(token, None)
            return None
        return item[1]

    def pop(self, token: str) -> ChatRequest | None:
        request = self.peek(token)
        self._items.pop(token, None)
        return request


# -- the service ----------------------------------------------------------------------------


class ChatService:
    def __init__(
        self,
        *,
        catalog: ModelCatalog,
        clients: Mapping[str, ChatClient],
        conversation: Conversation,
        gate: AnswerGate | None = None,
        stops: StopSignals | None = None,
        retries: RetryStore | None = None,
        draft_interval: float = 0.5,
        edit_interval: float = 1.5,
        max_tokens: int = 0,
        documents: DocumentReader | None = None,
        rich: bool = True,
        personas: tuple[Persona, ...] | None = None,
    ) -> None:
        self.catalog = catalog
        self.clients = clients
        self.conversation = conversation
        self.gate = gate or AnswerGate()
        self.stops = stops or StopSignals()
        self.retries = retries or RetryStore()
        self.draft_interval = draft_interval
        self.edit_interval = edit_interval
        self.documents = documents or DocumentReader(max_chars=50_000)
        self.rich = rich
        self.personas = personas or default_personas(conversation.system_prompt)
        # Sent with every request (0: not sent, the provider's default applies).
        self.params: dict[str, Any] = {"max_tokens": max_tokens} if max_tokens else {}

    def admit(self, user_id: int, kind: str) -> None:
        """Before a chat unit is spent: refuse at once when the user's queue is full (what
        :meth:`answer` would do after spending and giving the unit back)."""
        if kind == CHAT and self.gate.full(user_id):
            raise ChatBusy("answer queue full")

    def model_for(self, request: ChatRequest, stored_model: str | None) -> ChatModel:
        return self.catalog.vision if request.image else self.catalog.for_user(stored_model)

    async def answer(
        self,
        front: ChatFront,
        t: Translator,
        request: ChatRequest,
        *,
        quota: Ticket | None,
        stored_model: str | None,
    ) -> None:
        try:
            async with self.gate.turn(request.user_id):
                history, settings = await self.conversation.load(request.conversation)
                if settings is not None and settings.model:
                    stored_model = settings.model  # the conversation's own /model choice
                persona = self.persona(settings.persona if settings is not None else None)
                await self._answer(
                    front,
                    t,
                    request,
                    quota,
                    self.model_for(request, stored_model),
                    history,
                    persona,
                )
                if request.private and settings is not None and not settings.named:
                    await self._name(front, request)
        except BaseException as exc:
            ANSWERS.labels(outcome_of(exc)).inc()
            raise

    def persona(self, key: str | None) -> Persona:
        """The persona called ``key``, or the first (the default; also for one no longer
        offered)."""
        return next((p for p in self.personas if p.key == key), self.personas[0])

    async def _name(self, front: ChatFront, request: ChatRequest) -> None:
        """A topic opened by /new is named after its first question."""
        title = topic_title(request.text)
        if await front.name_conversation(request, title):
            await self.conversation.update(request.conversation, title=title, named=1)

    async def _answer(
        self,
        front: ChatFront,
        t: Translator,
        request: ChatRequest,
        quota: Ticket | None,
        model: ChatModel,
        history: list[Turn],
        persona: Persona,
    ) -> None:
        client = self.clients[model.provider]
        interval = self.draft_interval if request.private else self.edit_interval
        writer = front.writer(request, interval=interval, rich=self.rich)
        draft_id = writer.draft_id
        stop: asyncio.Event | None = None
        if draft_id is not None:
            stop = self.stops.register(request.chat_id, draft_id)
        await writer.start()
        partial: str | None = None  # told after the answer: only part of the file was read
        try:
            content: str | list[dict[str, Any]] = request.text
            if request.image is not None:
                content = await self._image_content(front, request.text, request.image)
            elif request.document is not None:
                content, partial = await self._document_content(
                    front, t, request.document, request.text
                )
            messages = self.conversation.build(history, content, system_prompt=persona.prompt)
            stopped = await self._stream(client, model, messages, writer, stop)
        except (UpstreamUnavailable, UpstreamBusy):
            await writer.discard()
            raise
        except UpstreamError:
            await self._failed(front, t, request, writer, quota)
            return
        except BaseException:
            await writer.discard()
            raise
        finally:
            if draft_id is not None:
                self.stops.unregister(request.chat_id, draft_id)

        if not writer.has_text:  # stopped before the first word
            await writer.discard()
            if quota is not None:
                await quota.refund()
            await front.say(request, t("chat.stopped"))
            ANSWERS.labels("stopped").inc()
            return
        delivered = await writer.finish()
        if not delivered:  # only markup that shows nothing (e.g. an empty code block)
            await self._failed(front, t, request, writer, quota)
            return
        if stopped:
            logger.info("answer in chat %s stopped by the user", request.chat_id)
        ANSWERS.labels("ok").inc()
        await self.conversation.remember(
            request.conversation,
            request.remembered,
            writer.text.strip(),
            model=model.name,
            ticket=quota,
        )
        if partial is not None:
            await front.say(request, partial)

    async def _stream(
        self,
        client: ChatClient,
        model: ChatModel,
        messages: list[Message],
        writer: AnswerWriter,
        stop: asyncio.Event | None,
    ) -> bool:
        """Feed the answer into ``writer``; True when the user stopped it."""

        thinking = ThinkFilter() if thinks(model.name) else None

        async def consume() -> None:
            stream = client.stream(model.name, messages, **self.params)
            async with aclosing(stream) as pieces:
                async for piece in pieces:
                    if thinking is None:
                        writer.append(piece)
                        continue
                    passed = thinking.feed(piece)
                    if thinking.thinking:
                        writer.thinking()
                    elif thinking.thought and not writer.thought:
                        writer.thought = thinking.thought
                    writer.append(passed)
            if thinking is not None:
                writer.append(thinking.flush())

        reader = asyncio.create_task(consume())
        waiter = asyncio.create_task(stop.wait()) if stop is not None else None
        try:
            watched = {reader} if waiter is None else {reader, waiter}
            await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
            if not reader.done():
                reader.cancel()  # closes the upstream stream: the provider stops generating
                await asyncio.wait({reader})
                return True
            reader.result()  # raises the upstream error, if any
            return False
        finally:
            for task in (reader, waiter):
                if task is not None and not task.done():
                    task.cancel()

    async def _failed(
        self,
        front: ChatFront,
        t: Translator,
        request: ChatRequest,
        writer: AnswerWriter,
        quota: Ticket | None,
    ) -> None:
        """Keep what arrived, apologise with a retry button, give the unit back."""
        ANSWERS.labels("failed").inc()
        if writer.has_text:
            await writer.finish()
        else:
            await writer.discard()
        if quota is not None:
            await quota.refund()
        token = self.retries.put(request)
        await front.say(request, t("chat.failed"), retry_token=token)

    async def _image_content(
        self, front: ChatFront, text: str, image: ImageRef
    ) -> list[dict[str, Any]]:
        data = await front.download(image)
        if len(data) > MAX_DOWNLOAD_BYTES:
            raise ImageTooBig("file is over 20 MB")
        mime = sniff_image(data)
        if mime is None:
            raise UnsupportedImage("not a JPEG, PNG or WebP image")
        encoded = base64.b64encode(data).decode("ascii")
        return [
            {"type": "text", "text": text},
            {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{encoded}"}},
        ]

    async def _document_content(
        self, front: ChatFront, t: Translator, document: DocumentRef, question: str
    ) -> tuple[str, str | None]:
        """The question with the document's text; and the note for the user when only the
        first part of the file could be sent."""
        if document.size is not None and document.size > MAX_DOWNLOAD_BYTES:
            raise DocumentTooBig("document is over 20 MB")
        try:
            data = await front.download(document)
        except ImageTooBig:
            raise DocumentTooBig("file is too big to download") from None
        except ImageDownloadFailed as exc:
            raise DocumentDownloadFailed(str(exc)) from None
        if len(data) > MAX_DOWNLOAD_BYTES:
            raise DocumentTooBig("file is over 20 MB")
        read = await self.documents.read(data)
        return document_prompt(document, read, question, len(data)), partial_note(t, read)

    async def forget(self, key: Key | int) -> int:
        return await self.conversation.forget(key)

    def stop(self, chat_id: int, draft_id: int) -> bool:
        return self.stops.stop(chat_id, draft_id)

    def take_retry(self, token: str, user_id: int) -> ChatRequest | None:
        """The stored request behind a retry button (single use), if it is this user's.

        Raises :class:`NotYourRetry` when another user pressed it (it stays for its owner).
        """
        request = self.retries.peek(token)
        if request is None:
            return None
        if request.user_id != user_id:
            raise NotYourRetry("retry button of another user")
        return self.retries.pop(token)


TOPIC_TITLE_LIMIT = 128  # characters of a topic's name (Bot API)


def topic_title(question: str) -> str:
    """A topic's name from its first question: one line, at most 128 characters."""
    line = " ".join(question.split())
    if len(line) > TOPIC_TITLE_LIMIT:
        line = line[: TOPIC_TITLE_LIMIT - 1].rstrip() + "…"
    return line or "…"


def sniff_image(data: bytes) -> str | None:
    """The MIME type of a JPEG, PNG or WebP image, from its first bytes."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def document_prompt(document: DocumentRef, read: DocumentText, question: str, size: int) -> str:
    """What the model reads: the file's text between markers, then the question. (The
    framing is in English for every user: it is read by the model, not shown.)"""
    kind = "PDF" if read.kind == PDF else "text file"
    if read.truncated:
        if read.pages is not None:
            extent = f"only its first {read.pages_read} of {read.pages} pages were read"
        else:
            extent = f"only its first {len(read.text)} of {read.total_chars} characters"
        extent = f"; {extent}, answer from that part"
    else:
        extent = ""
    return (
        f'The user sent the {kind} "{document.name}" ({human_size(size)}{extent}). '
        f"Its text:\n<document>\n{read.text}\n</document>\n\n{question}"
    )


def partial_note(t: Translator, read: DocumentText) -> str | None:
    if not read.truncated:
        return None
    if read.pages is not None:
        return t("doc.partial_pages", read=read.pages_read, total=read.pages)
    percent = max(1, len(read.text) * 100 // max(read.total_chars or 1, 1))
    return t("doc.partial_chars", percent=percent)
