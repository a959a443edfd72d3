"""Every inline keyboard of the bot and the callback data its buttons carry, in one place.

Built with aiogram's ``InlineKeyboardBuilder`` and ``CallbackData`` (each prefix is unique:
the handlers' ``Cb.filter(...)`` tell the buttons apart by it). Texts come from
``bot.texts``; the screens around the keyboards stay with their handlers.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.personas import Persona
from bot.services.images import SIZE_PRESETS, STEP_PRESETS, ImageSettings
from bot.services.models import ChatModel
from bot.services.payments import TrialInfo
from bot.services.quota import TierState
from bot.texts import Translator
from bot.tiers import PAID_TIERS, RANK
from storage.star_subscriptions import ACTIVE, BY_BOT, CANCELED, FAILED, SubscriptionRow

# -- premium_view ------------------------------------------------------------


class PremiumCb(CallbackData, prefix="prem"):
    """show: the /premium screen; buy: an invoice for ``tier``; sub: a subscription link for
    ``tier``; cancel / resume: the renewal of the plan in force; trial: start the trial."""

    action: str
    tier: str = ""


def premium_button(t: Translator) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=t("premium.button"), callback_data=PremiumCb(action="show"))
    return builder.as_markup()


def premium_keyboard(
    t: Translator,
    *,
    state: TierState,
    trial: TrialInfo,
    prices: Mapping[str, int],
    subscription: SubscriptionRow | None = None,
) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    renews = subscription is not None and subscription.state in (ACTIVE, FAILED)
    for tier in PAID_TIERS:
        if RANK[tier] < RANK[state.tier]:
            continue  # a lower tier cannot be bought while a higher one is in force
        name = t(f"tier.{tier}")
        if not (renews and subscription is not None and RANK[subscription.tier] >= RANK[tier]):
            builder.button(
                text=t("premium.button_subscribe", tier=name, amount=prices[tier]),
                callback_data=PremiumCb(action="sub", tier=tier),
            )
        key = "premium.button_extend" if tier == state.tier else "premium.button_buy"
        builder.button(
            text=t(key, tier=name, amount=prices[tier]),
            callback_data=PremiumCb(action="buy", tier=tier),
        )
    if subscription is not None and renews:
        builder.button(
            text=t("premium.button_cancel_renewal"), callback_data=PremiumCb(action="cancel")
        )
    elif (
        subscription is not None
        and subscription.state == CANCELED
        and subscription.canceled_by == BY_BOT
    ):
        builder.button(
            text=t("premium.button_resume_renewal"), callback_data=PremiumCb(action="resume")
        )
    if trial.available:
        builder.button(text=t("premium.button_trial"), callback_data=PremiumCb(action="trial"))
    builder.adjust(1)
    return builder.as_markup()


def subscribe_link_keyboard(
    t: Translator, *, url: str, tier: str, amount: int
) -> InlineKeyboardMarkup:
    """The subscription's invoice link (Telegram opens the payment form from it)."""
    builder = InlineKeyboardBuilder()
    builder.button(
        text=t("premium.button_subscribe_link", tier=t(f"tier.{tier}"), amount=amount), url=url
    )
    return builder.as_markup()


# -- start ------------------------------------------------------------


def main_menu(t: Translator) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=t("menu.usage"), callback_data="menu:usage")
    builder.button(text=t("menu.help"), callback_data="menu:help")
    builder.adjust(2)
    return builder.as_markup()


# -- images ------------------------------------------------------------


class ResultCb(CallbackData, prefix="img"):
    action: str  # again | orig
    token: str


def result_keyboard(t: Translator, token: str, *, original: bool) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=t("images.btn.again"), callback_data=ResultCb(action="again", token=token))
    if original:
        builder.button(
            text=t("images.btn.original"), callback_data=ResultCb(action="orig", token=token)
        )
    builder.adjust(2)
    return builder.as_markup()


# -- model ------------------------------------------------------------

MODEL_PAGE_SIZE = 8


MODEL_BUTTON_NAME = 48


class ModelCallback(CallbackData, prefix="mdl"):
    action: str  # "page" | "set"
    page: int = 0
    key: str = ""


