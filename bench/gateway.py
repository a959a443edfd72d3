"""``python -m bench.gateway``: what the HTTP API adds on top of the upstream it forwards to.

Three processes on 127.0.0.1: the fake upstream (``tests.fakes.upstream.FakeUpstream``), the
gateway (``python -m api``, on its own SQLite file with one Tier 2 key and no rate limits),
and this one, which sends non-streamed ``POST /v1/chat/completions`` requests:

* **latency**: an open loop at ``--rate`` requests/s (default 200) for ``--duration`` seconds
  against each, straight to the fake upstream and through the gateway, in ``--rounds``
  alternating slices (a noisy neighbour hits both alike); the gateway's *added* p50/p99 is
  its percentile minus the direct one;
* **throughput**: a closed loop of ``--concurrency`` callers for ``--throughput-seconds``
  seconds against each, in requests/s.

``--database-url postgresql://…`` runs the gateways on a new database on that PostgreSQL server
(dropped afterwards) instead of SQLite; ``--processes N`` starts N gateways on one database
and spreads the requests over them round robin, as a load balancer would.

Prints a small table and writes ``bench/results/gateway.json``. Targets: gateway throughput
at least half the direct one, added p99 under 5 ms at 200 requests/s. Exit code 1 when a
target is missed (``--no-check`` to always exit 0), 2 when the setup failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import secrets
import socket
import string
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

if TYPE_CHECKING:
    from tests.fakes.upstream import RecordedRequest

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "gateway.json"
PATH = "/v1/chat/completions"
BODY = {
    "model": "Llama-3.1-70B-Instruct",
    "messages": [{"role": "user", "content": "Say hello in five words."}],
    "max_tokens": 128,
}
MAX_ADDED_P99_MS = 5.0
STARTUP_SECONDS = 60.0
MIN_THROUGHPUT_RATIO = 0.5


@dataclass
class Latency:
    requests: int
    errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    achieved_rps: float


@dataclass
class Throughput:
    requests: int
    errors: int
    rps: float


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


# -- load ---------------------------------------------------------------------------------------


def _urls(url: str | list[str]) -> list[str]:
    return [url] if isinstance(url, str) else url


async def open_loop(
    session: aiohttp.ClientSession,
    url: str | list[str],
    headers: dict[str, str],
    rate: float,
    seconds: float,
    latencies: list[float],
) -> tuple[int, int, float]:
    """``rate`` requests/s on a fixed schedule, whatever the answers' speed. Appends each
    answered request's latency (ms); returns (requests, errors, seconds taken)."""
    total = int(rate * seconds)
    errors = 0
    payload = json.dumps(BODY).encode()
    urls = _urls(url)  # several gateways: round robin, as a load balancer would
    sent = 0

    async def one() -> None:
        nonlocal errors, sent
        target = urls[sent % len(urls)]
        sent += 1
        started = time.perf_counter()
        try:
            async with session.post(target, data=payload, headers=headers) as response:
                await response.read()
                ok = response.status == 200
        except aiohttp.ClientError:
            ok = False
        if ok:
            latencies.append((time.perf_counter() - started) * 1000)
        else:
            errors += 1

    loop = asyncio.get_running_loop()
    start = loop.time()
    tasks = []
    for index in range(total):
        delay = start + index / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    return total, errors, loop.time() - start


async def latency_pair(
    session: aiohttp.ClientSession,
    targets: dict[str, tuple[str | list[str], dict[str, str]]],
    rate: float,
    seconds: float,
    rounds: int,
) -> dict[str, Latency]:
    """Both targets in alternating slices, so a noisy neighbour on the machine hits both
    alike; the percentiles are over all slices."""
    samples: dict[str, list[float]] = {name: [] for name in targets}
    counts = {name: [0, 0, 0.0] for name in targets}
    for _ in range(rounds):
        for name, (url, headers) in targets.items():
            total, errors, elapsed = await open_loop(
                session, url, headers, rate, seconds / rounds, samples[name]
            )
            counts[name][0] += total
            counts[name][1] += errors
            counts[name][2] += elapsed
    return {
        name: Latency(
            requests=int(counts[name][0]),
            errors=int(counts[name][1]),
            p50_ms=percentile(values, 50),
            p90_ms=percentile(values, 90),
            p99_ms=percentile(values, 99),
            max_ms=max(values, default=math.nan),
            achieved_rps=counts[name][0] / counts[name][2] if counts[name][2] else math.nan,
        )
        for name, values in samples.items()
    }


