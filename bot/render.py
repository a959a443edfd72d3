"""Small formatting helpers shared by handlers (no aiogram types)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.texts import Translator


def duration(t: Translator, seconds: int) -> str:
    seconds = max(int(seconds), 0)
    hours, rest = divmod(seconds, 3600)
    minutes = max((rest + 59) // 60, 1) if hours == 0 else rest // 60
    if hours:
        return t("duration.hm", hours=hours, minutes=minutes)
    return t("duration.m", minutes=minutes)


def bar(used: int, limit: int, width: int = 10) -> str:
    if limit <= 0:
        return "▓" * width if limit == 0 else ""
    filled = min(width, int(width * used / limit + 0.5))
    return "▓" * filled + "░" * (width - filled)


def tier_name(t: Translator, tier: str) -> str:
    return t(f"tier.{tier}")


def utc_datetime(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")
