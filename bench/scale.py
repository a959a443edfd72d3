"""``python -m bench.scale``: the storage at 10k / 100k / 1M users.

For each size it builds a database with the project's migrations and a synthetic population
(10 % key holders, 3 % paid tiers, 30 % with a conversation of 12 messages, 30 days of daily
usage for 10 % of the users a day, a few unpaid invoices), then reports:

* the file size per user;
* **before**: at schema version 3 (no indexes of migration 4, no statistics), the heavy
  statements as the bot ran them until then, timed on the calling thread (= the event loop);
* **after**: migration 4 applied and statistics taken, the per-user paths, the background
  queries and /stats through the repositories, each with the longest time the event loop was
  held (``loop_max_ms``: a statement that runs off the loop holds it for ~0);
* **load** (``--load``): the bot as a process (``python -m bot``) on that database, against
  the fake Bot API, chatting at ``--rate`` messages/s for ``--duration`` s while an admin sends
  /stats every 2 s: chat first-reply p50/p95/p99 and /stats answer times. With
  ``--before-root`` (a checkout of the previous version) the same load runs on it first, on
  the database still at schema 3.

Sizes default to 10k and 100k (a minute or two); ``--sizes 10000,100000,1000000`` adds the
million (about ten minutes, 1.3 GB of disk). Results go to ``bench/results/<label>.json``,
and a Markdown table to stdout. Figures are noisy on a shared machine: compare within a run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
FIRST_USER = 10_000_001  # the ids bench.run's simulated users have
DAY = 86400
HISTORY = 12  # messages per conversation
# The last schema without the indexes (migration 4): "before" is measured on it.
BEFORE_SCHEMA = 3
_WORDS = tuple(
    "the bot answers every question about lighthouses rivers mountains code poems recipes "  # noqa: SIM905
    "history physics music travel gardens with care and humour while users ask more".split(" ")
)


# ------------------------------------------------------------------------------------ build
Row = tuple[int | str | None, ...]  # the parameters of one INSERT
# user_tiers: user_id, tier, expires_at, source, trial_taken_at, reminded_at, updated_at
TierRow = tuple[int, str, int, str, int | None, None, int]


def _text(rng: random.Random) -> str:
    return " ".join(rng.choices(_WORDS, k=rng.randint(8, 60)))


def build(path: Path, users: int, now: int, *, schema: int, seed: int = 7) -> dict[str, int]:
    """A database of ``users`` users at ``schema`` (the project's migrations), filled with
    ``executemany`` in one transaction per table."""
    from storage import sqlite as async_sqlite
    from storage.migrations import migrate

    async def make_schema() -> None:
        conn = await async_sqlite.connect(path)
        await conn.execute("PRAGMA journal_mode = WAL")
        await migrate(conn, target=schema)
        await conn.close()

    asyncio.run(make_schema())
    rng = random.Random(seed)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    counts: dict[str, int] = {}

    def fill(table: str, sql: str, rows: Iterable[Row]) -> None:
        conn.execute("BEGIN")
        cursor = conn.executemany(sql, rows)
        conn.execute("COMMIT")
        counts[table] = counts.get(table, 0) + cursor.rowcount

    ids = range(FIRST_USER, FIRST_USER + users)
    fill(
        "users",
        "INSERT INTO users (id, username, first_name, language_code, is_banned, blocked_bot, "
        "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            (
                uid,
                f"u{uid}",
                f"User{uid}",
                "en" if uid % 3 else "ru",
                int(rng.random() < 0.005 and uid >= FIRST_USER + 1000),  # not bench.run's users
                int(rng.random() < 0.03),
                now - rng.randint(0, 365 * DAY),
                now,
            )
            for uid in ids
        ),
    )
    paid = rng.sample(ids, users * 3 // 100)
    trials = rng.sample(ids, users * 5 // 100)
    tier_rows: dict[int, TierRow] = {}
    for uid in trials:
        at = now - rng.randint(2 * DAY, 200 * DAY)
        tier_rows[uid] = (uid, "tier1", at + DAY, "trial", at, None, at)
    for uid in paid:
        tier = "tier1" if rng.random() < 0.66 else "tier2"
        tier_rows[uid] = (
            uid,
            tier,
            now + rng.randint(-20 * DAY, 30 * DAY),
            "payment",
            None,
            None,
            now,
        )
    fill(
        "user_tiers",
        "INSERT INTO user_tiers (user_id, tier, expires_at, source, trial_taken_at, reminded_at, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        tier_rows.values(),
    )

    def payment_rows() -> Iterator[Row]:
        for n, uid in enumerate(paid):
            tier = tier_rows[uid][1]
            payload = f"v1:{uid}:{tier}:n{n:08x}"
            at = now - rng.randint(0, 60 * DAY)
            yield (f"c{n}", f"p{n}", uid, tier, 30, 500, "XTR", payload, "credited", at, at, None)

    invoices = [
        (f"n{n:08x}", uid, tier_rows[uid][1], 30, 500, "XTR", now - rng.randint(0, 60 * DAY))
        for n, uid in enumerate(paid)
    ]
    invoices += [
        (f"u{n:08x}", uid, "tier1", 30, 500, "XTR", now - rng.randint(0, 180 * DAY))
        for n, uid in enumerate(rng.sample(ids, users * 2 // 100))
    ]
    fill(
        "payments",
        "INSERT INTO payments (charge_id, provider_charge_id, user_id, tier, days, amount, "
        "currency, payload, status, created_at, credited_at, refunded_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        payment_rows(),
    )
    fill(
        "invoices",
        "INSERT INTO invoices (nonce, user_id, tier, days, amount, currency, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        invoices,
    )

    def key_rows() -> Iterator[Row]:
        for uid in sorted(rng.sample(ids, users // 10)):
            roll = rng.random()
            active, reason = (
                (1, None) if roll < 0.85 else (0, "left_channel") if roll < 0.95 else (0, "revoked")
            )
            yield (
                uid,
                hashlib.sha256(str(uid).encode()).hexdigest(),
                f"sk-{uid % 10000:04d}",
                active,
                reason,
                now - rng.randint(0, 300 * DAY),
                now - rng.randint(0, 3 * DAY),
                now - rng.randint(0, 6 * 3600),
            )

    fill(
        "api_keys",
        "INSERT INTO api_keys (user_id, key_hash, prefix, is_active, inactive_reason, created_at, "
        "last_used_at, checked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        key_rows(),
    )

    def usage_rows() -> Iterator[Row]:
        for back in range(30):
            day = time.strftime("%Y-%m-%d", time.gmtime(now - back * DAY))
            for uid in sorted(rng.sample(ids, users // 10)):
                yield (uid, day, "chat", rng.randint(1, 20))
                if uid % 5 == 0:
                    yield (uid, day, "image", rng.randint(1, 5))

    fill(
        "usage_daily",
        "INSERT OR IGNORE INTO usage_daily (user_id, day, kind, used) VALUES (?, ?, ?, ?)",
        usage_rows(),
    )

    def message_rows() -> Iterator[Row]:
        for uid in sorted(rng.sample(ids, users * 3 // 10)):
            last = now - rng.randint(0, 200 * DAY)
            for k in range(HISTORY):
                role = "user" if k % 2 == 0 else "assistant"
                yield (uid, role, _text(rng), None, last - (HISTORY - k) * 60)

    fill(
        "messages",
        "INSERT INTO messages (scope, role, content, model, created_at) VALUES (?, ?, ?, ?, ?)",
        message_rows(),
    )
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return counts


# ---------------------------------------------------------------------------------- measure
class LoopWatch:
    """The longest the event loop went without running this ticker (1 ms sleeps)."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(0.001)
            now = loop.time()
            self.worst = max(self.worst, now - last - 0.001)
            last = now

    async def __aenter__(self) -> LoopWatch:
        self._task = asyncio.create_task(self._tick())
        await asyncio.sleep(0.005)
        self.worst = 0.0
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.sleep(0.003)
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def _stats_ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 3),
        "max_ms": round(ordered[-1] * 1000, 3),
    }


