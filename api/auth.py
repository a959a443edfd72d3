"""Who is calling: a user's key, checked by ``KeyService.verify_key`` (the bot's own rules, one
indexed read by the key's SHA-256 hash), its verdict told the OpenAI way:

* no key, a malformed or unknown key, a revoked (or replaced) key -> 401;
* a key switched off because its owner left the channel, or whose owner is banned -> 403
  saying why (rejoining the channel switches the same key on again: the bot does that).

Nothing here is cached: the key's state is read for every request, so a key stops working
the moment the bot switches it off. Keys are never logged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from api.errors import AUTHENTICATION, PERMISSION, ApiError
from bot.services import clock
from bot.services.keys import LAST_USED_RESOLUTION, KeyService, Refusal, hash_key
from storage.db import Database

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
        self.keys = KeyService(db, last_used_resolution=last_used_resolution)
        self.channel = channel
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
        verdict = await self.keys.verify_key(key, now=self._now())
        if verdict.owner is not None:
            return Caller(user_id=verdict.owner.user_id, tier=verdict.owner.tier)
        refusal = verdict.refusal
        if refusal is Refusal.BANNED:
            raise ApiError(
                403,
                "This key's owner is banned from the service.",
                type=PERMISSION,
                code="banned",
            )
        if refusal is Refusal.REVOKED:
            raise ApiError(
                401,
                "This API key was revoked by its owner. Get a new one with /key in the bot.",
                type=AUTHENTICATION,
                code="revoked_api_key",
            )
        if refusal is Refusal.NOT_SUBSCRIBED:
            where = self.channel or "the bot's channel"
            raise ApiError(
                403,
                f"This key is switched off because its owner is not subscribed to {where}. "
                "Join the channel again and the same key works again.",
                type=PERMISSION,
                code="not_subscribed",
            )
        if refusal is Refusal.INACTIVE:
            raise ApiError(403, "This API key is switched off.", type=PERMISSION, code="inactive")
        raise _invalid()


def _invalid() -> ApiError:
    return ApiError(
        401,
        "Incorrect API key provided. Get your key with /key in the bot.",
        type=AUTHENTICATION,
        code="invalid_api_key",
    )
