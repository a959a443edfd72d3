"""Channel membership through the Bot API: :class:`bot.services.subscription.Membership`
for REQUIRED_CHANNEL, with the probe that checks the bot is an administrator there."""

from __future__ import annotations

import logging
import time

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.types import ChatMemberRestricted

from bot.services.subscription import (
    ADMIN_STATUSES,
    REPROBE_SECONDS,
    Channel,
    MembershipUnavailable,
    is_member_status,
)

logger = logging.getLogger(__name__)

# getChatMember answers that mean "this user is not in the chat", not "we can't tell".
_NOT_A_MEMBER_ERRORS = ("user not found", "participant_id_invalid", "user_id_invalid")


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
        if member.status not in ADMIN_STATUSES:
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
