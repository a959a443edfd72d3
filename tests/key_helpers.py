"""Tests' short way to ask "does this key work?": the owner ``KeyService.verify_key`` finds,
or None when it refuses the key."""

from __future__ import annotations

from bot.services.keys import KeyOwner, KeyService
from storage.db import Database


async def verify_key(db: Database, key: str, *, now: int | None = None) -> KeyOwner | None:
    return (await KeyService(db).verify_key(key, now=now)).owner
