from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import pytest

from bot.clients.upstream import new_http_client
from bot.config import Settings
from storage.db import Database
from tests.fakes.upstream import FakeUpstream, ScriptedUpstream

if TYPE_CHECKING:
    from tests.fakes.bot_api import FakeBotAPI

T = TypeVar("T")

TOKEN = "123456:TESTTOKENtesttokenTESTTOKENtesttoken12"

# The tests never talk to the real services: make sure nothing from a developer's .env or
# shell leaks into a test's settings.
for _name in list(os.environ):
    if _name in {"BOT_TOKEN", "TELEGRAM_API_URL", "DATABASE_PATH", "REQUIRED_CHANNEL"}:
        del os.environ[_name]


async def wait_until(condition: Callable[[], object], timeout: float = 20.0) -> None:  # noqa: ASYNC109
    """Poll ``condition`` (state of a fake or of the code under test) until it is true; the
    bound only turns a hang into a failure, nothing is timed."""
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - polling state that has no event to wait on
            await asyncio.sleep(0.005)


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


# How long the fake Bot API holds an idle getUpdates. aiogram asks for a 10 s long poll, and
# the fake records a getUpdates call only when it returns: held that long, a bot's first poll
# would be recorded just as ``wait_for``'s default 10 s run out.
FAKE_POLL_SECONDS = 0.5


@pytest.fixture
async def telegram() -> AsyncIterator[FakeBotAPI]:
    """The fake Bot API on 127.0.0.1 accepting ``TOKEN``; an idle long poll is answered (empty)
    within ``FAKE_POLL_SECONDS``. A module that needs another fake builds its own, saying why."""
    from tests.fakes.bot_api import FakeBotAPI  # aiogram's types: imported by the tests using it

    async with FakeBotAPI(token=TOKEN, max_poll_timeout=FAKE_POLL_SECONDS) as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


# -- engines. A module marked ``both_engines`` runs each test that takes ``db`` twice: on
# SQLite, and on PostgreSQL when TEST_DATABASE_URL names a server (each test run creates its
# own database ``t_<random>`` there and drops it at the end). Without the variable the
# PostgreSQL variants are skipped with one line; with it, a server that can't be reached is
# an error, never a skip (CI sets it and must not pass without PostgreSQL).
ENGINES = ("sqlite", "postgresql")
PG_SKIP = "PostgreSQL: TEST_DATABASE_URL is not set"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "engine" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_engines"):
        metafunc.parametrize("engine", ENGINES, indirect=True)


# .ci/run sets REQUIRE_POSTGRES=1 (CI has the server): there a PostgreSQL test that was
# skipped fails the run instead of passing quietly on SQLite alone.
_pg_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and PG_SKIP in str(report.longrepr):
        _pg_skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("REQUIRE_POSTGRES") == "1" and _pg_skipped:
        print(
            f"\nerror: REQUIRE_POSTGRES=1 but {len(_pg_skipped)} PostgreSQL tests were skipped "
            "(set TEST_DATABASE_URL)"
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> str:
    """The engine of this test's ``db``: "sqlite" unless the module runs on both."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str | None]:
    """A fresh PostgreSQL database for this test run (None without TEST_DATABASE_URL)."""
    from tests.pg_helpers import create_database, drop_database

    base = os.environ.get("TEST_DATABASE_URL", "").strip()
    if not base:
        yield None
        return
    url = _run_aside(create_database(base))
    try:
        yield url
    finally:
        _run_aside(drop_database(base, url))


def _run_aside(work: Coroutine[Any, Any, T]) -> T:
    """Run ``work`` on a loop of its own in another thread: this fixture may be first asked
    for from inside a test's running loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, work).result()


@pytest.fixture
def pg_url(pg_server_url: str | None) -> str:
    """The run's PostgreSQL database URL; the test is skipped without one."""
    if pg_server_url is None:
        pytest.skip(PG_SKIP)
    return pg_server_url


@pytest.fixture
async def db(
    tmp_path: Path, engine: str, request: pytest.FixtureRequest
) -> AsyncIterator[Database]:
    if engine == "postgresql":
        from tests.pg_helpers import empty_database

        url = request.getfixturevalue("pg_url")
        database: Database = await empty_database(url)
    else:
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
