"""The gateway served in-process on 127.0.0.1 against FakeUpstream, with keys seeded in the
database the way /key stores them (SHA-256 hash and prefix only)."""

from __future__ import annotations

import secrets
import ssl
import string
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from api.app import create_app
from api.auth import hash_key
from api.server import protocol_options
from bot.clients import Clients
from bot.config import Settings
from bot.services import clock
from storage.db import Database
from tests.conftest import make_settings
from tests.fakes.upstream import FakeUpstream

OPERATOR_VC_KEY = "operator-visioncraft-secret-0001"
OPERATOR_NEBULA_KEY = "operator-nebula-secret-0002"
NEBULA_MODEL = "meta-llama/Llama-3.3-70B-Instruct"
VC_MODEL = "Llama-3.1-70B-Instruct"  # offered: running_gateway adds it to the fake's list


# Building an SSL context loads the CA bundle (~0.2 s); the tests talk plain HTTP to
# 127.0.0.1, so every client they build shares one context.
_SSL = ssl.create_default_context()


def http_client(**kwargs: Any) -> httpx.AsyncClient:
    kwargs.setdefault("timeout", 20)
    return httpx.AsyncClient(verify=_SSL, **kwargs)


def sdk_client(url: str, key: str, **kwargs: Any) -> Any:
    """The official openai SDK, pointed at a gateway, without its retries."""
    import openai

    kwargs.setdefault("max_retries", 0)
    kwargs.setdefault("timeout", 20)
    return openai.AsyncOpenAI(
        api_key=key,
        base_url=f"{url}/v1",
        http_client=openai.DefaultAsyncHttpxClient(verify=_SSL),
        **kwargs,
    )


def new_key() -> str:
    alphabet = string.ascii_letters + string.digits
    return "vc_" + "".join(secrets.choice(alphabet) for _ in range(40))


async def seed_key(
    db: Database,
    user_id: int,
    *,
    key: str | None = None,
    tier: str | None = None,
    expires_at: int | None = None,
    active: bool = True,
    reason: str | None = None,
    banned: bool = False,
) -> str:
    """A user with a key (as /key stores it) and optionally a tier; returns the key."""
    key = key or new_key()
    now = clock.now()
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO users (id, first_name, is_banned, created_at, updated_at) "
            "VALUES (?, 'Test', ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET is_banned = excluded.is_banned",
            (user_id, int(banned), now, now),
        )
        await conn.execute(
            "INSERT INTO api_keys (user_id, key_hash, prefix, is_active, inactive_reason, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (user_id, hash_key(key), key[:8], int(active), reason, now),
        )
        if tier is not None:
            await conn.execute(
                "INSERT INTO user_tiers (user_id, tier, expires_at, source, updated_at) "
                "VALUES (?, ?, ?, 'grant', ?)",
                (user_id, tier, expires_at, now),
            )
    return key


async def set_key_state(db: Database, user_id: int, *, active: bool, reason: str | None) -> None:
    await db.execute(
        "UPDATE api_keys SET is_active = ?, inactive_reason = ? WHERE user_id = ?",
        (int(active), reason, user_id),
    )


async def used_today(db: Database, user_id: int, kind: str) -> int:
    value = await db.fetchval(
        "SELECT used FROM usage_daily WHERE user_id = ? AND day = ? AND kind = ?",
        (user_id, clock.utc_day(clock.now()), kind),
    )
    return int(value or 0)


def gateway_settings(tmp_path: Path, upstream: FakeUpstream, **env: str) -> Settings:
    base = {
        "VISIONCRAFT_API_URL": upstream.url,
        "VISIONCRAFT_API_KEY": OPERATOR_VC_KEY,
        "NEBULA_API_URL": f"{upstream.url}/v1",
        "NEBULA_API_KEY": OPERATOR_NEBULA_KEY,
        "API_RATE_FREE_PER_SECOND": "-1",
        "API_RATE_TIER1_PER_SECOND": "-1",
        "API_RATE_TIER2_PER_SECOND": "-1",
        "RATE_FREE_PER_MINUTE": "-1",
        "RATE_TIER1_PER_MINUTE": "-1",
        "RATE_TIER2_PER_MINUTE": "-1",
    }
    base.update(env)
    return make_settings(tmp_path, **base)


@dataclass
class RunningGateway:
    url: str
    settings: Settings
    db: Database
    app: web.Application


@asynccontextmanager
async def running_gateway(
    tmp_path: Path, upstream: FakeUpstream, *, app_kwargs: dict[str, Any] | None = None, **env: str
) -> AsyncIterator[RunningGateway]:
    if VC_MODEL not in upstream.llm_models:
        upstream.llm_models.append(VC_MODEL)
    settings = gateway_settings(tmp_path, upstream, **env)
    db = await Database(settings.database_path).connect()
    clients = Clients.create(settings)  # the production HTTP client
    app = create_app(settings, db, clients, **(app_kwargs or {}))
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0, **protocol_options())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield RunningGateway(f"http://127.0.0.1:{port}", settings, db, app)
    finally:
        await runner.cleanup()
        await clients.close()
        await db.close()