async def closed_loop(
    session: aiohttp.ClientSession,
    url: str | list[str],
    headers: dict[str, str],
    concurrency: int,
    seconds: float,
) -> Throughput:
    """``concurrency`` callers, each sending its next request when the last one answered."""
    payload = json.dumps(BODY).encode()
    done = 0
    errors = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds

    urls = _urls(url)

    async def caller(index: int) -> None:
        nonlocal done, errors
        target = urls[index % len(urls)]
        while loop.time() < deadline:
            try:
                async with session.post(target, data=payload, headers=headers) as response:
                    await response.read()
                    if response.status == 200:
                        done += 1
                    else:
                        errors += 1
            except aiohttp.ClientError:
                errors += 1

    start = loop.time()
    await asyncio.gather(*(caller(index) for index in range(concurrency)))
    elapsed = loop.time() - start
    return Throughput(requests=done, errors=errors, rps=done / elapsed if elapsed else 0.0)


# -- the processes --------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux); None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]  # an IPv4 address: (host, port)
        return port


async def serve_upstream(port: int) -> None:
    """Child mode: run the fake upstream until killed."""
    from tests.fakes.upstream import FakeUpstream

    upstream = FakeUpstream(port=port)
    upstream.reply = "Hello from the fake upstream, five words."
    await upstream.start()
    # The fake records every request; a benchmark must not grow memory without bound.
    upstream.requests = _Discard()
    print("ready", flush=True)
    await asyncio.Event().wait()


class _Discard(list["RecordedRequest"]):
    def append(self, item: RecordedRequest) -> None:
        return None


async def seed_key(database: Path, url: str | None = None) -> str:
    """One Tier 2 user with a key, stored the way /key stores it (in the SQLite file, or in
    the PostgreSQL database at ``url``)."""
    from api.auth import hash_key
    from bot.services import clock
    from storage.db import open_database

    alphabet = string.ascii_letters + string.digits
    key = "vc_" + "".join(secrets.choice(alphabet) for _ in range(40))
    db = await open_database(database, url).connect()
    now = clock.now()
    try:
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO users (id, first_name, created_at, updated_at) "
                "VALUES (1, 'bench', ?, ?)",
                (now, now),
            )
            await conn.execute(
                "INSERT INTO api_keys (user_id, key_hash, prefix, created_at) VALUES (1, ?, ?, ?)",
                (hash_key(key), key[:8], now),
            )
            await conn.execute(
                "INSERT INTO user_tiers (user_id, tier, expires_at, source, updated_at) "
                "VALUES (1, 'tier2', NULL, 'grant', ?)",
                (now,),
            )
    finally:
        await db.close()
    return key


def _read(log: Path) -> str:
    return log.read_text(errors="replace")


async def start_child(
    args: list[str], env: dict[str, str], log: Path, *, health: str | None = None
) -> asyncio.subprocess.Process:
    """Start ``python <args>``; ready when its stdout says ``ready``, or (``health``) when
    that URL answers 200."""
    with log.open("wb") as handle:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            cwd=ROOT,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=handle if health else asyncio.subprocess.PIPE,
            stderr=handle,
        )
    deadline = time.monotonic() + STARTUP_SECONDS
    if health is None:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), STARTUP_SECONDS)
        if line.strip() != b"ready":
            raise RuntimeError(f"{' '.join(args)} did not start:\n{_read(log)}")
        return proc
    async with aiohttp.ClientSession() as session:
        while True:
            if proc.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{' '.join(args)} did not start:\n{_read(log)}")
            try:
                async with session.get(health) as response:
                    if response.status == 200:
                        return proc
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)


async def stop_child(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_CONTRACT)}
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


_CONTRACT = (
    "BOT_TOKEN",
    "TELEGRAM_API_URL",
    "DATABASE_PATH",
    "REQUIRED_CHANNEL",
    "VISIONCRAFT_",
    "NEBULA_",
    "CHAT_",
    "QUOTA_",
    "RATE_",
    "API_",
    "PORT",
    "LOG_LEVEL",
)


# -- the run --------------------------------------------------------------------------------------


async def pg_database(server: str, *, drop: str | None = None) -> str:
    """A new database ``bench_<random>`` on the PostgreSQL server of ``server`` (its URL),
    or (``drop``) drop that one."""
    from urllib.parse import urlsplit, urlunsplit

    import asyncpg

    conn = await asyncpg.connect(server)
    try:
        if drop is not None:
            name = urlsplit(drop).path.lstrip("/")
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return drop
        name = "bench_" + secrets.token_hex(6)
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return urlunsplit(urlsplit(server)._replace(path="/" + name))


