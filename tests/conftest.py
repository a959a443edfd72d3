from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.clients.upstream import new_http_client
from bot.config import Settings
from storage.db import Database
from tests.fakes.upstream import FakeUpstream, ScriptedUpstream

TOKEN = "123456:TESTTOKENtesttokenTESTTOKENtesttoken12"

# The tests never talk to the real services: make sure nothing from a developer's .env or
# shell leaks into a test's settings.
for _name in list(os.environ):
    if _name in {"BOT_TOKEN", "TELEGRAM_API_URL", "DATABASE_PATH", "REQUIRED_CHANNEL"}:
        del os.environ[_name]


def make_settings(tmp_path: Path, **env: str) -> Settings:
    base = {
        "BOT_TOKEN": TOKEN,
        "DATABASE_PATH": str(tmp_path / "db" / "bot.sqlite3"),
        "TELEGRAM_API_URL": "http://127.0.0.1:9",
        "VISIONCRAFT_API_URL": "http://127.0.0.1:9",
        "NEBULA_API_URL": "http://127.0.0.1:9/v1",
    }
    base.update(env)
    return Settings.from_env(base)


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    """Fake VisionCraft and Nebula Block on 127.0.0.1 (a module that needs other replies
    defines its own ``upstream``)."""
    async with FakeUpstream() as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(tmp_path / "db" / "bot.sqlite3")
    await database.connect()
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedUpstream]:
    """A server on 127.0.0.1 answering with ``scripted.responder(request)`` (see
    :class:`ScriptedUpstream`)."""
    async with ScriptedUpstream() as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """The production HTTP client (the one ``Clients.create`` builds), closed after the test."""
    client = new_http_client(user_agent="visioncraft-bot-tests")
    try:
        yield client
    finally:
        await client.aclose()


# Tests against a real Redis run when TEST_REDIS_URL names one (.ci/run sets it); without it
# they are skipped with this reason, which .ci/run looks for to fail a CI run that skipped them.
REDIS_SKIP_REASON = "TEST_REDIS_URL is not set: tests against a real Redis skipped"


@pytest.fixture
async def redis_url() -> str:
    """TEST_REDIS_URL, once Redis answered there (the test is skipped when it is unset; a URL
    that is set but does not answer fails the test instead: a CI run must not skip them)."""
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip(REDIS_SKIP_REASON)
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        await client.ping()  # type: ignore[misc]
    except Exception as exc:
        pytest.fail(f"TEST_REDIS_URL is set but Redis does not answer there: {exc}")
    finally:
        await client.aclose()
    return url


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    from redis.asyncio import Redis

    prefix = f"test-{secrets.token_hex(6)}:"
    yield prefix
    client = Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
