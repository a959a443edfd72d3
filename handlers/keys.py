"""/key: the channel gate, the key shown once, its status, regenerate and revoke.

Every /key (and "I've subscribed") re-checks the caller's channel membership and makes the key
follow it. The full key is shown once, in a spoiler, when it is created; afterwards only its
status and first 8 characters. Destructive buttons ask to confirm, and the confirmation carries
the key's prefix, so a stale confirmation never touches a newer key.
"""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.render import utc_datetime
from bot.services.errors import UserBanned
from bot.services.keys import REVOKED, IssueResult, KeyInfo, KeyService, KeyStatus, StaleKeyAction
from bot.services.subscription import Channel
from bot.texts import Translator
from handlers.adapters.membership import TelegramMembership
from handlers.filters import not_private
from handlers.keyboards import (
    KeyCb,
    key_confirm_keyboard,
    key_gate_keyboard,
    key_manage_keyboard,
    new_key_keyboard,
)
from handlers.replies import show_screen
from storage.users import UserRow

View = tuple[str, InlineKeyboardMarkup | None]


# -- views ---------------------------------------------------------------------------------------
def gate_view(t: Translator, channel: Channel, info: KeyInfo | None) -> View:
    if info is not None and info.is_active is False and info.reason not in (REVOKED, None):
        text = t("key.gate_inactive", prefix=info.prefix, channel=channel.display)
    else:
        text = t("key.gate", channel=channel.display)
    if channel.url is None:
        text += t("key.gate_no_link")
    return text, key_gate_keyboard(t, channel.url)


# What each destructive button asks first: (question, "yes" button, the action "yes" sends).
_CONFIRMATIONS = {
    "regen": ("key.confirm_regenerate", "key.btn_yes_regenerate", "regen_yes"),
    "revoke": ("key.confirm_revoke", "key.btn_yes_revoke", "revoke_yes"),
}


def confirm_view(t: Translator, action: str, prefix: str) -> View:
    """The confirmation for ``action`` (regen | revoke) on the key starting with ``prefix``."""
    question, yes_text, yes_action = _CONFIRMATIONS[action]
    return t(question, prefix=prefix), key_confirm_keyboard(t, yes_text, yes_action, prefix)


def issued_view(t: Translator, channel: Channel | None, result: IssueResult) -> View:
    assert result.key is not None
    if channel is None:
        text = t("key.issued_ungated", key=result.key)
    else:
        text = t("key.issued", key=result.key, channel=channel.display)
    return text, key_manage_keyboard(t)


def _reason(t: Translator, reason: str | None) -> str:
    return t(f"key.reason.{reason or REVOKED}")


def status_view(t: Translator, info: KeyInfo) -> View:
    if info.is_active:
        state = t("key.state_active")
    else:
        state = t("key.state_inactive", reason=_reason(t, info.reason))
    last_used = (
        t("key.used_at", when=utc_datetime(info.last_used_at))
        if info.last_used_at is not None
        else t("key.never_used")
    )
    text = t(
        "key.status",
        state=state,
        prefix=info.prefix,
        created=utc_datetime(info.created_at),
        last_used=last_used,
    )
    if info.is_active:
        return text, key_manage_keyboard(t)
    if info.reason == REVOKED:
        return text, new_key_keyboard(t, info.prefix)
    return text, None


def key_status_line(t: Translator, status: KeyStatus) -> str:
    """One line about the key for other screens (/usage)."""
    if status.state == "active":
        return t("key.usage.active", prefix=status.prefix or "")
    if status.state == "inactive":
        return t("key.usage.inactive", reason=_reason(t, status.reason))
    return t("key.usage.none")


# -- the rules, with Telegram around them -----------------------------------------------------
async def _is_member(bot: Bot, channel: Channel | None, key_service: KeyService, uid: int) -> bool:
    """Re-check the caller and make their key follow the answer (no gate: always a member).
    Raises MembershipUnavailable when the channel can't be checked."""
    member = True if channel is None else await TelegramMembership(bot, channel).is_member(uid)
    await key_service.sync_membership(uid, member)
    return member


async def key_screen(
    t: Translator, bot: Bot, uid: int, key_service: KeyService, channel: Channel | None
) -> tuple[bool, View]:
    """(is a member, what /key shows now). Issues the key on a member's first visit."""
    if not await _is_member(bot, channel, key_service, uid):
        assert channel is not None
        return False, gate_view(t, channel, await key_service.get(uid))
    result = await key_service.issue(uid)
    if result.created:
        return True, issued_view(t, channel, result)
    return True, status_view(t, result.info)