def model_keyboard(
    t: Translator, models: list[ChatModel], current: ChatModel, page: int
) -> InlineKeyboardMarkup:
    pages = max(1, -(-len(models) // MODEL_PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    builder = InlineKeyboardBuilder()
    shown = models[page * MODEL_PAGE_SIZE : (page + 1) * MODEL_PAGE_SIZE]
    for model in shown:
        name = (
            model.name
            if len(model.name) <= MODEL_BUTTON_NAME
            else model.name[: MODEL_BUTTON_NAME - 1] + "…"
        )
        mark = "✅ " if model.name == current.name else ""
        builder.button(
            text=f"{mark}{name} · {model.label}",
            callback_data=ModelCallback(action="set", page=page, key=model.key),
        )
    sizes = [1] * len(shown)
    nav = 0
    if page > 0:
        builder.button(
            text=t("model.prev"), callback_data=ModelCallback(action="page", page=page - 1)
        )
        nav += 1
    if page < pages - 1:
        builder.button(
            text=t("model.next"), callback_data=ModelCallback(action="page", page=page + 1)
        )
        nav += 1
    builder.adjust(*sizes, nav or 1)
    return builder.as_markup()


# -- settings ------------------------------------------------------------

SETTINGS_PAGE_SIZE = 8


SETTINGS_BUTTON_NAME = 40


AUTO = "auto"


class SettingsCb(CallbackData, prefix="set"):
    action: str
    value: str = ""
    page: int = 0
    uid: int = 0


def name_hash(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:10]


def _settings_button_name(name: str) -> str:
    return name if len(name) <= SETTINGS_BUTTON_NAME else name[: SETTINGS_BUTTON_NAME - 1] + "…"


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


def _settings_back(builder: InlineKeyboardBuilder, t: Translator, uid: int) -> None:
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
    pages = max(1, math.ceil(len(names) / SETTINGS_PAGE_SIZE))
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
    for name in names[page * SETTINGS_PAGE_SIZE : (page + 1) * SETTINGS_PAGE_SIZE]:
        mark = "✅ " if name == current else ""
        builder.button(
            text=mark + _settings_button_name(name),
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


# -- keys ------------------------------------------------------------


class KeyCb(CallbackData, prefix="key"):
    action: str  # check | regen | revoke | regen_yes | revoke_yes | new | cancel
    ref: str = ""  # the display prefix of the key a confirmation is about


def key_manage_keyboard(t: Translator) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=t("key.btn_regenerate"), callback_data=KeyCb(action="regen"))
    builder.button(text=t("key.btn_revoke"), callback_data=KeyCb(action="revoke"))
    builder.adjust(2)
    return builder.as_markup()


def new_key_keyboard(t: Translator, prefix: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=t("key.btn_new"), callback_data=KeyCb(action="new", ref=prefix))
    return builder.as_markup()


def key_gate_keyboard(t: Translator, url: str | None) -> InlineKeyboardMarkup:
    """Subscribe (when the channel has a link) and "check again"."""
    builder = InlineKeyboardBuilder()
    if url is not None:
        builder.button(text=t("key.btn_subscribe"), url=url)
    builder.button(text=t("key.btn_check"), callback_data=KeyCb(action="check"))
    builder.adjust(1)
    return builder.as_markup()


def key_confirm_keyboard(
    t: Translator, yes_text: str, yes_action: str, prefix: str
) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=t(yes_text), callback_data=KeyCb(action=yes_action, ref=prefix))
    builder.button(text=t("key.btn_cancel"), callback_data=KeyCb(action="cancel"))
    builder.adjust(1)
    return builder.as_markup()


# -- chat ----------------------------------------------------------------------------------


class RetryCallback(CallbackData, prefix="chat-retry"):
    token: str


def retry_keyboard(t: Translator, token: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=t("chat.retry_button"), callback_data=RetryCallback(token=token))
    return builder.as_markup()


def private_chat_keyboard(t: Translator, bot_username: str) -> InlineKeyboardMarkup:
    """A link to the bot's private chat (under guest answers: only URL buttons make sense
    in a chat the bot is not a member of)."""
    builder = InlineKeyboardBuilder()
    builder.button(text=t("guest.continue"), url=f"https://t.me/{bot_username}")
    return builder.as_markup()


class PersonaCallback(CallbackData, prefix="prs"):
    key: str


def persona_keyboard(
    personas: tuple[Persona, ...], current: Persona, language: str | None
) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for persona in personas:
        mark = "✅ " if persona.key == current.key else ""
        builder.button(
            text=f"{mark}{persona.title(language)}", callback_data=PersonaCallback(key=persona.key)
        )
    builder.adjust(2)
    return builder.as_markup()


class HistoryCallback(CallbackData, prefix="hst"):
    thread: int


def history_keyboard(t: Translator, threads: list[int]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for number, thread in enumerate(threads, 1):
        builder.button(
            text=t("history.export_button", number=number),
            callback_data=HistoryCallback(thread=thread),
        )
    builder.adjust(5)
    return builder.as_markup()
