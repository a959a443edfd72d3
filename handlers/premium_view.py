"""Rendering of premium screens, receipts and reminders, shared by handlers and background
jobs: texts only, no I/O (the keyboards are in handlers/keyboards.py)."""

from __future__ import annotations

from collections.abc import Mapping

from bot.render import duration, tier_name, utc_datetime
from bot.services.payments import CreditOutcome, TrialInfo
from bot.services.quota import TierState
from bot.texts import Raw, Translator
from bot.tiers import FREE, KINDS, PERIOD_DAYS, TIERS, TRIAL_HOURS, Limits
from storage.star_subscriptions import ACTIVE, FAILED, SubscriptionRow


def long_duration(t: Translator, seconds: int) -> str:
    """Days and hours for periods (a day or more), else hours and minutes."""
    seconds = max(int(seconds), 0)
    if seconds < 86400:
        return duration(t, seconds)
    days, rest = divmod(seconds, 86400)
    return t("duration.dh", days=days, hours=rest // 3600)


def _amount(t: Translator, value: int) -> str:
    return t("premium.unlimited") if value < 0 else str(value)


def daily_counts(t: Translator, limits: Limits) -> dict[str, str]:
    """Each kind's daily limit as shown: a number, or "unlimited"."""
    return {kind: _amount(t, limits.daily_limit(kind)) for kind in KINDS}


def limits_line(t: Translator, limits: Limits) -> str:
    return t("premium.limits", rate=_amount(t, limits.per_minute), **daily_counts(t, limits))


def renewal_line(t: Translator, subscription: SubscriptionRow, tier_expires: int | None) -> str:
    """ "Renews on …" for a plan that renews itself, else "ends on …" (and why)."""
    if subscription.state == ACTIVE:
        return t(
            "premium.sub_renews",
            date=utc_datetime(subscription.period_end),
            amount=subscription.amount,
        )
    ends = utc_datetime(tier_expires or subscription.period_end)
    if subscription.state == FAILED:
        return t("premium.sub_failed_ends", date=ends)
    return t("premium.sub_canceled_ends", date=ends)


def premium_text(
    t: Translator,
    *,
    state: TierState,
    trial: TrialInfo,
    limits: Mapping[str, Limits],
    prices: Mapping[str, int],
    trial_cooldown_days: int,
    subscription: SubscriptionRow | None = None,
) -> str:
    lines = [t("premium.title"), ""]
    for tier in TIERS:
        price = (
            t("premium.price_free")
            if tier == FREE
            else t("premium.price_stars", amount=prices[tier], days=PERIOD_DAYS)
        )
        lines.append(
            t(
                "premium.tier_line",
                name=tier_name(t, tier),
                price=price,
                limits=Raw(limits_line(t, limits[tier])),
            )
        )
    cooldown = t.plural("plural.days", trial_cooldown_days)
    lines.append(t("premium.trial_line", hours=TRIAL_HOURS, cooldown=cooldown))
    lines.append("")
    if state.expires_at is not None:
        lines.append(
            t(
                "premium.current_until",
                tier=tier_name(t, state.tier),
                expires=utc_datetime(state.expires_at),
            )
        )
    else:
        lines.append(t("premium.current", tier=tier_name(t, state.tier)))
    if subscription is not None:
        lines.append(renewal_line(t, subscription, state.expires_at))
    if trial.next_at is not None:
        lines.append(t("premium.trial_next", date=utc_datetime(trial.next_at)))
    lines.append("")
    lines.append(t("premium.rules"))
    lines.append(t("premium.sub_rules"))
    return "\n".join(lines)


def receipt_text(t: Translator, outcome: CreditOutcome) -> str:
    """The receipt for a credited payment (again on a repeated delivery)."""
    if outcome.status == "unmatched":
        return t("premium.unmatched", amount=outcome.amount, charge_id=outcome.charge_id)
    if outcome.status == "refunded":
        return t("premium.payment_refunded", charge_id=outcome.charge_id)
    active_tier = outcome.active_tier or outcome.tier
    lines = [
        t(
            "premium.receipt",
            tier=tier_name(t, active_tier),
            expires=utc_datetime(outcome.expires_at) if outcome.expires_at else "—",
            amount=outcome.amount,
            days=outcome.days,
            bought=tier_name(t, outcome.tier),
            charge_id=outcome.charge_id,
        )
    ]
    if outcome.recurring and outcome.period_end is not None:
        lines.append(
            t(
                "premium.receipt_plan",
                tier=tier_name(t, outcome.tier),
                date=utc_datetime(outcome.period_end),
            )
        )
    if outcome.bonus_seconds > 0:
        bonus = long_duration(t, outcome.bonus_seconds)
        if active_tier == outcome.tier:
            lines.append(t("premium.receipt_bonus", bonus=bonus))
        else:
            held = tier_name(t, active_tier)
            lines.append(t("premium.receipt_converted", tier=held, bonus=bonus))
    return "\n".join(lines)
