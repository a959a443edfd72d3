"""What an operator gets wrong stops ``python -m bot`` and ``python -m api`` at the start: one
line on stderr naming the variable, exit code 2, nothing half-started.

Nothing here needs a Telegram double: the settings and the database are checked before the
bot says its first word to Telegram, so TELEGRAM_API_URL points at a closed port."""

from __future__ import annotations

import asyncio
import ctypes
import os
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e_helpers import ROOT, clean_env

TOKEN = "555666:E2Etoken-e2eTOKEN_e2etokenE2ETOKEN12"
FRONTS = ("bot", "api")


def _unprivileged() -> None:
    """In the child, before exec: drop root's power to write whatever it likes
    (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER from the bounding set), so
    permission bits bind it as they bind the service account of a real deployment."""
    libc = ctypes.CDLL(None, use_errno=True)
    pr_capbset_drop = 24
    for capability in (1, 2, 3):
        libc.prctl(pr_capbset_drop, capability, 0, 0, 0)


async def run_front(front: str, tmp_path: Path, **env: str) -> tuple[int, list[str]]:
    """Run ``python -m <front>`` until it exits; its exit code and its non-blank stderr lines."""
    base = {
        "TELEGRAM_API_URL": "http://127.0.0.1:9",
        "VISIONCRAFT_API_URL": "http://127.0.0.1:9",
        "NEBULA_API_URL": "http://127.0.0.1:9/v1",
        "DATABASE_PATH": str(tmp_path / "data" / "bot.sqlite3"),
        "API_HOST": "127.0.0.1",
        "API_PORT": "9",
        "LOG_LEVEL": "INFO",
    }
    if front == "bot":
        base["BOT_TOKEN"] = TOKEN
    preexec: Callable[[], None] | None = _unprivileged if os.geteuid() == 0 else None
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        front,
        cwd=tmp_path,
        env={**clean_env({**base, **env}), "PYTHONPATH": str(ROOT)},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=preexec,
    )
    try:
        _, stderr = await asyncio.wait_for(proc.communicate(), 60)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"python -m {front} did not stop") from None
    lines = [line for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    return proc.returncode or 0, lines


def assert_one_line(code: int, lines: list[str], variable: str) -> None:
    assert code == 2, lines
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: {variable}: "), lines


@pytest.mark.parametrize("front", FRONTS)
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CHAT_TOTAL_TIMEOUT", "nan"),
        ("KEY_RECHECK_PER_SECOND", "nan"),
        ("API_RATE_FREE_PER_SECOND", "inf"),
        ("QUOTA_FREE_CHAT", "99999999999999999999"),
        ("SHUTDOWN_TIMEOUT", "nan"),
        ("GENERATION_TIMEOUT", "-inf"),
        ("API_MAX_BODY_BYTES", "1e400"),
        ("RATE_TIER1_PER_MINUTE", "9223372036854775808"),
    ],
)
async def test_bad_numbers_are_one_line_and_exit_2(front, name, value, tmp_path):
    code, lines = await run_front(front, tmp_path, **{name: value})
    assert_one_line(code, lines, name)
    assert not (tmp_path / "data").exists()  # refused before the database was touched


def _make_database(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sqlite3.connect(path).close()


def _read_only_file(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "bot.sqlite3"
    _make_database(path)
    path.chmod(0o444)
    return path


def _read_only_folder(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "bot.sqlite3"
    _make_database(path)
    path.parent.chmod(0o555)
    return path


def _folder(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "bot.sqlite3"
    path.mkdir(parents=True)
    return path


@pytest.mark.parametrize("front", FRONTS)
@pytest.mark.parametrize("make", [_read_only_file, _read_only_folder, _folder])
async def test_a_database_that_cannot_be_written_stops_the_start(front, make, tmp_path):
    path = make(tmp_path)
    try:
        code, lines = await run_front(front, tmp_path, DATABASE_PATH=str(path))
    finally:
        path.parent.chmod(0o755)
    assert_one_line(code, lines, "DATABASE_PATH")
    assert str(path) in lines[0]


@pytest.mark.parametrize("front", FRONTS)
async def test_a_malformed_api_host_is_one_line_and_exit_2(front, tmp_path):
    code, lines = await run_front(front, tmp_path, API_HOST="not a host!")
    assert_one_line(code, lines, "API_HOST")


async def test_an_address_this_machine_does_not_have_names_api_host(tmp_path):
    # 192.0.2.0/24 is reserved for documentation: never a local address, no network used.
    code, lines = await run_front("api", tmp_path, API_HOST="192.0.2.1", API_PORT="8000")
    assert_one_line(code, lines, "API_HOST")
    assert "192.0.2.1" in lines[0]