def _check_banned(user: UserRow | None) -> None:
    if user is not None and user.is_banned:
        raise UserBanned("banned user used /key")


async def _show(query: CallbackQuery, view: View) -> None:
    """Replace the message the button was on; send a new one if it can't be edited."""
    await show_screen(query, *view)


# -- /key ----------------------------------------------------------------------------------------
async def cmd_key_in_group(message: Message, t: Translator, bot: Bot) -> None:
    me = await bot.me()
    await message.reply(t("key.private_only", bot=f"@{me.username}"))


async def cmd_key(
    message: Message,
    t: Translator,
    bot: Bot,
    user: UserRow | None,
    key_service: KeyService,
    channel_gate: Channel | None,
) -> None:
    _check_banned(user)
    assert message.from_user is not None
    _, (text, markup) = await key_screen(t, bot, message.from_user.id, key_service, channel_gate)
    await message.answer(text, reply_markup=markup)


# -- buttons -------------------------------------------------------------------------------------
async def on_check(
    query: CallbackQuery,
    t: Translator,
    bot: Bot,
    user: UserRow | None,
    key_service: KeyService,
    channel_gate: Channel | None,
) -> None:
    _check_banned(user)
    member, view = await key_screen(t, bot, query.from_user.id, key_service, channel_gate)
    if not member:
        await query.answer(t("key.not_yet"), show_alert=True)
        return
    await query.answer()
    await _show(query, view)


async def on_ask_confirm(
    query: CallbackQuery,
    callback_data: KeyCb,
    t: Translator,
    bot: Bot,
    user: UserRow | None,
    key_service: KeyService,
) -> None:
    _check_banned(user)
    info = await key_service.get(query.from_user.id)
    if info is None:
        await query.answer(t("key.no_key"), show_alert=True)
        return
    if info.reason == REVOKED:
        await query.answer(t("key.stale"), show_alert=True)
        return
    text, markup = confirm_view(t, callback_data.action, info.prefix)
    await query.answer()
    await bot.send_message(query.from_user.id, text, reply_markup=markup)


async def on_regenerate(
    query: CallbackQuery,
    callback_data: KeyCb,
    t: Translator,
    bot: Bot,
    user: UserRow | None,
    key_service: KeyService,
    channel_gate: Channel | None,
) -> None:
    _check_banned(user)
    uid = query.from_user.id
    if not await _is_member(bot, channel_gate, key_service, uid):
        assert channel_gate is not None
        await query.answer(t("key.not_yet"), show_alert=True)
        await _show(query, gate_view(t, channel_gate, await key_service.get(uid)))
        return
    try:
        result = await key_service.regenerate(uid, expected_prefix=callback_data.ref)
    except StaleKeyAction:
        await query.answer(t("key.stale"), show_alert=True)
        return
    await query.answer()
    await _show(query, issued_view(t, channel_gate, result))


async def on_revoke(
    query: CallbackQuery,
    callback_data: KeyCb,
    t: Translator,
    bot: Bot,
    key_service: KeyService,
) -> None:
    try:
        info = await key_service.revoke(query.from_user.id, expected_prefix=callback_data.ref)
    except StaleKeyAction:
        await query.answer(t("key.stale"), show_alert=True)
        return
    await query.answer()
    text = t("key.revoked", prefix=info.prefix)
    await _show(query, (text, new_key_keyboard(t, info.prefix)))


async def on_cancel(query: CallbackQuery, t: Translator, bot: Bot) -> None:
    await query.answer()
    await _show(query, (t("key.cancelled"), None))


def make_router() -> Router:
    """A fresh router with this module's handlers (one per dispatcher: a router belongs to
    one parent)."""
    router = Router(name=__name__)
    router.message.register(cmd_key_in_group, Command("key"), not_private)
    router.message.register(cmd_key, Command("key"))
    router.callback_query.register(on_check, KeyCb.filter(F.action == "check"))
    router.callback_query.register(on_ask_confirm, KeyCb.filter(F.action.in_(set(_CONFIRMATIONS))))
    router.callback_query.register(on_regenerate, KeyCb.filter(F.action.in_({"regen_yes", "new"})))
    router.callback_query.register(on_revoke, KeyCb.filter(F.action == "revoke_yes"))
    router.callback_query.register(on_cancel, KeyCb.filter(F.action == "cancel"))
    return router
