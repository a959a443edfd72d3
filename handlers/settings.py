"""/settings: the user's image defaults, on an inline keyboard edited in place.

Model and sampler buttons carry a short hash of the name (names can be longer than callback
data allows); the hash is looked up in the current catalogue, so a button for a model that
has since disappeared gets a clear answer and the fresh list. Every button carries the owner's
id: in a group, nobody else can change (or see through the message) another user's defaults.
"""

from __future__ import annotations

import hashlib
import logging
import math

from aiogram import Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.services.images import SIZE_PRESETS, STEP_PRESETS, ImageService, ImageSettings
from bot.texts import Translator
from storage.users import UserRow

logger = logging.getLogger(__name__)

PAGE_SIZE = 8
BUTTON_NAME_MAX = 40
AUTO = "auto"


class SettingsCb(CallbackData, prefix="set"):
    action: str
    value: str = ""
    page: int = 0
    uid: int = 0


def name_hash(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:10]


def _button_name(name: str) -> str:
    return name if len(name) <= BUTTON_NAME_MAX else name[: BUTTON_NAME_MAX - 1] + "…"


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


def home_keyboard(t: Translator, uid: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for action, key in (
        ("models", "settings.btn.model"),
        ("samplers", "settings.btn.sampler"),
        ("sizes", "settings.btn.size"),
        ("steps", "settings.btn.steps"),
        ("reset", "settings.btn.reset"),
        ("close", "settings.btn.close"),
    ):
        builder.button(text=t(key), callback_data=SettingsCb(action=action, uid=uid))
    builder.adjust(2)
    return builder.as_markup()


def _back(builder: InlineKeyboardBuilder, t: Translator, uid: int) -> None:
    builder.row()
    builder.button(text=t("settings.btn.back"), callback_data=SettingsCb(action="home", uid=uid))


def list_keyboard(
    t: Translator,
    *,
    uid: int,
    names: list[str],
    current: str | None,
    pick: str,
    browse: str,
    page: int,
    with_auto: bool = False,
) -> tuple[InlineKeyboardMarkup, int, int]:
    """A paged list; returns (keyboard, page shown, pages)."""
    pages = max(1, math.ceil(len(names) / PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    builder = InlineKeyboardBuilder()
    sizes: list[int] = []
    if with_auto:
        mark = "✅ " if current is None else ""
        builder.button(
            text=mark + t("settings.auto"),
            callback_data=SettingsCb(action=pick, value=AUTO, uid=uid),
        )
        sizes.append(1)
    for name in names[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]:
        mark = "✅ " if name == current else ""
        builder.button(
            text=mark + _button_name(name),
            callback_data=SettingsCb(action=pick, value=name_hash(name), page=page, uid=uid),
        )
        sizes.append(1)
    if pages > 1:
        nav = 0
        if page > 0:
            builder.button(
                text="◀️", callback_data=SettingsCb(action=browse, page=page - 1, uid=uid)
            )
            nav += 1
        if page < pages - 1:
            builder.button(
                text="▶️", callback_data=SettingsCb(action=browse, page=page + 1, uid=uid)
            )
            nav += 1
        sizes.append(nav)
    builder.button(text=t("settings.btn.back"), callback_data=SettingsCb(action="home", uid=uid))
    sizes.append(1)
    builder.adjust(*sizes)
    return builder.as_markup(), page, pages


def sizes_keyboard(t: Translator, uid: int, settings: ImageSettings) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    current = settings.size_preset
    for name, (width, height) in SIZE_PRESETS.items():
        mark = "✅ " if name == current else ""
        builder.button(
            text=f"{mark}{t(f'settings.size.{name}')} {width}×{height}",
            callback_data=SettingsCb(action="size", value=name, uid=uid),
        )
    builder.button(text=t("settings.btn.back"), callback_data=SettingsCb(action="home", uid=uid))
    builder.adjust(1)
    return builder.as_markup()


def steps_keyboard(t: Translator, uid: int, settings: ImageSettings) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for steps in STEP_PRESETS:
        mark = "✅ " if steps == settings.steps else ""
        builder.button(
            text=f"{mark}{steps}",
            callback_data=SettingsCb(action="step", value=str(steps), uid=uid),
        )
    builder.button(text=t("settings.btn.back"), callback_data=SettingsCb(action="home", uid=uid))
    builder.adjust(len(STEP_PRESETS), 1)
    return builder.as_markup()


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
    assert isinstance(query.message, Message)
    try:
        await query.message.edit_text(text, reply_markup=keyboard)
    except TelegramBadRequest as exc:
        if "message is not modified" not in str(exc):
            raise


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
