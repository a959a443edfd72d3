"""``python -m bench``: the bot as a process, driven by simulated users, next to an echo floor.

Everything runs on 127.0.0.1: the fake Bot API and the fake upstreams live in this process,
the bot (``python -m bot``) and the floor (``python -m bench.echo_bot``, a bare aiogram echo
bot) are child processes started one after the other, so they never share the CPU.

For each process and case there are two loads (see :mod:`bench.load` for what is measured):

* **burst** - every user sends ``--burst`` messages at once: throughput (updates/s);
* **steady** - an open-loop rate of ``--rate`` updates/s over all users for ``--duration``
  seconds: latency (p50/p95/p99 from delivery to the first reply call).

Cases: ``chat`` (an instant upstream), ``image`` (``/image``), ``stream`` (a slow upstream,
50 tokens/s, 400 tokens; every user asks once, at the steady rate: time to first visible
text), ``start`` (``/start``, no upstream: the bot's own per-update cost).

Measurement starts after start-up (importing aiogram costs seconds of CPU) and a warm-up
round. Peak RSS is ``VmHWM`` of the child. Results: ``bench/results/<label>.json`` and a
Markdown summary on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.fakes import BenchUpstream
from bench.load import (
    BenchAPI,
    LoadResult,
    Terminal,
    Texts,
    Tracked,
    Tracker,
    run_burst,
    run_steady,
    summarize,
    terminal_send_message,
)
from bench.procstat import CpuWindow, DriverPauses, peak_rss_mb, rss_mb
from tests.e2e_helpers import Process, bot_env
from tests.fakes.bot_api import Call

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
TOKEN = "777888:BENCHtoken-benchTOKEN_benchtokenBENCH12"
FIRST_USER = 10_000_001
ANSWER_PREFIX = "Sure:"
STREAM_TOKENS = 400
STREAM_TOKENS_PER_S = 50.0
# What the bot must keep (make bench checks them): chat burst throughput against the echo
# floor, and the first reply's p99 at the steady rate.
BURST_TARGET = 0.4
P99_TARGET_MS = 50


class BenchProcess(Process):
    """``python -m <module>`` from ``root`` (another checkout, for before/after numbers),
    optionally under cProfile (stats written to ``profile`` when the process exits)."""

    def __init__(
        self,
        module: str,
        env: dict[str, str],
        cwd: Path,
        *,
        root: Path = ROOT,
        profile: Path | None = None,
        api: BenchAPI,
    ) -> None:
        super().__init__(module, env, cwd)
        self.root = root
        self.profile = profile
        self.api = api  # the fake Bot API this process polls
        self.start_rss: float | None = None  # MB, once it is ready

    async def start(self) -> BenchProcess:
        module, env = self.module, dict(self.env)
        if self.profile is not None:
            module, env["BENCH_PROFILE"] = "bench.profiled_bot", str(self.profile)
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            cwd=self.cwd,
            env={**env, "PYTHONPATH": os.pathsep.join(dict.fromkeys((str(self.root), str(ROOT))))},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read())
        return self


@dataclass
class Case:
    name: str
    text: Texts
    terminal: Terminal
    classify: Callable[[Tracked], str]
    loads: tuple[str, ...] = ("burst", "steady")
    setup: Callable[[BenchUpstream], None] | None = None
    warmup: int = 50  # updates before measuring (one per user)


def _snippet(text: str | None) -> str:
    text = (text or "").replace("\n", " ")
    return text[:40]


def _chat_reply(body: dict[str, Any]) -> str:
    messages = body.get("messages") or [{}]
    last = messages[-1].get("content", "")
    if isinstance(last, list):  # vision-style content parts
        last = " ".join(str(part.get("text", "")) for part in last if isinstance(part, dict))
    return f"{ANSWER_PREFIX} {last}"


# A rich answer: text, a table and a formula (sent with sendRichMessage).
RICH_TAIL = "\n\n| n | square |\n|---|---:|\n| 2 | $2^2 = 4$ |\n| 3 | 9 |"


def _rich_reply(body: dict[str, Any]) -> str:
    return _chat_reply(body) + RICH_TAIL


def _instant_rich(upstream: BenchUpstream) -> None:
    _instant(upstream)
    upstream.reply = _rich_reply


def terminal_answer(call: Call) -> bool:
    return call.method in ("sendMessage", "sendRichMessage")


def _instant(upstream: BenchUpstream) -> None:
    upstream.stream_tokens = None
    upstream.chunk_delay = 0.0
    upstream.reply = _chat_reply


def _slow_stream(upstream: BenchUpstream) -> None:
    upstream.stream_tokens = [f"w{i} " for i in range(STREAM_TOKENS)]
    upstream.chunk_delay = 1.0 / STREAM_TOKENS_PER_S
    upstream.reply = _chat_reply  # for a non-streaming request, should one be made


def _answered(prefix: str) -> Callable[[Tracked], str]:
    def classify(item: Tracked) -> str:
        text = item.done_text or ""
        if item.done_method in ("sendPhoto", "sendAnimation", "sendDocument"):
            return item.done_method
        return "answer" if text.startswith(prefix) else f"other: {_snippet(text)}"

    return classify


def _stream_answer(item: Tracked) -> str:
    text = item.done_text or ""
    return "answer" if text.startswith("w0 ") else f"other: {_snippet(text)}"


def _image_terminal(call: Call) -> bool:
    if call.method in ("sendPhoto", "sendDocument"):
        return True
    # A queue notice ("queued, position N") is not the end of the request.
    return call.method == "sendMessage" and not _is_queue_notice(call.params.get("text") or "")


_QUEUE_NOTICE_MARKERS: tuple[str, ...] = ()


def _is_queue_notice(text: str) -> bool:
    return any(marker in text for marker in _QUEUE_NOTICE_MARKERS)


def _load_queue_notice_markers() -> None:
    """The queued-notice text of the images feature, as sent (if the feature exists)."""
    global _QUEUE_NOTICE_MARKERS
    try:
        from bot.texts import Translator

        markers = []
        for lang in ("en", "ru"):
            text = Translator.for_code(lang)("images.queued", position=987654)
            markers.append(text.split("987654")[0][:30])
        _QUEUE_NOTICE_MARKERS = tuple(m for m in markers if m)
    except Exception:  # the images feature is not there: no notices to skip
        _QUEUE_NOTICE_MARKERS = ()


GATEWAY = "gateway"
SCALE = "scale"
DEFAULT_CASES = "chat,image,stream,gateway,scale"

CASES: dict[str, Case] = {
    "start": Case(
        "start",
        text=lambda user, n: "/start",
        terminal=terminal_send_message,
        classify=lambda item: "answer" if item.done_text else "other",
    ),
    "chat": Case(
        "chat",
        text=lambda user, n: f"hello {n} from {user}",
        terminal=terminal_send_message,
        classify=_answered(ANSWER_PREFIX),
        setup=_instant,
    ),
    # chat whose every answer is a rich message (a table and a formula)
    "rich": Case(
        "rich",
        text=lambda user, n: f"hello {n} from {user}",
        terminal=terminal_answer,
        classify=_answered(ANSWER_PREFIX),
        setup=_instant_rich,
    ),
    "image": Case(
        "image",
        text=lambda user, n: f"/image a lighthouse at dusk number {n}",
        terminal=_image_terminal,
        classify=_answered("\x00"),
        setup=_instant,
    ),
    "stream": Case(
        "stream",
        text=lambda user, n: f"tell me a long story {n}",
        terminal=terminal_send_message,
        classify=_stream_answer,
        loads=("steady",),
        setup=_slow_stream,
        warmup=0,
    ),
}
ECHO = Case(
    "echo",
    text=lambda user, n: f"echo {n} from {user}",
    terminal=terminal_send_message,
    classify=lambda item: "answer" if (item.done_text or "").startswith("echo") else "other",
)


# ------------------------------------------------------------------------------------ setup
_MIGRATE = (
    "import asyncio, sys\n"
    "from storage.db import Database\n"
    "async def main():\n"
    "    db = Database(sys.argv[1])\n"
    "    await db.connect()\n"
    "    await db.close()\n"
    "asyncio.run(main())\n"
)


async def seed_users_async(path: Path, count: int, root: Path = ROOT) -> None:
    """Create the schema with the migrations of the bot under test (``root``), then add
    ``count`` known users."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _MIGRATE,
        str(path),
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    if await proc.wait() != 0:
        raise RuntimeError("could not create the database schema")
    now = int(time.time())
    rows = [(FIRST_USER + i, f"user{i}", f"User{FIRST_USER + i}", now, now) for i in range(count)]

    def insert() -> None:
        conn = sqlite3.connect(path)
        try:
            with conn:
                conn.executemany(
                    "INSERT OR IGNORE INTO users (id, username, first_name, language_code, "
                    "created_at, updated_at) VALUES (?, ?, ?, 'en', ?, ?)",
                    rows,
                )
        finally:
            conn.close()

    await asyncio.to_thread(insert)


