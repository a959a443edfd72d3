"""Conversation memory: what the model sees of earlier turns.

A conversation is keyed by :class:`Key`: the *scope* (the user id in a private chat, the chat
id in a group) and the *thread* (the topic's ``message_thread_id``; 0 outside topics), so
each topic of a private chat with topics has its own memory. Turns live in SQLite (table
``messages``) so they survive a restart. Only whole exchanges are stored (the user's turn
and the answer, in one transaction): a failed answer leaves no half-turn behind, and two
users of one group never interleave inside an exchange. Table ``conversations`` keeps each
conversation's name, model and persona, and when it was last used.

What is sent upstream is trimmed to a budget: the system prompt always, the new message
always, and before it the newest earlier turns that fit in ``max_messages`` and
``max_chars``. The table itself keeps at most ``max_messages`` turns per conversation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from bot.services import clock
from bot.services.quota import Ticket
from storage import chat as chat_repo
from storage.chat import ConversationRow, StoredMessage
from storage.db import Database

Message = dict[str, Any]

PHOTO_MARKER = "[photo]"


class Key(NamedTuple):
    scope: int
    thread: int = 0


@dataclass(frozen=True, slots=True)
class Turn:
    role: str
    content: str


def content_length(content: str | list[dict[str, Any]]) -> int:
    """Characters of text in a message (an image part counts as nothing here)."""
    if isinstance(content, str):
        return len(content)
    return sum(len(part.get("text", "")) for part in content if part.get("type") == "text")


class Conversation:
    def __init__(
        self, db: Database, *, system_prompt: str, max_messages: int, max_chars: int
    ) -> None:
        self.db = db
        self.system_prompt = system_prompt
        self.max_messages = max_messages
        self.max_chars = max_chars

    async def history(self, key: Key | int) -> list[Turn]:
        turns, _ = await self.load(key)
        return turns

    async def load(self, key: Key | int) -> tuple[list[Turn], ConversationRow | None]:
        """Earlier turns and the conversation's settings, in one read."""
        key = _key(key)
        async with self.db.autocommit() as conn:  # a read: no write lock, no commit
            rows = await chat_repo.recent(conn, key.scope, self.max_messages, key.thread)
            row = await chat_repo.get_conversation(conn, key.scope, key.thread)
        turns = [Turn(r.role, r.content) for r in rows if r.role in ("user", "assistant")]
        return turns, row

    def build(
        self,
        history: list[Turn],
        content: str | list[dict[str, Any]],
        *,
        system_prompt: str | None = None,
    ) -> list[Message]:
        """The request: system prompt, the newest history that fits, the new message."""
        budget = self.max_chars - content_length(content)
        room = self.max_messages - 1
        kept: list[Turn] = []
        for turn in reversed(history):
            if room <= 0 or len(turn.content) > budget:
                break
            kept.append(turn)
            budget -= len(turn.content)
            room -= 1
        kept.reverse()
        while kept and kept[0].role != "user":
            kept.pop(0)  # never start with an answer to a question that was trimmed away
        messages: list[Message] = []
        prompt = self.system_prompt if system_prompt is None else system_prompt
        if prompt:
            messages.append({"role": "system", "content": prompt})
        messages += [{"role": turn.role, "content": turn.content} for turn in kept]
        messages.append({"role": "user", "content": content})
        return messages

    async def remember(
        self,
        key: Key | int,
        question: str,
        answer: str,
        *,
        model: str,
        ticket: Ticket | None = None,
    ) -> None:
        """Store one exchange and drop what falls out of the budget. ``ticket``: the unit
        spent on the answer, settled in the same transaction (the answer was delivered)."""
        key = _key(key)
        now = clock.now()
        async with self.db.transaction() as conn:
            await chat_repo.append(
                conn, key.scope, "user", question, model=None, now=now, thread=key.thread
            )
            await chat_repo.append(
                conn, key.scope, "assistant", answer, model=model, now=now, thread=key.thread
            )
            await chat_repo.prune(conn, key.scope, self.max_messages, key.thread)
            await chat_repo.touch(conn, key.scope, key.thread, now=now)
            if ticket is not None:
                await ticket.settle_in(conn)
        if ticket is not None:
            ticket.settled()

    async def forget(self, key: Key | int) -> int:
        key = _key(key)
        async with self.db.transaction() as conn:
            return await chat_repo.clear(conn, key.scope, key.thread)

    async def drop(self, key: Key) -> int:
        """The conversation is gone (its topic was deleted): memory and settings."""
        async with self.db.transaction() as conn:
            return await chat_repo.drop_conversation(conn, key.scope, key.thread)

    async def opened(self, key: Key) -> None:
        """A conversation the bot opened (/new in a topic): named from its first question."""
        async with self.db.transaction() as conn:
            await chat_repo.open_conversation(conn, key.scope, key.thread, now=clock.now())
            await chat_repo.set_conversation(conn, key.scope, key.thread, now=clock.now(), named=0)

    async def update(self, key: Key, **fields: str | int | None) -> None:
        """Set the conversation's ``title``, ``named``, ``model`` or ``persona``."""
        async with self.db.transaction() as conn:
            await chat_repo.set_conversation(conn, key.scope, key.thread, now=clock.now(), **fields)

    async def get(self, key: Key) -> ConversationRow | None:
        async with self.db.autocommit() as conn:
            return await chat_repo.get_conversation(conn, key.scope, key.thread)

    async def listing(self, scope: int, limit: int = 20) -> list[ConversationRow]:
        async with self.db.autocommit() as conn:
            return await chat_repo.list_conversations(conn, scope, limit)

    async def transcript(self, key: Key) -> list[StoredMessage]:
        """Every stored turn of the conversation, oldest first (for an export)."""
        async with self.db.autocommit() as conn:
            return await chat_repo.recent(conn, key.scope, 1_000_000, key.thread)


def _key(key: Key | int) -> Key:
    return key if isinstance(key, Key) else Key(key)