async def timed(repeat: int, op: Callable[[int], Awaitable[object]]) -> dict[str, Any]:
    """Run ``op(i)`` ``repeat`` times; wall time and the loop's longest stall."""
    await op(-1)  # warm the cache: the figures are for a database in use
    times: list[float] = []
    async with LoopWatch() as watch:
        for i in range(repeat):
            started = time.perf_counter()
            await op(i)
            times.append(time.perf_counter() - started)
    return {**_stats_ms(times), "loop_max_ms": round(watch.worst * 1000, 3), "n": repeat}


LEGACY = {
    # The heavy statements as the bot ran them before the indexes, all on the event loop.
    "stats_usage_today": (
        "SELECT kind, SUM(used) FROM usage_daily WHERE day = ? GROUP BY kind",
        "day",
    ),
    "stats_count_users": (
        "SELECT COUNT(*), COALESCE(SUM(is_banned), 0), COALESCE(SUM(blocked_bot), 0) FROM users",
        None,
    ),
    "reminder_query": (
        """SELECT t.user_id FROM user_tiers AS t JOIN users AS u ON u.id = t.user_id
        WHERE t.tier != 'free' AND t.source != 'trial' AND t.reminded_at IS NULL
          AND t.expires_at IS NOT NULL AND t.expires_at > ? AND t.expires_at <= ?
          AND u.is_banned = 0 AND u.blocked_bot = 0 ORDER BY t.expires_at LIMIT 500""",
        "window",
    ),
    "broadcast_count_remaining": (
        "SELECT COUNT(*) FROM users WHERE id > ? AND is_banned = 0 AND blocked_bot = 0",
        "zero",
    ),
    "recheck_oldest_check": (
        "SELECT MIN(COALESCE(checked_at, 0)) FROM api_keys "
        "WHERE is_active = 1 OR inactive_reason = ?",
        "left",
    ),
    "recheck_due_batch": (
        "SELECT user_id FROM api_keys WHERE user_id > ? AND (is_active = 1 OR inactive_reason = ?) "
        "AND (checked_at IS NULL OR checked_at <= ?) ORDER BY user_id LIMIT 100",
        "due",
    ),
}


