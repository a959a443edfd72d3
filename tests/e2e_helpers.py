"""Run ``python -m bot`` (or ``python -m api``) as a real process for end-to-end tests.

The process gets a clean environment that points it at fakes on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.gateway_helpers import OPERATOR_VC_KEY

ROOT = Path(__file__).resolve().parent.parent

# Variables of the contract: never inherited from the developer's shell or .env.
_CONTRACT_PREFIXES = (
    "BOT_TOKEN",
    "TELEGRAM_API_URL",
    "TELEGRAM_PROXY",
    "DATABASE_PATH",
    "REQUIRED_CHANNEL",
    "ADMIN_IDS",
    "VISIONCRAFT_",
    "NEBULA_",
    "CHAT_MODEL",
    "VISION_MODEL",
    "IMAGE_MODEL",
    "TIER1_",
    "TIER2_",
    "TRIAL_",
    "WEBHOOK_",
    "PORT",
    "API_",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "METRICS_TOKEN",
    "BOT_HTTP_PORT",
    "QUOTA_",
    "RATE_",
    "GENERATION_",
    "REDIS_",
)


# Proxy variables, in either spelling: one in the developer's shell would route the child's
# calls to the fakes on 127.0.0.1 through it.
_PROXY_VARIABLES = {"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"}


def clean_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_CONTRACT_PREFIXES) and k.upper() not in _PROXY_VARIABLES
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class Process:
    """A child Python process with its stderr collected."""

    def __init__(self, module: str, env: Mapping[str, str], cwd: Path) -> None:
        self.module = module
        self.env = clean_env(env)
        self.cwd = cwd
        self.proc: asyncio.subprocess.Process | None = None
        self.stderr_lines: list[str] = []
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> Process:
        # cwd is a scratch folder so a developer's .env in the repo is not picked up.
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            self.module,
            cwd=self.cwd,
            env={**self.env, "PYTHONPATH": str(ROOT)},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            self.stderr_lines.append(line.decode(errors="replace").rstrip("\n"))

    @property
    def stderr(self) -> str:
        return "\n".join(self.stderr_lines)

    async def wait(self, timeout: float = 60.0) -> int:  # noqa: ASYNC109
        assert self.proc is not None
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, 5)
        return code

    async def wait_for_log(self, needle: str, timeout: float = 20.0) -> None:  # noqa: ASYNC109
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while needle not in self.stderr:
            if self.proc is not None and self.proc.returncode is not None:
                raise AssertionError(f"process exited before logging {needle!r}:\n{self.stderr}")
            if loop.time() > deadline:
                raise AssertionError(f"{needle!r} not logged in {timeout} s:\n{self.stderr}")
            await asyncio.sleep(0.05)

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:  # noqa: ASYNC109
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
            try:
                return await self.wait(timeout)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
                raise AssertionError(f"process ignored signal {sig}:\n{self.stderr}") from None
        return self.proc.returncode

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


def bot_db_path(tmp_path: Path) -> Path:
    """The SQLite file of a bot started with ``bot_env(..., tmp_path, ...)``."""
    return tmp_path / "data" / "bot.sqlite3"


def db_rows(tmp_path: Path, sql: str) -> list[Any]:
    """The rows of ``sql`` read from the bot's SQLite file in ``tmp_path``."""
    con = sqlite3.connect(bot_db_path(tmp_path))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def bot_env(api_url: str, tmp_path: Path, token: str, **extra: str) -> dict[str, str]:
    env = {
        "BOT_TOKEN": token,
        "TELEGRAM_API_URL": api_url,
        "DATABASE_PATH": str(bot_db_path(tmp_path)),
        "VISIONCRAFT_API_URL": "http://127.0.0.1:9",
        "NEBULA_API_URL": "http://127.0.0.1:9/v1",
        "LOG_LEVEL": "INFO",
        "SHUTDOWN_TIMEOUT": "5",
    }
    env.update(extra)
    return env


async def start_bot(api, tmp_path: Path, token: str, **extra: str) -> Process:
    """Start the bot against ``api`` (a FakeBotAPI) and wait until it polls.

    The fake records a getUpdates call only when the long poll ends, so readiness is read
    from the bot's own log line instead.
    """
    proc = Process("bot", bot_env(api.url, tmp_path, token, **extra), tmp_path)
    return await _start_until_logged(proc, "Run polling")


async def _start_until_logged(proc: Process, needle: str) -> Process:
    """Start ``proc`` and wait until it logs ``needle``; kill it if it never does."""
    await proc.start()
    try:
        await proc.wait_for_log(needle, timeout=90)
    except BaseException:
        await proc.kill()
        raise
    return proc


WEBHOOK_URL = "https://bot.example.org/tg/hook"
WEBHOOK_SECRET = "s3cret-token"


async def start_webhook_bot(api, tmp_path: Path, token: str, port: int, **extra: str) -> Process:
    """Start the bot in webhook mode (``WEBHOOK_URL``, ``WEBHOOK_SECRET``, its server on
    ``port``) against ``api`` and wait until it serves webhooks."""
    env = bot_env(
        api.url,
        tmp_path,
        token,
        WEBHOOK_URL=WEBHOOK_URL,
        WEBHOOK_SECRET=WEBHOOK_SECRET,
        PORT=str(port),
        **extra,
    )
    return await _start_until_logged(Process("bot", env, tmp_path), "serving webhooks")


def api_env(tmp_path: Path, upstream_url: str, port: int, **extra: str) -> dict[str, str]:
    """The environment of ``python -m api`` on ``port`` against the fake upstream at
    ``upstream_url``, sharing the SQLite file of a bot started in ``tmp_path``."""
    env = {
        "DATABASE_PATH": str(bot_db_path(tmp_path)),
        "VISIONCRAFT_API_URL": upstream_url,
        "VISIONCRAFT_API_KEY": OPERATOR_VC_KEY,
        "NEBULA_API_URL": f"{upstream_url}/v1",
        "API_HOST": "127.0.0.1",
        "API_PORT": str(port),
        "LOG_LEVEL": "INFO",
        "SHUTDOWN_TIMEOUT": "5",
    }
    env.update(extra)
    return env


async def start_api(tmp_path: Path, upstream_url: str, **extra: str) -> tuple[Process, str]:
    """Start ``python -m api`` on a free port and wait until it listens; returns the process
    and its base URL."""
    port = free_port()
    proc = Process("api", api_env(tmp_path, upstream_url, port, **extra), tmp_path)
    await _start_until_logged(proc, "gateway listening")
    return proc, f"http://127.0.0.1:{port}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def add_channel(api, chat_id: int) -> None:
    """Make the channel @vc_news (the tests' REQUIRED_CHANNEL) known to ``api`` (a FakeBotAPI),
    by its id and by its name."""
    channel = {"id": chat_id, "type": "channel", "title": "VC News", "username": "vc_news"}
    api.chats["@vc_news"] = dict(channel)
    api.chats[chat_id] = dict(channel)
