"""/settings: the user's image defaults, on an inline keyboard edited in place.

Model and sampler buttons carry a short hash of the name (names can be longer than callback
data allows); the hash is looked up in the current catalogue, so a button for a model that
has since disappeared gets a clear answer and the fresh list. Every button carries the owner's
id: in a group, nobody else can change (or see through the message) another user's defaults.
"""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.services.images import SIZE_PRESETS, STEP_PRESETS, ImageService, ImageSettings
from bot.texts import Translator
from handlers.keyboards import (
    AUTO,
    SettingsCb,
    home_keyboard,
    list_keyboard,
    name_hash,
    sizes_keyboard,
    steps_keyboard,
)
from handlers.replies import show_screen
from storage.users import UserRow

logger = logging.getLogger(__name__)


def settings_text(t: Translator, settings: ImageSettings, default_model: str) -> str:
    none = t("settings.none")
    loras = ", ".join(f"{name}:{weight:g}" for name, weight in settings.loras)
    return t(
        "settings.title",
        model=settings.model or default_model,
        sampler=settings.sampler or t("settings.auto"),
        width=settings.width,
        height=settings.height,
        steps=settings.steps,
        cfg=settings.cfg_scale,
        negative=settings.negative_prompt or none,
        loras=loras or none,
    )


async def cmd_settings(
    message: Message, command: CommandObject, t: Translator, user: UserRow, images: ImageService
) -> None:
    if (command.args or "").strip():
        settings = await images.update_from_command(user.id, command.args or "")
    else:
        settings = images.settings_of(user)
    await message.answer(
        settings_text(t, settings, images.default_model), reply_markup=home_keyboard(t, user.id)
    )


async def _show(query: CallbackQuery, text: str, keyboard: InlineKeyboardMarkup | None) -> None:
    await show_screen(query, text, keyboard)


async def _show_home(
    query: CallbackQuery, t: Translator, images: ImageService, settings: ImageSettings, uid: int
) -> None:
    await _show(query, settings_text(t, settings, images.default_model), home_keyboard(t, uid))


async def _show_list(
    query: CallbackQuery,
    t: Translator,
    images: ImageService,
    settings: ImageSettings,
    uid: int,
    kind: str,
    page: int,
) -> None:
    if kind == "models":
        names = await images.catalogue.get("models")
        current = settings.model or images.default_model
        keyboard, page, pages = list_keyboard(
            t, uid=uid, names=names, current=current, pick="model", browse="models", page=page
        )
        await _show(query, t("settings.pick_model", page=page + 1, pages=pages), keyboard)
    else:
        names = await images.catalogue.get("samplers")
        keyboard, page, pages = list_keyboard(
            t,
            uid=uid,
            names=names,
            current=settings.sampler,
            pick="sampler",
            browse="samplers",
            page=page,
            with_auto=True,
        )
        await _show(query, t("settings.pick_sampler", page=page + 1, pages=pages), keyboard)


async def on_settings(
    query: CallbackQuery,
    callback_data: SettingsCb,
    t: Translator,
    user: UserRow,
    images: ImageService,
) -> None:
    if callback_data.uid != user.id:
        await query.answer(t("settings.not_yours"), show_alert=True)
        return
    if not isinstance(query.message, Message):
        await query.answer(t("settings.stale"), show_alert=True)
        return
    uid = user.id
    settings = images.settings_of(user)
    action, value, page = callback_data.action, callback_data.value, callback_data.page

    if action == "home":
        await _show_home(query, t, images, settings, uid)
    elif action in ("models", "samplers"):
        await _show_list(query, t, images, settings, uid, action, page)
    elif action == "sizes":
        await _show(query, t("settings.pick_size"), sizes_keyboard(t, uid, settings))
    elif action == "steps":
        await _show(query, t("settings.pick_steps"), steps_keyboard(t, uid, settings))
    elif action == "close":
        await _show(query, t("settings.closed"), None)
    elif action == "reset":
        await images.save(uid, ImageSettings())
        await _show_home(query, t, images, ImageSettings(), uid)
        await query.answer(t("settings.reset_done"))
        return
    elif action in ("model", "sampler", "size", "step"):
        updated = await _pick(query, t, images, settings, uid, action, value, page)
        if updated is None:
            return  # _pick answered
        await images.save(uid, updated)
        await _show_home(query, t, images, updated, uid)
        await query.answer(t("settings.saved"))
        return
    else:
        await query.answer(t("settings.stale"), show_alert=True)
        await _show_home(query, t, images, settings, uid)
        return
    await query.answer()


async def _pick(
    query: CallbackQuery,
    t: Translator,
    images: ImageService,
    settings: ImageSettings,
    uid: int,
    action: str,
    value: str,
    page: int,
) -> ImageSettings | None:
    """The settings with the chosen value, or None after answering a stale button."""
    if action in ("model", "sampler"):
        kind = action + "s"
        if action == "sampler" and value == AUTO:
            return settings.apply({"sampler": None})
        names = await images.catalogue.get(kind)
        chosen = next((n for n in names if name_hash(n) == value), None)
        if chosen is None:
            await query.answer(t(f"settings.{action}_gone"), show_alert=True)
            await _show_list(query, t, images, settings, uid, kind, page)
            return None
        return settings.apply({action: chosen})
    if action == "size" and value in SIZE_PRESETS:
        width, height = SIZE_PRESETS[value]
        return settings.apply({"width": width, "height": height})
    if action == "step" and value.isdigit() and int(value) in STEP_PRESETS:
        return settings.apply({"steps": int(value)})
    await query.answer(t("settings.stale"), show_alert=True)
    await _show_home(query, t, images, settings, uid)
    return None


def make_router() -> Router:
    """A fresh router with this module's handlers (one per dispatcher: a router belongs to
    one parent)."""
    router = Router(name=__name__)
    router.message.register(cmd_settings, Command("settings"))
    router.callback_query.register(on_settings, SettingsCb.filter())
    return router
