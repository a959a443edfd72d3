"""Is this user subscribed to REQUIRED_CHANNEL? The membership check behind API keys.

:class:`Membership` is the small protocol the key rules depend on, so tests can fake it.
The real one, ``getChatMember`` in the channel (which only works when the bot is an
administrator there), is the Telegram front's ``handlers.adapters.membership``.
:class:`Channel` is the long-lived state shared by every check: the resolved chat, its
link, and whether the bot can read its members (``ready``). When it can't, checks raise
:class:`MembershipUnavailable` (users hear "temporarily unavailable") and the bot re-probes
at most once per ``REPROBE_SECONDS``, so making the bot an admin fixes it without a restart.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Protocol

from bot.services.errors import DomainError

logger = logging.getLogger(__name__)

REPROBE_SECONDS = 60.0

# Chat member statuses as the Bot API names them.
MEMBER_STATUSES = frozenset({"creator", "administrator", "member"})
ADMIN_STATUSES = frozenset({"creator", "administrator"})


class MembershipUnavailable(DomainError):
    """The channel membership can't be checked right now (the bot is not an admin of the
    channel, or Telegram failed). Never means "not subscribed"."""

    text_key = "key.unavailable"


def is_member_status(status: str, is_member: bool | None = None) -> bool:
    """creator, administrator and member count; restricted counts only with is_member."""
    if status in MEMBER_STATUSES:
        return True
    if status == "restricted":
        return bool(is_member)
    return False


class Membership(Protocol):
    async def is_member(self, user_id: int) -> bool:
        """True/False, or raises MembershipUnavailable when it can't be told."""
        ...


@dataclass(slots=True)
class Channel:
    """REQUIRED_CHANNEL and what the bot has learnt about it."""

    ref: str | int  # "@name" or a -100… id, as configured
    chat_id: int | None = None
    username: str | None = None
    title: str | None = None
    invite_link: str | None = None
    ready: bool | None = None  # None: not probed yet
    problem: str | None = None
    probed_at: float = field(default=0.0)

    @classmethod
    def from_setting(cls, value: str | None) -> Channel | None:
        if value is None:
            return None
        if value.startswith("@"):
            return cls(ref=value, username=value[1:])
        return cls(ref=int(value), chat_id=int(value))

    @property
    def display(self) -> str:
        if self.username:
            return f"@{self.username}"
        return self.title or str(self.ref)

    @property
    def url(self) -> str | None:
        """A t.me link users can open: the public username, else the invite link."""
        if self.username:
            return f"https://t.me/{self.username}"
        return self.invite_link

    def matches(self, chat_id: int, username: str | None) -> bool:
        if self.chat_id is not None:
            return chat_id == self.chat_id
        return (
            isinstance(self.ref, str)
            and username is not None
            and username.lower() == self.ref[1:].lower()
        )

    def set_ready(self, ready: bool, problem: str | None = None) -> None:
        """Record the probe result; log when it changes (ERROR when the bot can't check)."""
        before = self.ready
        self.ready, self.problem, self.probed_at = ready, problem, time.monotonic()
        if ready and before is not True:
            logger.info(
                "REQUIRED_CHANNEL %s (id %s): the bot is an administrator; API keys follow "
                "channel membership",
                self.display,
                self.chat_id,
            )
        elif not ready and before is not False:
            logger.error(
                "REQUIRED_CHANNEL %s: %s. The bot must be an administrator of the channel to "
                "see who is subscribed; until then /key answers 'temporarily unavailable'.",
                self.display,
                problem,
            )