def measure_legacy(path: Path, now: int, repeat: int) -> dict[str, Any]:
    conn = sqlite3.connect(path, isolation_level=None)
    day = time.strftime("%Y-%m-%d", time.gmtime(now))
    params = {
        None: (),
        "day": (day,),
        "window": (now, now + DAY),
        "zero": (0,),
        "left": ("left_channel",),
        "due": (0, "left_channel", now - 6 * 3600),
    }
    out: dict[str, Any] = {}
    for name, (sql, kind) in LEGACY.items():
        conn.execute(sql, params[kind]).fetchall()
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            conn.execute(sql, params[kind]).fetchall()
            times.append(time.perf_counter() - started)
        out[name] = {**_stats_ms(times), "loop_max_ms": _stats_ms(times)["max_ms"], "n": repeat}
    conn.close()
    return out


async def measure_after(path: Path, users: int, now: int, repeat: int) -> dict[str, Any]:
    from bot.services.admin import AdminService
    from storage import admin as admin_repo
    from storage import broadcasts, chat, keys, retention, tiers, usage
    from storage import users as users_repo
    from storage.db import Database

    db = await Database(path, maintenance=False).connect()
    assert db.off_loop is not None
    await db.off_loop.analyze()
    rng = random.Random(11)
    day = time.strftime("%Y-%m-%d", time.gmtime(now))

    def uid() -> int:
        return FIRST_USER + rng.randrange(users)

    async def usage_cmd(_: int) -> None:
        user = uid()
        async with db.snapshot() as conn:
            await tiers.get(conn, user)
            await usage.used_on(conn, user_id=user, day=day)
            await admin_repo.key_status(conn, user)

    async def chat_turn(_: int) -> None:
        user = uid()
        async with db.autocommit() as conn:
            await users_repo.upsert(
                conn,
                user_id=user,
                username=None,
                first_name="U",
                last_name=None,
                language_code="en",
                now=now,
            )
        async with db.transaction() as conn:
            await usage.spend(conn, user_id=user, day=day, kind="chat", limit=1000)
            hold = await usage.hold(
                conn, user_id=user, chat_id=user, day=day, kind="chat", amount=1, now=now
            )
        async with db.snapshot() as conn:
            await chat.recent(conn, user, 20)
        async with db.transaction() as conn:
            await chat.append(conn, user, "user", "hello there", model=None, now=now)
            await chat.append(conn, user, "assistant", "Sure: hello", model="m", now=now)
            await chat.prune(conn, user, 20)
            await usage.release(conn, hold)

    async def quota_spend(_: int) -> None:
        async with db.autocommit() as conn:
            await usage.spend(conn, user_id=uid(), day=day, kind="chat", limit=1000)

    async def key_lookup(_: int) -> None:
        await keys.find_by_hash(db, hashlib.sha256(str(uid()).encode()).hexdigest())

    admin = AdminService(db)

    async def stats(_: int) -> None:
        await admin.stats(now=now)

    async def broadcast_page(_: int) -> None:
        async with db.snapshot() as conn:
            await broadcasts.next_recipients(conn, after=uid(), limit=200)

    async def broadcast_total(_: int) -> None:
        await broadcasts.count_remaining_off_loop(db, after=0)

    async def reminder(_: int) -> None:
        async with db.snapshot() as conn:
            await tiers.due_reminders(conn, now=now, within=DAY)

    async def recheck_due(_: int) -> None:
        async with db.snapshot() as conn:
            await keys.oldest_due(conn, checked_before=now - 6 * 3600 + 3600, limit=100)

    async def recheck_oldest(_: int) -> None:
        async with db.snapshot() as conn:
            await keys.oldest_check(conn)

    async def recheck_count(_: int) -> None:
        await db.read_off_loop(keys.COUNT_FOLLOWING)

    pages = {"after": retention.FIRST}

    async def retention_page(_: int) -> None:
        page = await retention.idle_conversations(
            db, after=pages["after"], before=now - 90 * DAY, limit=500
        )
        pages["after"] = page.next_after or retention.FIRST

    old_day = time.strftime("%Y-%m-%d", time.gmtime(now - 25 * DAY))

    async def retention_usage_batch(_: int) -> None:
        await retention.delete_usage_before(db, day=old_day, limit=500)

    async def checkpoint(_: int) -> None:
        assert db.off_loop is not None
        await db.off_loop.checkpoint()

    light, heavy = repeat * 10, repeat
    ops: dict[str, tuple[int, Callable[[int], Awaitable[object]]]] = {
        "usage_command": (light, usage_cmd),
        "chat_turn_storage": (light, chat_turn),
        "quota_spend": (light, quota_spend),
        "key_lookup": (light, key_lookup),
        "stats": (heavy, stats),
        "broadcast_page": (light, broadcast_page),
        "broadcast_total_once": (heavy, broadcast_total),
        "reminder_query": (light, reminder),
        "recheck_due_batch": (light, recheck_due),
        "recheck_oldest_check": (light, recheck_oldest),
        "recheck_count_at_start": (heavy, recheck_count),
        "retention_idle_page": (light, retention_page),
        "retention_usage_batch": (heavy, retention_usage_batch),
        "wal_checkpoint": (heavy, checkpoint),
    }
    out: dict[str, Any] = {}
    for name, (n, op) in ops.items():
        out[name] = await timed(n, op)
    plans = {}
    for label, sql in (
        (
            "usage_today",
            "SELECT kind, SUM(used) FROM usage_daily WHERE day = '2026-01-01' GROUP BY kind",
        ),
        (
            "reminders",
            "SELECT t.user_id FROM user_tiers AS t JOIN users AS u ON u.id = t.user_id "
            "WHERE t.tier != 'free' AND t.source != 'trial' AND t.reminded_at IS NULL "
            "AND t.expires_at IS NOT NULL AND t.expires_at > 1 AND t.expires_at <= 2 "
            "AND u.is_banned = 0 AND u.blocked_bot = 0 ORDER BY t.expires_at LIMIT 500",
        ),
        (
            "recheck_due",
            "SELECT user_id FROM api_keys WHERE (is_active = 1 OR inactive_reason = "
            "'left_channel') AND checked_at <= 5 ORDER BY checked_at LIMIT 100",
        ),
        ("stats_users", "SELECT COUNT(*), SUM(is_banned), SUM(blocked_bot) FROM users"),
        ("stats_keys", "SELECT COUNT(*) FROM api_keys WHERE is_active = 1"),
        (
            "broadcast_page",
            "SELECT id FROM users WHERE id > 5 AND is_banned = 0 AND blocked_bot = 0 "
            "ORDER BY id LIMIT 200",
        ),
        (
            "paid_payload",
            "SELECT 1 FROM payments WHERE payload = 'x' AND status != 'refunded' LIMIT 1",
        ),
    ):
        rows = await db.fetchall("EXPLAIN QUERY PLAN " + sql)
        plans[label] = " / ".join(str(r[3]) for r in rows)
    out["plans"] = plans
    await db.close()
    return out


