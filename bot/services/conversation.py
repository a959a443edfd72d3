"""Conversation memory: what the model sees of earlier turns.

A conversation has a *scope*: the user id in a private chat, the chat id in a group. Turns
live in SQLite (table ``messages``) so they survive a restart. Only whole exchanges are
stored (the user's turn and the answer, in one transaction): a failed answer leaves no
half-turn behind, and two users of one group never interleave inside an exchange.

What is sent upstream is trimmed to a budget: the system prompt always, the new message
always, and before it the newest earlier turns that fit in ``max_messages`` and
``max_chars``. The table itself keeps at most ``max_messages`` turns per scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.services import clock
from bot.services.quota import Ticket
from storage import chat as chat_repo
from storage.db import Database

Message = dict[str, Any]

PHOTO_MARKER = "[photo]"


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

    async def history(self, scope: int) -> list[Turn]:
        async with self.db.autocommit() as conn:  # a read: no write lock, no commit
            rows = await chat_repo.recent(conn, scope, self.max_messages)
        return [Turn(row.role, row.content) for row in rows if row.role in ("user", "assistant")]

    def build(self, history: list[Turn], content: str | list[dict[str, Any]]) -> list[Message]:
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
        if self.system_prompt:
            messages.append({"role": "system", "content": self.system_prompt})
        messages += [{"role": turn.role, "content": turn.content} for turn in kept]
        messages.append({"role": "user", "content": content})
        return messages

    async def remember(
        self,
        scope: int,
        question: str,
        answer: str,
        *,
        model: str,
        ticket: Ticket | None = None,
    ) -> None:
        """Store one exchange and drop what falls out of the budget. ``ticket``: the unit
        spent on the answer, settled in the same transaction (the answer was delivered)."""
        now = clock.now()
        async with self.db.transaction() as conn:
            await chat_repo.append(conn, scope, "user", question, model=None, now=now)
            await chat_repo.append(conn, scope, "assistant", answer, model=model, now=now)
            await chat_repo.prune(conn, scope, self.max_messages)
            if ticket is not None:
                await ticket.settle_in(conn)
        if ticket is not None:
            ticket.settled()

    async def forget(self, scope: int) -> int:
        async with self.db.transaction() as conn:
            return await chat_repo.clear(conn, scope)
