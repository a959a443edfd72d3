"""Membership through getChatMember: who counts as subscribed, and when we can't tell."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
)
from aiogram.methods import GetChatMember
from aiogram.types import (
    ChatFullInfo,
    ChatMemberAdministrator,
    ChatMemberBanned,
    ChatMemberLeft,
    ChatMemberMember,
    ChatMemberOwner,
    ChatMemberRestricted,
    User,
)

from bot.services.subscription import (
    Channel,
    MembershipUnavailable,
    is_member_status,
)
from handlers.adapters.membership import TelegramMembership

BOT_ID = 42
CHANNEL_ID = -1001234567890
_METHOD = GetChatMember(chat_id=CHANNEL_ID, user_id=1)


def _user(uid: int) -> User:
    return User(id=uid, is_bot=uid == BOT_ID, first_name="U")


def admin(uid: int = BOT_ID) -> ChatMemberAdministrator:
    flags = {
        name: False
        for name, info in ChatMemberAdministrator.model_fields.items()
        if info.is_required() and name not in ("status", "user")
    }
    return ChatMemberAdministrator(user=_user(uid), **flags)


def restricted(uid: int, is_member: bool) -> ChatMemberRestricted:
    flags = {
        name: False
        for name, info in ChatMemberRestricted.model_fields.items()
        if info.is_required() and name not in ("status", "user", "is_member", "until_date")
    }
    return ChatMemberRestricted(user=_user(uid), is_member=is_member, until_date=0, **flags)


class StubBot:
    """get_chat / get_chat_member / me, from dicts; values may be exceptions to raise."""

    def __init__(self, members: dict[int, Any], chat: Any = None) -> None:
        self.members = members
        # Only the fields the membership check reads (the full type has many required ones).
        self.chat = chat or ChatFullInfo.model_construct(
            id=CHANNEL_ID, type="channel", title="VisionCraft News", username="vc_news"
        )
        self.calls: list[tuple[str, Any]] = []

    async def get_chat(self, chat_id: Any) -> ChatFullInfo:
        self.calls.append(("getChat", chat_id))
        if isinstance(self.chat, Exception):
            raise self.chat
        return self.chat

    async def me(self) -> User:
        return _user(BOT_ID)

    async def get_chat_member(self, chat_id: Any, user_id: int) -> Any:
        self.calls.append(("getChatMember", user_id))
        value = self.members.get(user_id, ChatMemberLeft(user=_user(user_id)))
        if isinstance(value, Exception):
            raise value
        return value


@pytest.mark.parametrize(
    ("status", "is_member", "expected"),
    [
        ("creator", None, True),
        ("administrator", None, True),
        ("member", None, True),
        ("restricted", True, True),
        ("restricted", False, False),
        ("left", None, False),
        ("kicked", None, False),
    ],
)
def test_who_counts_as_a_member(status, is_member, expected):
    assert is_member_status(status, is_member) is expected


def test_channel_links_and_matching():
    named = Channel.from_setting("@VC_News")
    assert named.url == "https://t.me/VC_News" and named.display == "@VC_News"
    assert named.matches(-100500, "vc_news") and not named.matches(-100500, "other")
    numeric = Channel.from_setting("-1001234567890")
    assert numeric.url is None and numeric.matches(CHANNEL_ID, None)
    assert not numeric.matches(-1009, None)
    numeric.invite_link = "https://t.me/+AbCdEf"
    assert numeric.url == "https://t.me/+AbCdEf"
    assert Channel.from_setting(None) is None


async def test_members_by_status():
    bot = StubBot(
        {
            BOT_ID: admin(),
            1: ChatMemberMember(user=_user(1)),
            2: ChatMemberOwner(user=_user(2), is_anonymous=False),
            3: restricted(3, True),
            4: restricted(4, False),
            5: ChatMemberBanned(user=_user(5), until_date=0),
            7: admin(7),
        }
    )
    membership = TelegramMembership(bot, Channel.from_setting("@vc_news"))
    answers = {uid: await membership.is_member(uid) for uid in (1, 2, 3, 4, 5, 6, 7)}
    assert answers == {1: True, 2: True, 3: True, 4: False, 5: False, 6: False, 7: True}
    # the channel was probed once, then resolved to its numeric id
    assert [c for c in bot.calls if c[0] == "getChat"] == [("getChat", "@vc_news")]
    assert membership.channel.chat_id == CHANNEL_ID


async def test_user_not_found_means_not_a_member():
    bot = StubBot({BOT_ID: admin(), 1: TelegramBadRequest(_METHOD, "Bad Request: user not found")})
    assert await TelegramMembership(bot, Channel.from_setting("@vc_news")).is_member(1) is False


async def test_bot_not_admin_is_unavailable_and_logged(caplog):
    channel = Channel.from_setting("@vc_news")
    bot = StubBot({1: ChatMemberMember(user=_user(1))})  # the bot itself: "left"
    membership = TelegramMembership(bot, channel, reprobe_seconds=3600)
    with caplog.at_level(logging.ERROR):
        assert await membership.probe() is False
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "@vc_news" in errors[0] and "not an administrator" in errors[0]
    with pytest.raises(MembershipUnavailable) as info:
        await membership.is_member(1)
    assert info.value.text_key == "key.unavailable"
    # no getChatMember for users while the bot can't read the channel, and no re-probe storm
    assert ("getChatMember", 1) not in bot.calls
    assert len([c for c in bot.calls if c[0] == "getChat"]) == 1


async def test_bot_made_admin_later_is_picked_up_by_a_reprobe():
    channel = Channel.from_setting("@vc_news")
    bot = StubBot({1: ChatMemberMember(user=_user(1))})
    membership = TelegramMembership(bot, channel, reprobe_seconds=0)
    assert await membership.probe() is False
    bot.members[BOT_ID] = admin()
    assert await membership.is_member(1) is True
    assert channel.ready is True


@pytest.mark.parametrize(
    "error",
    [
        TelegramBadRequest(_METHOD, "Bad Request: member list is inaccessible"),
        TelegramForbiddenError(_METHOD, "Forbidden: bot is not a member of the channel chat"),
    ],
)
async def test_refused_member_lists_make_the_channel_unavailable(error, caplog):
    channel = Channel.from_setting("@vc_news")
    bot = StubBot({BOT_ID: admin(), 1: error})
    membership = TelegramMembership(bot, channel, reprobe_seconds=3600)
    with caplog.at_level(logging.ERROR), pytest.raises(MembershipUnavailable):
        await membership.is_member(1)
    assert channel.ready is False
    assert any(r.levelno == logging.ERROR for r in caplog.records)


async def test_network_trouble_is_unavailable_but_not_a_config_problem():
    channel = Channel.from_setting("@vc_news")
    bot = StubBot({BOT_ID: admin(), 1: TelegramNetworkError(_METHOD, "timeout")})
    membership = TelegramMembership(bot, channel)
    with pytest.raises(MembershipUnavailable):
        await membership.is_member(1)
    assert channel.ready is True  # the next user is checked normally


async def test_unknown_channel_is_logged_at_start(caplog):
    channel = Channel.from_setting("-1009999999999")
    bot = StubBot({}, chat=TelegramBadRequest(_METHOD, "Bad Request: chat not found"))
    with caplog.at_level(logging.ERROR):
        assert await TelegramMembership(bot, channel).probe() is False
    assert "chat not found" in caplog.text and "-1009999999999" in caplog.text


async def test_private_channel_uses_its_invite_link():
    chat = StubBot({}).chat.model_copy(
        update={"username": None, "invite_link": "https://t.me/+Secret"}
    )
    channel = Channel.from_setting(str(CHANNEL_ID))
    bot = StubBot({BOT_ID: admin()}, chat=chat)
    assert await TelegramMembership(bot, channel).probe() is True
    assert channel.url == "https://t.me/+Secret" and channel.display == "VisionCraft News"