# ------------------------------------------------------------------------------------- load
def _count(path: Path, table: str) -> int:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


async def run_load(
    db_path: Path, root: Path, args: argparse.Namespace, users: int
) -> dict[str, Any]:
    """The bot process on ``db_path`` (code from ``root``): chat at ``args.rate``/s while an
    admin sends /stats every 2 s."""
    from bench.load import Tracker, percentiles, summarize
    from bench.run import CASES, Bench, BenchProcess
    from bench.run import parse_args as bench_args
    from tests.e2e_helpers import bot_env

    admin = FIRST_USER + users - 1
    extra = [f"--env={item}" for item in args.bot_env]
    bench = Bench(bench_args(["--cases", "chat", "--users", "200", "--no-floor", *extra]))
    chat = CASES["chat"]
    async with bench.api, bench.upstream:
        assert chat.setup is not None
        chat.setup(bench.upstream)
        work = db_path.parent / "proc"
        work.mkdir(exist_ok=True)
        env = bot_env(
            bench.api.url,
            work,
            "777888:BENCHtoken-benchTOKEN_benchtokenBENCH12",
            **bench.bot_settings(),
        )
        env.update(DATABASE_PATH=str(db_path), ADMIN_IDS=str(admin))
        messages_before = _count(db_path, "messages")
        proc = BenchProcess("bot", env, work, root=root, api=bench.api)
        await proc.start()
        try:
            await proc.wait_for_log("Run polling", timeout=180)
            await asyncio.sleep(1.0)
            await bench.warmup(proc, chat)
            tracker = Tracker(chat.terminal)
            bench.api.tracker = tracker
            stop = asyncio.Event()

            async def admin_stats() -> None:
                while not stop.is_set():
                    bench.api.push_tracked(bench.api.text_update(admin, "/stats"), admin)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 2.0)

            count = int(args.rate * args.duration)
            loop = asyncio.get_running_loop()
            admin_task = asyncio.create_task(admin_stats())
            started = time.monotonic()
            origin = loop.time()
            for i in range(count):
                delay = origin + i / args.rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                user = bench.users[i % len(bench.users)]
                bench.api.push_tracked(bench.api.text_update(user, chat.text(user, i)), user)
            stop.set()
            await admin_task
            complete = await tracker.wait(120)
            retention = [line for line in proc.stderr_lines if "retention (" in line]
            stats_items = [t for t in tracker.items.values() if t.chat_id == admin]
            for item in stats_items:
                del tracker.items[item.update_id]
            tracker.finished -= sum(1 for t in stats_items if t.done is not None)
            result = summarize("chat+stats", tracker, started, chat.classify)
            answer_times = [
                t.done - t.delivered
                for t in stats_items
                if t.done is not None and t.delivered is not None
            ]
            slow = [line for line in proc.stderr_lines if "slow statement" in line]
            return {
                "complete": complete,
                "rate": args.rate,
                "duration_s": args.duration,
                "chat": result.as_dict(),
                "stats_sent": len(stats_items),
                "stats_answered": len(answer_times),
                "stats_answer_ms": percentiles(answer_times),
                "slow_statement_lines": len(slow),
                "slow_statement_examples": slow[:5],
                "retention_lines": retention[:3],
                "messages_before": messages_before,
                "messages_after": _count(db_path, "messages"),
            }
        finally:
            await proc.stop()


