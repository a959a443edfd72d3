"""Time in one place, so tests can move it."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now() -> int:
    """Unix seconds."""
    return int(time.time())


def utc_day(ts: int | None = None) -> str:
    """The UTC day of ``ts`` as YYYY-MM-DD (quotas reset at 00:00 UTC)."""
    moment = datetime.fromtimestamp(now() if ts is None else ts, UTC)
    return moment.strftime("%Y-%m-%d")


def seconds_to_utc_midnight(ts: int | None = None) -> int:
    ts = now() if ts is None else ts
    return 86400 - ts % 86400
