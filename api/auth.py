"""Who is calling: a user's key, looked up by its SHA-256 hash in one read.

* no key, a malformed or unknown key, a revoked (or replaced) key -> 401;
* a key switched off because its owner left the channel, or whose owner is banned -> 403
  saying why (rejoining the channel switches the same key on again: the bot does that).

Nothing here is cached: the key's state is read for every request, so a key stops working
the moment the bot switches it off. Keys are never logged.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from api.errors import AUTHENTICATION, PERMISSION, ApiError
from bot.services import clock
from bot.services.keys import KEY_PATTERN, LAST_USED_RESOLUTION, hash_key
from bot.tiers import FREE
from storage import api_access
from storage.db import Database
from storage.keys import BANNED, LEFT_CHANNEL, REVOKED

logger = logging.getLogger("api.auth")

__all__ = ["Caller", "Gatekeeper", "bearer_key", "hash_key"]


@dataclass(frozen=True, slots=True)
class Caller:
    user_id: int
    tier: str


def bearer_key(header: str | None) -> str | None:
    """The key from ``Authorization: Bearer <key>`` (None when absent)."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


class Gatekeeper:
    def __init__(
        self,
        db: Database,
        *,
        channel: str | None = None,
        last_used_resolution: int = LAST_USED_RESOLUTION,
        now: Callable[[], int] = clock.now,
    ) -> None:
        self.db = db
        self.channel = channel
        self.last_used_resolution = last_used_resolution
        self._now = now

    async def check(self, key: str | None) -> Caller:
        """The caller behind ``key``; raises ApiError 401/403."""
        if key is None:
            raise ApiError(
                401,
                "You didn't provide an API key. Send it as 'Authorization: Bearer vc_…' "
                "(for /sd and /text2gif: in the 'token' field). Get one with /key in the bot.",
                type=AUTHENTICATION,
                code="missing_api_key",
            )
        if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
            raise _invalid()
        digest = hash_key(key)
        try:
            row = api_access.find_caller(self.db, digest)
        except sqlite3.Error as exc:
            logger.warning("quick key lookup refused (%s); reading the usual way", exc)
            row = await api_access.find_caller_async(self.db, digest)
        if row is None:
            raise _invalid()
        if row.is_banned or row.inactive_reason == BANNED:
            raise ApiError(
                403,
                "This key's owner is banned from the service.",
                type=PERMISSION,
                code="banned",
            )
        if not row.is_active:
            if row.inactive_reason == REVOKED:
                raise ApiError(
                    401,
                    "This API key was revoked by its owner. Get a new one with /key in the bot.",
                    type=AUTHENTICATION,
                    code="revoked_api_key",
                )
            if row.inactive_reason == LEFT_CHANNEL:
                where = self.channel or "the bot's channel"
                raise ApiError(
                    403,
                    f"This key is switched off because its owner is not subscribed to {where}. "
                    "Join the channel again and the same key works again.",
                    type=PERMISSION,
                    code="not_subscribed",
                )
            raise ApiError(403, "This API key is switched off.", type=PERMISSION, code="inactive")
        now = self._now()
        # last_used_at (shown by /key) is written at most once a minute per key.
        if row.last_used_at is None or row.last_used_at <= now - self.last_used_resolution:
            async with self.db.transaction() as conn:
                await api_access.touch_used(
                    conn,
                    user_id=row.user_id,
                    key_hash=digest,
                    now=now,
                    resolution=self.last_used_resolution,
                )
        tier = row.tier or FREE
        if tier != FREE and row.tier_expires_at is not None and row.tier_expires_at <= now:
            tier = FREE
        return Caller(user_id=row.user_id, tier=tier)


def _invalid() -> ApiError:
    return ApiError(
        401,
        "Incorrect API key provided. Get your key with /key in the bot.",
        type=AUTHENTICATION,
        code="invalid_api_key",
    )
