"""The /stats chart: the last 30 days of active users, requests per kind and Stars earned,
as one PNG.

matplotlib is imported inside :func:`draw` only: it costs tens of megabytes, and only an admin
asking for /stats pays for it (a test proves that importing the bot does not load it). Both
the month's queries and the drawing are blocking, so :func:`chart_png` runs them in a worker
thread (``asyncio.to_thread``) on a read-only connection of its own: the event loop, and the
users' updates on it, never wait for a scan or a render.
"""

from __future__ import annotations

import asyncio
import io
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.tiers import KINDS
from storage import admin as admin_repo
from storage.db import Database

DAYS = 30


@dataclass(frozen=True, slots=True)
class DailySeries:
    days: list[str]  # YYYY-MM-DD, oldest first, today last
    active_users: list[int]
    requests: dict[str, list[int]]  # kind -> one number per day
    stars: list[int]


def day_range(now: int, days: int = DAYS) -> list[str]:
    today = datetime.fromtimestamp(now, UTC).date()
    return [(today - timedelta(days=back)).isoformat() for back in range(days - 1, -1, -1)]


def _start(names: list[str]) -> int:
    return int(datetime.fromisoformat(names[0]).replace(tzinfo=UTC).timestamp())


def read_series(path: Path, now: int, days: int = DAYS) -> DailySeries:
    """The series from the database file at ``path`` (blocking: call it in a thread)."""
    names = day_range(now, days)
    raw = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
    try:
        raw.execute("PRAGMA query_only = ON")
        active = admin_repo.daily_active_users(raw, names[0])
        requests = admin_repo.daily_requests(raw, names[0])
        stars = admin_repo.daily_stars(raw, _start(names))
    finally:
        raw.close()
    return _series(names, active, requests, stars)


async def read_series_from(db: Database, now: int, days: int = DAYS) -> DailySeries:
    """The series from a server database (PostgreSQL): the same queries on pooled
    connections, the server does the scanning."""
    names = day_range(now, days)
    active = admin_repo.active_users_by_day(
        await db.read_off_loop(admin_repo.DAILY_ACTIVE_USERS, (names[0],))
    )
    requests = admin_repo.requests_by_day(
        await db.read_off_loop(admin_repo.DAILY_REQUESTS, (names[0],))
    )
    stars = admin_repo.stars_by_day(
        await db.read_off_loop(admin_repo.DAILY_STARS, ("XTR", _start(names)))
    )
    return _series(names, active, requests, stars)


def _series(
    names: list[str],
    active: dict[str, int],
    requests: dict[tuple[str, str], int],
    stars: dict[str, int],
) -> DailySeries:
    return DailySeries(
        days=names,
        active_users=[active.get(day, 0) for day in names],
        requests={kind: [requests.get((day, kind), 0) for day in names] for kind in KINDS},
        stars=[stars.get(day, 0) for day in names],
    )


def draw(series: DailySeries) -> bytes:
    """The PNG (blocking). Uses the Agg canvas directly: no pyplot, no global figure state,
    safe in a worker thread."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels = [day[5:] for day in series.days]  # MM-DD
    positions = list(range(len(labels)))
    figure = Figure(figsize=(10, 8), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    users_ax, requests_ax, stars_ax = figure.subplots(3, 1, sharex=True)

    users_ax.plot(positions, series.active_users, marker="o", color="#2a7ab9")
    users_ax.set_title("Active users per day")

    bottom = [0] * len(positions)
    for kind, values in series.requests.items():
        requests_ax.bar(positions, values, bottom=bottom, label=kind)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    requests_ax.set_title("Requests per day, by kind")
    requests_ax.legend(loc="upper left")

    stars_ax.bar(positions, series.stars, color="#e0a100")
    stars_ax.set_title("Stars earned per day")
    stars_ax.set_xticks(positions[::3], labels[::3], rotation=45)
    for ax in (users_ax, requests_ax, stars_ax):
        ax.set_ylim(bottom=0)
        ax.grid(axis="y", alpha=0.3)
    figure.suptitle(f"Last {len(positions)} days (UTC), {series.days[0]} to {series.days[-1]}")

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _render(path: Path, now: int) -> bytes:
    return draw(read_series(path, now))


async def chart_png(path: Path, now: int, db: Database | None = None) -> bytes:
    """The chart for the SQLite database at ``path`` (or for ``db`` when it is a server
    database), made off the event loop."""
    if db is not None and db.engine != "sqlite":
        series = await read_series_from(db, now)
        return await asyncio.to_thread(draw, series)
    return await asyncio.to_thread(_render, path, now)