async def run(options: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    up_port = free_port()
    api_ports = [free_port() for _ in range(options.processes)]
    upstream = await start_child(
        ["-m", "bench.gateway", "--serve-upstream", str(up_port)],
        child_env(),
        workdir / "upstream.log",
    )
    gateways: list[asyncio.subprocess.Process] = []
    # PostgreSQL: a database of the run's own on the server named, dropped at the end.
    pg_url = await pg_database(options.database_url) if options.database_url else None
    try:
        database = workdir / "gateway.sqlite3"
        key = await seed_key(database, pg_url)
        for index, api_port in enumerate(api_ports):
            env = child_env(
                DATABASE_PATH=str(database),
                VISIONCRAFT_API_URL=f"http://127.0.0.1:{up_port}",
                VISIONCRAFT_API_KEY="bench-operator-key",
                NEBULA_API_URL=f"http://127.0.0.1:{up_port}/v1",
                API_HOST="127.0.0.1",
                API_PORT=str(api_port),
                API_RATE_TIER2_PER_SECOND="-1",
                RATE_TIER2_PER_MINUTE="-1",
                LOG_LEVEL=options.log_level,
                SHUTDOWN_TIMEOUT="5",
            )
            if pg_url:
                env["DATABASE_URL"] = pg_url
            command = ["-m", "api"]
            if options.profile is not None and index == 0:
                command = ["-m", "cProfile", "-o", str(options.profile), *command]
            gateways.append(
                await start_child(
                    command,
                    env,
                    workdir / f"gateway{index}.log",
                    health=f"http://127.0.0.1:{api_port}/health",
                )
            )
        direct_url = f"http://127.0.0.1:{up_port}{PATH}"
        gateway_url = [f"http://127.0.0.1:{port}{PATH}" for port in api_ports]
        direct_headers = {"Authorization": "Bearer bench-operator-key"}
        gateway_headers = {"Authorization": f"Bearer {key}"}
        headers_json = {"Content-Type": "application/json"}
        connector = aiohttp.TCPConnector(limit=512, limit_per_host=512)
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout, headers=headers_json
        ) as session:
            # Warm both paths (connections, the gateway's caches and its first DB reads).
            await open_loop(session, direct_url, direct_headers, 100, 1, [])
            await open_loop(session, gateway_url, gateway_headers, 100, 1, [])
            latency = await latency_pair(
                session,
                {"direct": (direct_url, direct_headers), "gateway": (gateway_url, gateway_headers)},
                options.rate,
                options.duration,
                options.rounds,
            )
            direct, through = latency["direct"], latency["gateway"]
            up_cpu = cpu_seconds(upstream.pid)
            direct_tp = await closed_loop(
                session,
                direct_url,
                direct_headers,
                options.concurrency,
                options.throughput_seconds,
            )
            up_cpu_direct = _delta(cpu_seconds(upstream.pid), up_cpu, direct_tp.requests)
            up_cpu, gw_cpu = cpu_seconds(upstream.pid), _cpu_total(gateways)
            through_tp = await closed_loop(
                session,
                gateway_url,
                gateway_headers,
                options.concurrency,
                options.throughput_seconds,
            )
            up_cpu_through = _delta(cpu_seconds(upstream.pid), up_cpu, through_tp.requests)
            gw_cpu_through = _delta(_cpu_total(gateways), gw_cpu, through_tp.requests)
    finally:
        for gateway in gateways:
            await stop_child(gateway)
        await stop_child(upstream)
        if pg_url:
            await pg_database(options.database_url, drop=pg_url)

    added_p50 = through.p50_ms - direct.p50_ms
    added_p99 = through.p99_ms - direct.p99_ms
    ratio = through_tp.rps / direct_tp.rps if direct_tp.rps else 0.0
    verdicts = {
        "latency_met": added_p99 < MAX_ADDED_P99_MS,
        "throughput_met": ratio >= MIN_THROUGHPUT_RATIO,
        "no_errors": through.errors == 0 and through_tp.errors == 0,
    }
    return {
        "case": "gateway",
        "what": "POST /v1/chat/completions (non-streamed) straight to the fake upstream "
        "vs through python -m api",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "settings": {
            "rate_rps": options.rate,
            "duration_s": options.duration,
            "rounds": options.rounds,
            "concurrency": options.concurrency,
            "throughput_s": options.throughput_seconds,
            "gateway_log_level": options.log_level,
            "database": "postgresql" if options.database_url else "sqlite",
            "gateway_processes": options.processes,
        },
        "latency": {"direct": asdict(direct), "gateway": asdict(through)},
        "throughput": {"direct": asdict(direct_tp), "gateway": asdict(through_tp)},
        "added_ms": {"p50": round(added_p50, 3), "p99": round(added_p99, 3)},
        "cpu_ms_per_request": {
            "upstream_direct": up_cpu_direct,
            "upstream_through_gateway": up_cpu_through,
            "gateway": gw_cpu_through,
        },
        "throughput_ratio": round(ratio, 3),
        "targets": {
            "added_p99_ms_below": MAX_ADDED_P99_MS,
            "throughput_ratio_at_least": MIN_THROUGHPUT_RATIO,
            **verdicts,
            "met": all(verdicts.values()),
        },
    }