# -------------------------------------------------------------------------------- measuring
class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.users = [FIRST_USER + i for i in range(args.users)]
        self.api = BenchAPI(TOKEN, lean=args.lean_fake)  # the bot's
        self.floor_api = BenchAPI(TOKEN, lean=args.lean_fake)  # the echo floor's
        self.upstream = BenchUpstream()

    def _settle(self) -> None:
        for api in (self.api, self.floor_api):
            api.tracker = None
            api.calls.clear()
            api.messages.clear()
        self.upstream.requests.clear()

    async def warmup(self, proc: BenchProcess, case: Case) -> None:
        if case.warmup <= 0:
            return
        tracker = Tracker(case.terminal)
        users = self.users[: case.warmup]
        await run_burst(proc.api, tracker, users, 1, case.text, timeout=60)
        self._settle()
        await asyncio.sleep(0.5)

    async def measure(self, proc: BenchProcess, case: Case, load: str) -> LoadResult:
        args = self.args
        tracker = Tracker(case.terminal)
        assert proc.proc is not None
        pauses = DriverPauses().start()
        cpu = CpuWindow(proc.proc.pid).start()
        profiling = proc.profile is not None
        if profiling:
            proc.proc.send_signal(signal.SIGUSR1)
        if load == "burst":
            count = len(self.users) * args.burst
            started, complete = await run_burst(
                proc.api, tracker, self.users, args.burst, case.text, timeout=args.timeout
            )
        elif case.name == "stream":
            count = len(self.users)
            started, complete = await run_steady(
                proc.api,
                tracker,
                self.users,
                args.rate,
                count,
                case.text,
                timeout=args.timeout + STREAM_TOKENS / STREAM_TOKENS_PER_S,
            )
        else:
            count = int(args.rate * args.duration)
            started, complete = await run_steady(
                proc.api,
                tracker,
                self.users,
                args.rate,
                count,
                case.text,
                timeout=args.timeout,
            )
        bot_cpu, bench_cpu = cpu.stop()
        driver_gc = pauses.stop()
        if profiling:
            proc.proc.send_signal(signal.SIGUSR2)
        result = summarize(f"{case.name}/{load}", tracker, started, case.classify)
        result.bot_cpu_s, result.bench_cpu_s = bot_cpu, bench_cpu
        result.extra["complete"] = complete
        result.extra["driver_gc"] = driver_gc
        result.extra["upstream_requests"] = len(self.upstream.requests)
        result.extra["load_average"] = [round(x, 2) for x in os.getloadavg()]
        if load == "steady":
            result.extra["offered_rate"] = args.rate
        self._settle()
        await asyncio.sleep(1.0)  # let stragglers (deleted notices, memory writes) finish
        return result

    async def paired_bursts(self, floor: BenchProcess, bot: BenchProcess) -> dict[str, Any]:
        """The echo floor's burst and the bot's chat burst, one after the other, round after
        round (both processes running): the machine's speed drifts by tens of percent over a
        minute here, and a ratio of two neighbouring runs is what it cancels out of."""
        chat = CASES["chat"]
        if chat.setup is not None:
            chat.setup(self.upstream)
        await self.warmup(floor, ECHO)
        await self.warmup(bot, chat)
        echo_runs: list[LoadResult] = []
        chat_runs: list[LoadResult] = []
        for _ in range(max(1, self.args.burst_rounds)):
            echo_runs.append(await self.measure(floor, ECHO, "burst"))
            print(_one_line(echo_runs[-1]), file=sys.stderr, flush=True)
            chat_runs.append(await self.measure(bot, chat, "burst"))
            print(_one_line(chat_runs[-1]), file=sys.stderr, flush=True)
        ratios = [
            round(c.updates_per_s / e.updates_per_s, 3) if e.updates_per_s else 0.0
            for e, c in zip(echo_runs, chat_runs, strict=True)
        ]
        return {
            "echo": _median_run(echo_runs),
            "chat": _median_run(chat_runs),
            "ratios": ratios,
        }

    async def run_process(
        self,
        proc: BenchProcess,
        cases: list[Case],
        done: dict[tuple[str, str], dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """``done``: loads already measured (by :meth:`paired_bursts`), by (case, load)."""
        assert proc.proc is not None
        pid = proc.proc.pid
        done = done or {}
        out: dict[str, Any] = {
            "rss_after_start_mb": rss_mb(pid) if proc.start_rss is None else proc.start_rss,
            "cases": {},
        }
        for case in cases:
            if case.setup is not None:
                case.setup(self.upstream)
            await self.warmup(proc, case)
            # Each load's result by name, and the process's peak RSS once they ran.
            loads: dict[str, dict[str, Any] | float | None] = {}
            for load in case.loads:
                if (case.name, load) in done:
                    loads[load] = done[(case.name, load)]
                    continue
                # A burst lasts seconds: on a shared machine one run can be 20 % off either
                # way. It is repeated and the median run (by updates/s) is the result.
                rounds = self.args.burst_rounds if load == "burst" else 1
                runs = []
                for _ in range(max(1, rounds)):
                    runs.append(await self.measure(proc, case, load))
                    print(_one_line(runs[-1]), file=sys.stderr, flush=True)
                loads[load] = _median_run(runs)
            loads["peak_rss_mb"] = peak_rss_mb(pid)
            out["cases"][case.name] = loads
        out["peak_rss_mb"] = peak_rss_mb(pid)
        out["rss_end_mb"] = rss_mb(pid)
        errors = [line for line in proc.stderr_lines if " ERROR " in line or "Traceback" in line]
        out["log_lines"] = len(proc.stderr_lines)
        out["log_sources"] = _log_sources(proc.stderr_lines)
        out["error_log_lines"] = len(errors)
        out["error_log_examples"] = errors[:5]
        return out

    async def start(
        self,
        module: str,
        env: dict[str, str],
        cwd: Path,
        *,
        root: Path = ROOT,
        api: BenchAPI | None = None,
    ) -> BenchProcess:
        self.api.tracker = None
        profile = None
        if self.args.profile and module == "bot":
            profile = self.args.out / f"{self.args.label}.prof"
        proc = BenchProcess(module, env, cwd, root=root, profile=profile, api=api or self.api)
        await proc.start()
        try:
            await proc.wait_for_log("Run polling", timeout=120)
        except BaseException:
            await proc.kill()
            raise
        await asyncio.sleep(0.5)
        self._settle()
        if proc.proc is not None:
            proc.start_rss = rss_mb(proc.proc.pid)
        return proc

    async def run(self) -> dict[str, Any]:
        args = self.args
        results: dict[str, Any] = {"meta": _meta(args)}
        async with self.api, self.floor_api, self.upstream:
            with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
                work = Path(scratch)
                floor: BenchProcess | None = None
                bot: BenchProcess | None = None
                cases = [CASES[name] for name in args.cases if name in CASES]
                try:
                    if args.floor and cases:
                        env = {"BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": self.floor_api.url}
                        (work / "floor").mkdir()
                        floor = await self.start(
                            "bench.echo_bot", env, work / "floor", api=self.floor_api
                        )
                    if cases:
                        (work / "bot" / "data").mkdir(parents=True)
                        db_path = work / "bot" / "data" / "bot.sqlite3"
                        await seed_users_async(
                            db_path, max(args.seed_users, args.users), args.bot_root
                        )
                        env = bot_env(self.api.url, work / "bot", TOKEN, **self.bot_settings())
                        env["DATABASE_PATH"] = str(db_path)
                        bot = await self.start("bot", env, work / "bot", root=args.bot_root)
                    floor_done: dict[tuple[str, str], dict[str, Any]] = {}
                    bot_done: dict[tuple[str, str], dict[str, Any]] = {}
                    if floor is not None and bot is not None and "chat" in args.cases:
                        pairs = await self.paired_bursts(floor, bot)
                        floor_done[("echo", "burst")] = pairs["echo"]
                        bot_done[("chat", "burst")] = pairs["chat"]
                        results["paired_burst_ratios"] = pairs["ratios"]
                    if floor is not None:
                        results["floor"] = await self.run_process(floor, [ECHO], floor_done)
                        await floor.stop()
                        floor = None
                    if bot is not None:
                        results["bot"] = await self.run_process(bot, cases, bot_done)
                        await bot.stop()
                        bot = None
                        with sqlite3.connect(db_path) as conn:
                            results["bot"]["db"] = {
                                "users": conn.execute("SELECT COUNT(*) FROM users").fetchone()[0],
                                "bytes": db_path.stat().st_size,
                            }
                        conn.close()
                finally:
                    for proc in (bot, floor):
                        if proc is not None:
                            await proc.stop()
        if GATEWAY in args.cases:
            # The HTTP API's case: python -m bench.gateway with its defaults, after
            # the bot has stopped (three processes of its own: upstream, gateway, load).
            from bench import gateway

            print("gateway: python -m bench.gateway (about 40 s)", file=sys.stderr, flush=True)
            results["gateway"] = await gateway.run(gateway.parse([]))
        if SCALE in args.cases:
            # The storage at 10k and 100k users, as python -m bench.scale with its defaults
            # (the million: python -m bench.scale --sizes 10000,100000,1000000 --load).
            from bench import scale

            print("scale: python -m bench.scale (about two minutes)", file=sys.stderr, flush=True)
            results["scale"] = await scale.run(scale.parse_args([]))
        results["summary"] = summary(results)
        return results

    def bot_settings(self) -> dict[str, str]:
        """Quotas stay on (every request is counted and checked), with limits the load
        cannot reach; the log level is the production default."""
        big = "1000000"
        env = {
            "VISIONCRAFT_API_URL": self.upstream.url,
            "NEBULA_API_URL": f"{self.upstream.url}/v1",
            "VISIONCRAFT_API_KEY": "bench-visioncraft-key",
            "LOG_LEVEL": self.args.log_level,
            "SHUTDOWN_TIMEOUT": "5",
        }
        for tier in ("FREE", "TIER1", "TIER2"):
            for kind in ("CHAT", "IMAGE", "GIF"):
                env[f"QUOTA_{tier}_{kind}"] = big
            env[f"RATE_{tier}_PER_MINUTE"] = "100000"
        for item in self.args.env:
            key, _, value = item.partition("=")
            env[key] = value
        return env


def _median_run(runs: list[LoadResult]) -> dict[str, Any]:
    """The run with the median updates/s, and every run's rate."""
    result = sorted(runs, key=lambda r: r.updates_per_s)[len(runs) // 2].as_dict()
    if len(runs) > 1:
        result["rounds_updates_per_s"] = [r.updates_per_s for r in runs]
    return result


def _log_sources(lines: list[str]) -> dict[str, int]:
    """How many lines each "LEVEL logger" wrote (the ten busiest)."""
    counts: dict[str, int] = {}
    for line in lines:
        parts = line.split(" ", 4)
        key = " ".join(parts[2:4]).rstrip(":") if len(parts) >= 4 else line[:40]
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: -item[1])[:10])


def _one_line(result: LoadResult) -> str:
    d = result.as_dict()
    first = d["first_reply_ms"] or {}
    return (
        f"  {d['load']:<14} {d['finished']}/{d['updates']} in {d['seconds']:.1f}s "
        f"= {d['updates_per_s']}/s; first reply p50 {first.get('p50')} p99 {first.get('p99')} "
        f"ms; bot cpu {d['bot_cpu_ms_per_update']} ms/update; bench cpu share "
        f"{d['bench_cpu_share']}; outcomes {d['outcomes']}"
    )


def _meta(args: argparse.Namespace) -> dict[str, Any]:
    import aiogram

    return {
        "label": args.label,
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
        "python": platform.python_version(),
        "aiogram": aiogram.__version__,
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "users": args.users,
        "burst_per_user": args.burst,
        "rate": args.rate,
        "duration": args.duration,
        "seed_users": args.seed_users,
        "lean_fake": args.lean_fake,
        "cases": args.cases,
        "log_level": args.log_level,
    }


# ---------------------------------------------------------------------------------- summary
def _get(d: dict[str, Any] | None, *path: str) -> Any:
    for key in path:
        if not isinstance(d, dict):
            return None
        d = d.get(key)
    return d


def _ratio(a: Any, b: Any) -> float | None:
    if not isinstance(a, int | float) or not isinstance(b, int | float) or not b:
        return None
    return round(a / b, 2)


def summary(results: dict[str, Any]) -> dict[str, Any]:
    floor = results.get("floor")
    bot = results.get("bot")
    rows: list[dict[str, Any]] = []
    for who, data in (("echo floor", floor), ("bot", bot)):
        if not data:
            continue
        for case, loads in data["cases"].items():
            for load in ("burst", "steady"):
                r = loads.get(load)
                if not r:
                    continue
                rows.append(
                    {
                        "process": who,
                        "case": case,
                        "load": load,
                        "updates": r["updates"],
                        "unanswered": r["unanswered"],
                        "updates_per_s": r["updates_per_s"],
                        "first_p50": _get(r, "first_reply_ms", "p50"),
                        "first_p95": _get(r, "first_reply_ms", "p95"),
                        "first_p99": _get(r, "first_reply_ms", "p99"),
                        "visible_p50": _get(r, "first_visible_ms", "p50"),
                        "visible_p99": _get(r, "first_visible_ms", "p99"),
                        "done_p50": _get(r, "done_ms", "p50"),
                        "done_p99": _get(r, "done_ms", "p99"),
                        "bot_cpu_ms_per_update": r["bot_cpu_ms_per_update"],
                        "bench_cpu_share": r["bench_cpu_share"],
                    }
                )
    floor_burst = _get(floor, "cases", "echo", "burst", "updates_per_s")
    floor_p99 = _get(floor, "cases", "echo", "steady", "first_reply_ms", "p99")
    floor_rss = _get(floor, "peak_rss_mb")
    chat_burst = _get(bot, "cases", "chat", "burst", "updates_per_s")
    chat_p99 = _get(bot, "cases", "chat", "steady", "first_reply_ms", "p99")
    bot_rss = _get(bot, "peak_rss_mb")
    # Paired rounds (see Bench.paired_bursts): the median of each round's ratio.
    paired = results.get("paired_burst_ratios")
    burst_ratio = sorted(paired)[len(paired) // 2] if paired else _ratio(chat_burst, floor_burst)
    checks = {
        "chat_burst_vs_floor": burst_ratio,
        "chat_burst_vs_floor_rounds": paired,
        "chat_burst_target_met": None if burst_ratio is None else burst_ratio >= BURST_TARGET,
        "chat_steady_p99_ms": chat_p99,
        "chat_steady_p99_vs_floor": _ratio(chat_p99, floor_p99),
        "chat_steady_p99_target_met": None if chat_p99 is None else chat_p99 < P99_TARGET_MS,
        "peak_rss_mb": bot_rss,
        "floor_peak_rss_mb": floor_rss,
        "peak_rss_over_floor_mb": None
        if bot_rss is None or floor_rss is None
        else round(bot_rss - floor_rss, 1),
        "peak_rss_target_met": None
        if bot_rss is None or floor_rss is None
        else bot_rss - floor_rss <= 60,
    }
    gateway = results.get("gateway")
    if gateway:
        checks["gateway_added_p99_ms"] = gateway["added_ms"]["p99"]
        checks["gateway_throughput_ratio"] = gateway["throughput_ratio"]
        checks["gateway_added_p99_target_met"] = gateway["targets"]["latency_met"]
        checks["gateway_targets_met"] = gateway["targets"]["met"]
    return {"rows": rows, "checks": checks}


def markdown(results: dict[str, Any]) -> str:
    s = results["summary"]
    header = (
        "| process | case | load | updates | unanswered | updates/s | first reply p50 / p95 / p99 "
        "ms | first text p50 / p99 ms | done p50 / p99 ms | bot CPU ms/update |"
    )
    lines = [header, "|" + " --- |" * 10]

    def fmt(*values: Any) -> str:
        return " / ".join("-" if v is None else f"{v:g}" for v in values)

    for r in s["rows"]:
        lines.append(
            f"| {r['process']} | {r['case']} | {r['load']} | {r['updates']} | {r['unanswered']} "
            f"| {r['updates_per_s']:g} | {fmt(r['first_p50'], r['first_p95'], r['first_p99'])} "
            f"| {fmt(r['visible_p50'], r['visible_p99'])} | {fmt(r['done_p50'], r['done_p99'])} "
            f"| {fmt(r['bot_cpu_ms_per_update'])} |"
        )
    c = {k: ("n/a" if v is None else v) for k, v in s["checks"].items()}
    lines += [
        "",
        f"- peak RSS: bot {c['peak_rss_mb']} MB, echo floor {c['floor_peak_rss_mb']} MB "
        f"(over the floor: {c['peak_rss_over_floor_mb']} MB; target ≤ +60 MB: "
        f"{_yes(s['checks']['peak_rss_target_met'])})",
        f"- chat burst throughput / floor: {c['chat_burst_vs_floor']} (median of rounds "
        f"{c['chat_burst_vs_floor_rounds']}; target ≥ {BURST_TARGET}: "
        f"{_yes(s['checks']['chat_burst_target_met'])})",
        f"- chat steady p99: {c['chat_steady_p99_ms']} ms, {c['chat_steady_p99_vs_floor']}× the "
        f"floor (target < {P99_TARGET_MS} ms: {_yes(s['checks']['chat_steady_p99_target_met'])})",
    ]
    if results.get("gateway"):
        from bench import gateway

        lines += ["", "HTTP API (python -m bench.gateway):", gateway.table(results["gateway"])]
    return "\n".join(lines)


def _yes(value: bool | None) -> str:
    return "n/a" if value is None else ("yes" if value else "NO")


# -------------------------------------------------------------------------------------- CLI
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=200, help="simulated users (200)")
    parser.add_argument("--burst", type=int, default=10, help="messages per user in a burst (10)")
    parser.add_argument(
        "--burst-rounds", type=int, default=3, help="bursts per case; the median counts (3)"
    )
    parser.add_argument("--rate", type=float, default=100.0, help="steady updates/s (100)")
    parser.add_argument("--duration", type=float, default=15.0, help="steady seconds (15)")
    parser.add_argument(
        "--cases",
        default=DEFAULT_CASES,
        help="comma-separated, from: "
        + ", ".join([*CASES, GATEWAY, SCALE])
        + f" ({DEFAULT_CASES}; {GATEWAY}: the HTTP API, as python -m bench.gateway; "
        + f"{SCALE}: the storage at 10k/100k users, as python -m bench.scale)",
    )
    parser.add_argument(
        "--no-floor", dest="floor", action="store_false", help="skip the echo floor"
    )
    parser.add_argument(
        "--seed-users", type=int, default=10_000, help="known users in the database (10000)"
    )
    parser.add_argument(
        "--lean-fake", action="store_true", help="answer sends without the full Telegram emulation"
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait per load")
    parser.add_argument("--log-level", default="INFO", help="the bot's LOG_LEVEL (INFO)")
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="extra bot setting"
    )
    parser.add_argument(
        "--bot-root",
        type=Path,
        default=ROOT,
        help="run the bot from another checkout (before/after comparisons)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="run the bot under cProfile (<label>.prof)"
    )
    parser.add_argument("--label", default=None, help="results file name (default: a timestamp)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args(argv)
    args.cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in args.cases if c not in CASES and c not in (GATEWAY, SCALE)]
    if unknown:
        parser.error(f"unknown case(s): {', '.join(unknown)}")
    if args.label is None:
        args.label = time.strftime("bench-%Y%m%d-%H%M%S")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _load_queue_notice_markers()
    results = asyncio.run(Bench(args).run())
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{args.label}.json"
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(markdown(results))
    print(f"\nresults: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0