# ------------------------------------------------------------------------------------ main
async def one_size(users: int, args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    from storage import sqlite as async_sqlite
    from storage.migrations import migrate

    folder = scratch / f"u{users}"
    folder.mkdir()
    path = folder / "bot.sqlite3"
    now = int(time.time())
    print(f"[{users}] building", file=sys.stderr, flush=True)
    started = time.perf_counter()
    counts = await asyncio.to_thread(build, path, users, now, schema=BEFORE_SCHEMA)
    out: dict[str, Any] = {
        "users": users,
        "rows": counts,
        "build_s": round(time.perf_counter() - started, 1),
        "bytes_before": path.stat().st_size,
    }
    print(f"[{users}] before (schema {BEFORE_SCHEMA})", file=sys.stderr, flush=True)
    out["before"] = await asyncio.to_thread(measure_legacy, path, now, args.repeat)
    if args.load and args.before_root is not None:
        print(f"[{users}] load on the previous version", file=sys.stderr, flush=True)
        out["load_before"] = await run_load(path, args.before_root, args, users)
    conn = await async_sqlite.connect(path)
    started = time.perf_counter()
    await migrate(conn)
    await conn.close()
    out["migrate_to_latest_s"] = round(time.perf_counter() - started, 2)
    print(f"[{users}] after (latest schema)", file=sys.stderr, flush=True)
    out["after"] = await measure_after(path, users, now, args.repeat)
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw.close()
    out["bytes"] = path.stat().st_size
    out["bytes_per_user"] = round(out["bytes"] / users)
    with contextlib.closing(sqlite3.connect(path)) as raw:
        try:  # tables and their indexes, bytes per user (SQLite's dbstat, where compiled in)
            sizes = raw.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
            out["bytes_per_user_by_object"] = {
                name: round(size / users, 1)
                for name, size in sorted(sizes, key=lambda r: -r[1])
                if size / users >= 0.5
            }
        except sqlite3.OperationalError:
            pass
    if args.load:
        print(f"[{users}] load", file=sys.stderr, flush=True)
        out["load"] = await run_load(path, ROOT, args, users)
    return out


def markdown(results: dict[str, Any]) -> str:
    sizes = results["sizes"]
    head = (
        "| ms (median / max; loop = longest event-loop hold) | "
        + " | ".join(f"{s['users']:,} users" for s in sizes)
        + " |"
    )
    lines = [head, "|---" * (len(sizes) + 1) + "|"]
    lines.append(
        "| DB bytes per user | " + " | ".join(str(s["bytes_per_user"]) for s in sizes) + " |"
    )
    names = list(sizes[0]["after"])
    names.remove("plans")
    for name in names:
        cells = []
        for s in sizes:
            r = s["after"][name]
            cells.append(f"{r['median_ms']:.2f} / {r['max_ms']:.2f}; loop {r['loop_max_ms']:.1f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for name in LEGACY:
        cells = [
            f"{s['before'][name]['median_ms']:.2f} / {s['before'][name]['max_ms']:.2f}"
            for s in sizes
        ]
        lines.append(f"| before: {name} (on the loop) | " + " | ".join(cells) + " |")
    for key, label in (("load_before", "before"), ("load", "after")):
        if any(key in s for s in sizes):
            cells = []
            for s in sizes:
                load = s.get(key)
                if not load:
                    cells.append("-")
                    continue
                p = load["chat"].get("first_reply_ms") or {}
                st = load.get("stats_answer_ms") or {}
                cells.append(
                    f"chat p50 {p.get('p50')} p95 {p.get('p95')} p99 {p.get('p99')}; "
                    f"/stats {load['stats_answered']}/{load['stats_sent']} answered, "
                    f"p50 {st.get('p50')}"
                )
            lines.append(
                f"| load {label}: {results['meta']['rate']:g} msg/s + /stats every 2 s | "
                + " | ".join(cells)
                + " |"
            )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--sizes", default="10000,100000", help="user counts (10000,100000)")
    parser.add_argument(
        "--repeat", type=int, default=10, help="runs of each heavy query (10; light: x10)"
    )
    parser.add_argument("--load", action="store_true", help="also run the bot process under load")
    parser.add_argument("--rate", type=float, default=50.0, help="chat messages/s in the load (50)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load (20)")
    parser.add_argument(
        "--before-root", type=Path, default=None, help="a checkout of the previous version"
    )
    parser.add_argument(
        "--bot-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra setting of the bot in the load (RETENTION_DAYS=0: retention off)",
    )
    parser.add_argument("--scratch", type=Path, default=None, help="where to build (a temp dir)")
    parser.add_argument("--label", default=None, help="results file name (default: a timestamp)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if any(s < 1000 for s in args.sizes):
        parser.error("--sizes: at least 1000 users each")
    args.label = args.label or time.strftime("scale-%Y%m%d-%H%M%S")
    return args


async def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {
        "meta": {
            "sizes": args.sizes,
            "rate": args.rate,
            "duration_s": args.duration,
            "repeat": args.repeat,
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "cpus": os.cpu_count(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        },
        "sizes": [],
    }
    with tempfile.TemporaryDirectory(prefix="scale-", dir=args.scratch) as scratch:
        for users in args.sizes:
            results["sizes"].append(await one_size(users, args, Path(scratch)))
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = asyncio.run(run(args))
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / f"{args.label}.json"
    target.write_text(json.dumps(results, indent=2) + "\n")
    print(markdown(results))
    print(f"\nresults: {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
