"""``python -m bench.flood``: the gateway's memory under a flood of maximum-size uploads.

For each scenario a fresh ``python -m api`` (on its own SQLite file, 127.0.0.1 only, in front
of the fake upstream) gets ``--clients`` concurrent ``POST /v1/chat/completions`` requests,
each announcing and sending an ``API_MAX_BODY_BYTES`` body:

* ``bad-key``: with a wrong key. The key is checked before the body is read, so each is
  answered 401 and its connection closed at once;
* ``valid-key``: with a valid Tier 2 key and no rate limits: every body is read (a few at a
  time), parsed, checked and forwarded.

Prints, per scenario, the gateway's RSS after start and its peak RSS (``VmHWM``), the answers
by status and the time taken. Every scenario is bounded by ``--timeout`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.gateway import child_env, free_port, seed_key, start_child, stop_child
from bench.procstat import peak_rss_mb, rss_mb

MODEL = "gpt-4o-mini"  # on the fake upstream's model list
CHUNK = 64 * 1024


def chat_body(size: int) -> bytes:
    """A valid chat body of exactly ``size`` bytes."""
    head = b'{"model": "' + MODEL.encode() + b'", "messages": [{"role": "user", "content": "'
    tail = b'"}]}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


async def upload(port: int, key: str, body: bytes) -> str:
    """One request over a raw connection; returns the answer's status (or what went wrong)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}"
        f"\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    # The answer is read while sending: a 401 comes (and the connection closes) long before
    # the body would have gone out.
    answer = asyncio.create_task(reader.readline())
    try:
        writer.write(head)
        view = memoryview(body)
        for start in range(0, len(body), CHUNK):
            if answer.done():
                break
            writer.write(view[start : start + CHUNK])
            await writer.drain()
    except ConnectionError:
        pass  # answered and closed before the whole body went out: expected
    try:
        status = await answer
    except ConnectionError as exc:
        return type(exc).__name__
    finally:
        writer.close()
    parts = status.split()
    return parts[1].decode() if len(parts) > 1 else "closed"


async def scenario(name: str, options: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-flood-{name}-"))
    up_port, api_port = free_port(), free_port()
    database = workdir / "bot.sqlite3"
    key = await seed_key(database)
    if name == "bad-key":
        key = "vc_" + "0" * 40
    upstream = await start_child(
        ["-m", "bench.gateway", "--serve-upstream", str(up_port)],
        child_env(),
        workdir / "upstream.log",
    )
    try:
        upstream_url = f"http://127.0.0.1:{up_port}"
        env = child_env(
            DATABASE_PATH=str(database),
            VISIONCRAFT_API_URL=upstream_url,
            VISIONCRAFT_API_KEY="bench-operator-key",
            NEBULA_API_URL=f"{upstream_url}/v1",
            API_HOST="127.0.0.1",
            API_PORT=str(api_port),
            API_MAX_BODY_BYTES=str(options.body_bytes),
            API_RATE_TIER2_PER_SECOND="-1",
            RATE_TIER2_PER_MINUTE="-1",
            QUOTA_TIER2_CHAT="-1",
            LOG_LEVEL="WARNING",
        )
        gateway = await start_child(
            ["-m", "api"], env, workdir / "api.log", health=f"http://127.0.0.1:{api_port}/health"
        )
        try:
            assert gateway.pid is not None
            started_rss = rss_mb(gateway.pid)
            body = chat_body(options.body_bytes)
            began = time.monotonic()
            async with asyncio.timeout(options.timeout):
                statuses = await asyncio.gather(
                    *(upload(api_port, key, body) for _ in range(options.clients))
                )
            elapsed = time.monotonic() - began
            peak = peak_rss_mb(gateway.pid)
        finally:
            await stop_child(gateway)
    finally:
        await stop_child(upstream)
    return {
        "scenario": name,
        "clients": options.clients,
        "body_bytes": options.body_bytes,
        "rss_after_start_mb": started_rss,
        "peak_rss_mb": peak,
        "answers": dict(Counter(statuses)),
        "seconds": round(elapsed, 2),
    }


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.flood", description=__doc__)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--body-bytes", type=int, default=8 * 1024 * 1024)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument(
        "--scenario", choices=("bad-key", "valid-key", "both"), default="both", help="what to run"
    )
    return parser.parse_args(argv)


async def amain(options: argparse.Namespace) -> list[dict[str, Any]]:
    names = ("bad-key", "valid-key") if options.scenario == "both" else (options.scenario,)
    return [await scenario(name, options) for name in names]


def main(argv: Sequence[str] | None = None) -> int:
    options = parse(argv)
    results = asyncio.run(amain(options))
    for result in results:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
