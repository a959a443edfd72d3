"""Is this user subscribed to REQUIRED_CHANNEL? The membership check behind API keys.

:class:`Membership` is the small protocol the key rules depend on, so tests can fake it.
:class:`TelegramMembership` is the real one: ``getChatMember`` in the channel, which only works
when the bot is an administrator there. :class:`Channel` is the long-lived state shared by
every check: the resolved chat, its link, and whether the bot can read its members
(``ready``). When it can't, checks raise :class:`MembershipUnavailable` (users hear
"temporarily unavailable") and the bot re-probes at most once per ``REPROBE_SECONDS``, so
making the bot an admin fixes it without a restart.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Protocol

from aiogram import Bot
from aiogram.enums import ChatMemberStatus
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.types import ChatMemberRestricted

from bot.services.errors import DomainError

logger = logging.getLogger(__name__)

REPROBE_SECONDS = 60.0

_MEMBER_STATUSES = frozenset(
    {ChatMemberStatus.CREATOR, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.MEMBER}
)
_ADMIN_STATUSES = frozenset({ChatMemberStatus.CREATOR, ChatMemberStatus.ADMINISTRATOR})
# getChatMember answers that mean "this user is not in the chat", not "we can't tell".
_NOT_A_MEMBER_ERRORS = ("user not found", "participant_id_invalid", "user_id_invalid")


class MembershipUnavailable(DomainError):
    """The channel membership can't be checked right now (the bot is not an admin of the
    channel, or Telegram failed). Never means "not subscribed"."""

    text_key = "key.unavailable"


def is_member_status(status: str, is_member: bool | None = None) -> bool:
    """creator, administrator and member count; restricted counts only with is_member."""
    if status in _MEMBER_STATUSES:
        return True
    if status == ChatMemberStatus.RESTRICTED:
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


class TelegramMembership:
    """:class:`Membership` through the Bot API. Cheap to build: the state lives in ``channel``."""

    def __init__(
        self, bot: Bot, channel: Channel, *, reprobe_seconds: float = REPROBE_SECONDS
    ) -> None:
        self.bot = bot
        self.channel = channel
        self.reprobe_seconds = reprobe_seconds

    @property
    def _chat(self) -> str | int:
        return self.channel.chat_id if self.channel.chat_id is not None else self.channel.ref

    async def probe(self) -> bool:
        """Resolve the channel and check that the bot is an administrator there. Never
        raises: problems are logged (ERROR) and recorded in ``channel``."""
        channel = self.channel
        try:
            chat = await self.bot.get_chat(channel.ref)
            channel.chat_id = chat.id
            channel.username = chat.username or (
                channel.ref[1:] if isinstance(channel.ref, str) else None
            )
            channel.title = chat.title
            channel.invite_link = chat.invite_link
            me = await self.bot.me()
            member = await self.bot.get_chat_member(chat.id, me.id)
        except (TelegramBadRequest, TelegramForbiddenError) as exc:
            channel.set_ready(False, f"Telegram refused to show it ({exc.message})")
            return False
        except TelegramAPIError as exc:
            # Telegram is unreachable or failing: not a configuration problem; try again later.
            logger.error(
                "REQUIRED_CHANNEL %s: could not check the channel (%s); will retry",
                channel.display,
                exc,
            )
            channel.probed_at = time.monotonic()
            return False
        if member.status not in _ADMIN_STATUSES:
            channel.set_ready(False, "the bot is not an administrator of this channel")
            return False
        if channel.url is None:
            logger.warning(
                "REQUIRED_CHANNEL %s has no public username and the bot can't see an invite "
                "link: users will be told to ask you for one. Give the bot the 'invite users' "
                "right or make the channel public.",
                channel.display,
            )
        channel.set_ready(True)
        return True

    async def ensure_ready(self) -> None:
        channel = self.channel
        if channel.ready:
            return
        if time.monotonic() - channel.probed_at >= self.reprobe_seconds or (
            channel.ready is None and channel.probed_at == 0.0
        ):
            await self.probe()
        if not channel.ready:
            raise MembershipUnavailable(channel.problem or "channel not checked")

    async def is_member(self, user_id: int) -> bool:
        await self.ensure_ready()
        try:
            member = await self.bot.get_chat_member(self._chat, user_id)
        except TelegramBadRequest as exc:
            if any(text in exc.message.lower() for text in _NOT_A_MEMBER_ERRORS):
                return False
            self.channel.set_ready(False, f"Telegram refused to show members ({exc.message})")
            raise MembershipUnavailable(exc.message) from None
        except TelegramForbiddenError as exc:
            self.channel.set_ready(False, f"Telegram refused to show members ({exc.message})")
            raise MembershipUnavailable(exc.message) from None
        except TelegramAPIError as exc:
            logger.warning("membership check for a user failed: %s", exc)
            raise MembershipUnavailable(str(exc)) from None
        is_member = member.is_member if isinstance(member, ChatMemberRestricted) else None
        return is_member_status(member.status, is_member)
