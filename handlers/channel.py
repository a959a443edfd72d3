"""REQUIRED_CHANNEL's member updates: keys follow their owners in and out of the channel.

Telegram sends ``chat_member`` updates only to a bot that is an administrator of the channel
and asks for them (``allowed_updates`` comes from ``dp.resolve_used_update_types()``, which
includes ``chat_member`` because of the handlers below). ``my_chat_member`` tells us when the
bot itself is promoted or demoted there.
"""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.filters import (
    JOIN_TRANSITION,
    LEAVE_TRANSITION,
    PROMOTED_TRANSITION,
    BaseFilter,
    ChatMemberUpdatedFilter,
)
from aiogram.types import ChatMemberUpdated

from bot.services.keys import KeyService
from bot.services.reconcile import KeyNotifier
from bot.services.subscription import Channel
from handlers.adapters.messenger import TelegramMessenger

logger = logging.getLogger(__name__)


class InRequiredChannel(BaseFilter):
    async def __call__(self, event: ChatMemberUpdated, channel_gate: Channel | None) -> bool:
        return channel_gate is not None and channel_gate.matches(event.chat.id, event.chat.username)


async def _follow(
    event: ChatMemberUpdated, bot: Bot, key_service: KeyService, channel: Channel, member: bool
) -> None:
    user = event.new_chat_member.user
    if user.is_bot:
        return
    change = await key_service.sync_membership(user.id, member)
    if change is not None:
        logger.info("key of user %d %s (chat_member update)", user.id, change.value)
        await KeyNotifier(TelegramMessenger(bot), key_service, channel)(user.id, change)


async def member_joined(
    event: ChatMemberUpdated, bot: Bot, key_service: KeyService, channel_gate: Channel
) -> None:
    await _follow(event, bot, key_service, channel_gate, member=True)


async def member_left(
    event: ChatMemberUpdated, bot: Bot, key_service: KeyService, channel_gate: Channel
) -> None:
    await _follow(event, bot, key_service, channel_gate, member=False)


async def bot_promoted(event: ChatMemberUpdated, channel_gate: Channel) -> None:
    channel_gate.chat_id = event.chat.id
    channel_gate.username = event.chat.username or channel_gate.username
    channel_gate.title = event.chat.title or channel_gate.title
    channel_gate.set_ready(True)


async def bot_status_changed(event: ChatMemberUpdated, channel_gate: Channel) -> None:
    if event.new_chat_member.status not in ("creator", "administrator"):
        channel_gate.set_ready(False, "the bot is no longer an administrator of this channel")


def make_router() -> Router:
    """A fresh router with this module's handlers (one per dispatcher: a router belongs to
    one parent)."""
    router = Router(name=__name__)
    router.chat_member.filter(InRequiredChannel())
    router.my_chat_member.filter(InRequiredChannel())
    router.chat_member.register(member_joined, ChatMemberUpdatedFilter(JOIN_TRANSITION))
    router.chat_member.register(member_left, ChatMemberUpdatedFilter(LEAVE_TRANSITION))
    router.my_chat_member.register(bot_promoted, ChatMemberUpdatedFilter(PROMOTED_TRANSITION))
    router.my_chat_member.register(bot_status_changed)
    return router