def _cpu_total(procs: list[asyncio.subprocess.Process]) -> float | None:
    times = [cpu_seconds(proc.pid) for proc in procs]
    return None if any(t is None for t in times) else sum(t for t in times if t is not None)


def _delta(after: float | None, before: float | None, requests: int) -> float | None:
    if after is None or before is None or not requests:
        return None
    return round((after - before) / requests * 1000, 3)


def table(result: dict[str, Any]) -> str:
    lat, tp = result["latency"], result["throughput"]
    rows = [
        ("", "direct", "gateway", "added"),
        (
            f"p50 ms @ {result['settings']['rate_rps']:g} rps",
            f"{lat['direct']['p50_ms']:.2f}",
            f"{lat['gateway']['p50_ms']:.2f}",
            f"{result['added_ms']['p50']:+.2f}",
        ),
        (
            f"p99 ms @ {result['settings']['rate_rps']:g} rps",
            f"{lat['direct']['p99_ms']:.2f}",
            f"{lat['gateway']['p99_ms']:.2f}",
            f"{result['added_ms']['p99']:+.2f}",
        ),
        (
            "errors",
            str(lat["direct"]["errors"] + tp["direct"]["errors"]),
            str(lat["gateway"]["errors"] + tp["gateway"]["errors"]),
            "",
        ),
        (
            f"requests/s (c={result['settings']['concurrency']})",
            f"{tp['direct']['rps']:.0f}",
            f"{tp['gateway']['rps']:.0f}",
            f"x{result['throughput_ratio']:.2f}",
        ),
    ]
    cpu = result["cpu_ms_per_request"]
    if cpu["gateway"] is not None:
        rows.append(
            (
                "CPU ms/request",
                f"{cpu['upstream_direct']:.2f}",
                f"{cpu['gateway']:.2f} (+{cpu['upstream_through_gateway']:.2f} upstream)",
                "",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(
            cell.rjust(w) if i else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    targets = result["targets"]

    def verdict(met: bool) -> str:
        return "met" if met else "MISSED"

    lines.append(
        f"targets: added p99 < {MAX_ADDED_P99_MS:g} ms: {verdict(targets['latency_met'])}; "
        f"throughput >= {MIN_THROUGHPUT_RATIO:g}x direct: {verdict(targets['throughput_met'])}; "
        f"no errors: {verdict(targets['no_errors'])}"
    )
    return "\n".join(lines)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.gateway", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--rate", type=float, default=200.0, help="open-loop requests/s")
    parser.add_argument(
        "--duration", type=float, default=10.0, help="seconds of latency run per target"
    )
    parser.add_argument("--rounds", type=int, default=5, help="alternating direct/gateway slices")
    parser.add_argument("--concurrency", type=int, default=32, help="closed-loop callers")
    parser.add_argument("--throughput-seconds", type=float, default=5.0)
    parser.add_argument("--log-level", default="INFO", help="the gateway's LOG_LEVEL")
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server URL: the gateways use a new database there (default: SQLite)",
    )
    parser.add_argument(
        "--processes", type=int, default=1, help="gateway processes, requests spread round robin"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="run the (first) gateway under cProfile, stats written to FILE when it stops",
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--no-check", action="store_true", help="exit 0 even if a target is missed")
    parser.add_argument("--serve-upstream", type=int, metavar="PORT", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse(argv)
    if options.serve_upstream is not None:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve_upstream(options.serve_upstream))
        return 0
    try:
        result = asyncio.run(run(options))
    except (RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(table(result))
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {options.output}")
    return 0 if result["targets"]["met"] or options.no_check else 1


if __name__ == "__main__":
    sys.exit(main())
