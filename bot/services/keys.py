"""Personal API keys: issue once, show once, live and die with the channel subscription.

A key is ``vc_`` followed by 40 characters of ``A-Z a-z 0-9`` from :mod:`secrets`. Only its
SHA-256 hash and the first 8 characters (for display) are stored; the plaintext exists in
memory just long enough to be shown once.

No Telegram here: the bot's handlers and the HTTP API (:meth:`KeyService.verify_key`, the one
way a key is checked) share these rules.
Membership itself is decided elsewhere (``bot.services.subscription``) and passed in as a bool.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass, field

from bot.services import clock
from bot.services.errors import UserBanned
from bot.tiers import FREE
from storage import keys as keys_repo
from storage.db import Database
from storage.keys import BANNED, LEFT_CHANNEL, REVOKED, KeyRow

KEY_PREFIX = "vc_"
KEY_BODY_LENGTH = 40
KEY_ALPHABET = string.ascii_letters + string.digits
DISPLAY_PREFIX_LENGTH = 8
# What the HTTP API accepts as a key at all (anything else is rejected without a lookup).
KEY_PATTERN = re.compile(r"vc_[A-Za-z0-9]{32,128}")
# last_used_at is written at most once per this many seconds per key.
LAST_USED_RESOLUTION = 60

__all__ = [
    "BANNED",
    "LEFT_CHANNEL",
    "REVOKED",
    "Change",
    "IssueResult",
    "KeyInfo",
    "KeyOwner",
    "KeyService",
    "KeyStatus",
    "KeyVerdict",
    "Refusal",
    "StaleKeyAction",
    "generate_key",
    "hash_key",
]


def generate_key() -> str:
    return KEY_PREFIX + "".join(secrets.choice(KEY_ALPHABET) for _ in range(KEY_BODY_LENGTH))


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def display_prefix(key: str) -> str:
    return key[:DISPLAY_PREFIX_LENGTH]


class Change(enum.Enum):
    DEACTIVATED = "deactivated"
    REACTIVATED = "reactivated"


class StaleKeyAction(Exception):
    """A confirmation was for a key that has since been replaced or revoked."""


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What may be shown about a key after it was issued (never the key itself)."""

    user_id: int
    prefix: str
    is_active: bool
    reason: str | None  # why inactive: left_channel | revoked | banned
    created_at: int
    last_used_at: int | None

    @classmethod
    def from_row(cls, row: KeyRow, *, banned: bool = False) -> KeyInfo:
        active = row.is_active and not banned
        reason = BANNED if banned else (None if row.is_active else row.inactive_reason)
        return cls(
            user_id=row.user_id,
            prefix=row.prefix,
            is_active=active,
            reason=reason,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
        )


@dataclass(frozen=True, slots=True)
class IssueResult:
    info: KeyInfo
    key: str | None = field(default=None, repr=False)  # set only when just created

    @property
    def created(self) -> bool:
        return self.key is not None


@dataclass(frozen=True, slots=True)
class KeyStatus:
    """A one-line summary for other features (/usage): none | active | inactive."""

    state: str
    reason: str | None = None
    prefix: str | None = None


@dataclass(frozen=True, slots=True)
class KeyOwner:
    user_id: int
    tier: str
    tier_expires_at: int | None


class Refusal(enum.Enum):
    """Why a key may not be used."""

    INVALID = "invalid"  # malformed, unknown, or replaced by a newer key
    REVOKED = "revoked"  # switched off for good by its owner
    NOT_SUBSCRIBED = "not_subscribed"  # the owner left the channel (rejoining switches it on)
    BANNED = "banned"  # the owner is banned
    INACTIVE = "inactive"  # switched off for a reason this version does not know


@dataclass(frozen=True, slots=True)
class KeyVerdict:
    """The answer to "may this key be used?": an owner, or the reason why not."""

    owner: KeyOwner | None
    refusal: Refusal | None = None


class KeyService:
    def __init__(self, db: Database, *, last_used_resolution: int = LAST_USED_RESOLUTION) -> None:
        self.db = db
        self.last_used_resolution = last_used_resolution

    async def get(self, user_id: int) -> KeyInfo | None:
        async with self.db.snapshot() as conn:
            row = await keys_repo.get(conn, user_id)
            banned = await keys_repo.is_banned(conn, user_id)
        return None if row is None else KeyInfo.from_row(row, banned=banned)

    async def key_status(self, user_id: int) -> KeyStatus:
        info = await self.get(user_id)
        if info is None:
            return KeyStatus("none")
        if info.is_active:
            return KeyStatus("active", prefix=info.prefix)
        return KeyStatus("inactive", reason=info.reason, prefix=info.prefix)

    async def issue(self, user_id: int, *, now: int | None = None) -> IssueResult:
        """The user's key: a new one (with its plaintext) if they have none, else the
        existing one's info. Concurrent calls create exactly one key. Raises UserBanned."""
        now = clock.now() if now is None else now
        key = generate_key()
        async with self.db.transaction() as conn:
            if await keys_repo.is_banned(conn, user_id):
                raise UserBanned("banned user asked for a key")
            row = await keys_repo.insert_if_absent(
                conn, user_id=user_id, key_hash=hash_key(key), prefix=display_prefix(key), now=now
            )
            if row is None:
                existing = await keys_repo.get(conn, user_id)
                assert existing is not None
                return IssueResult(KeyInfo.from_row(existing))
        return IssueResult(KeyInfo.from_row(row), key)

    async def regenerate(
        self, user_id: int, *, expected_prefix: str, now: int | None = None
    ) -> IssueResult:
        """Replace the key whose prefix is ``expected_prefix`` with a new active one; the old
        one stops working at once. Raises StaleKeyAction if the key is no longer that one,
        UserBanned for banned users."""
        now = clock.now() if now is None else now
        key = generate_key()
        async with self.db.transaction() as conn:
            if await keys_repo.is_banned(conn, user_id):
                raise UserBanned("banned user asked for a key")
            row = await keys_repo.replace(
                conn,
                user_id=user_id,
                expected_prefix=expected_prefix,
                key_hash=hash_key(key),
                prefix=display_prefix(key),
                now=now,
            )
        if row is None:
            raise StaleKeyAction("the key changed since the confirmation was shown")
        return IssueResult(KeyInfo.from_row(row), key)

    async def revoke(self, user_id: int, *, expected_prefix: str) -> KeyInfo:
        """Switch the key off for good. Raises StaleKeyAction if it is not the expected key
        (or was already revoked)."""
        async with self.db.transaction() as conn:
            if not await keys_repo.revoke(conn, user_id=user_id, expected_prefix=expected_prefix):
                raise StaleKeyAction("the key changed since the confirmation was shown")
            row = await keys_repo.get(conn, user_id)
        assert row is not None
        return KeyInfo.from_row(row)

    async def sync_membership(
        self, user_id: int, member: bool, *, now: int | None = None
    ) -> Change | None:
        """Make the key follow the owner's channel membership. Returns the change made, if
        any (None also when the user has no key, or it is revoked)."""
        now = clock.now() if now is None else now
        async with self.db.transaction() as conn:
            if member:
                changed = await keys_repo.reactivate(
                    conn, user_id=user_id, reason=LEFT_CHANNEL, now=now
                )
            else:
                changed = await keys_repo.deactivate(
                    conn, user_id=user_id, reason=LEFT_CHANNEL, now=now
                )
            if not changed:
                await keys_repo.mark_checked(conn, user_id=user_id, now=now)
        if not changed:
            return None
        return Change.REACTIVATED if member else Change.DEACTIVATED

    async def verify_key(self, key: str, *, now: int | None = None) -> KeyVerdict:
        """Whether ``key`` may be used now, and by whom (with the tier in force); records
        the use (``last_used_at``, at most once per ``last_used_resolution`` seconds).

        One indexed read (no lock of this process taken: it runs for every HTTP API
        request) and, at most once a minute per key, one write. Nothing is cached: a key
        stops working the moment it is switched off."""
        if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
            return KeyVerdict(None, Refusal.INVALID)
        now = clock.now() if now is None else now
        digest = hash_key(key)
        owner = await keys_repo.find_by_hash(self.db, digest)
        if owner is None or not hmac.compare_digest(owner.key_hash, digest):
            return KeyVerdict(None, Refusal.INVALID)
        if owner.is_banned or owner.inactive_reason == BANNED:
            return KeyVerdict(None, Refusal.BANNED)
        if not owner.is_active:
            refusal = {REVOKED: Refusal.REVOKED, LEFT_CHANNEL: Refusal.NOT_SUBSCRIBED}
            return KeyVerdict(None, refusal.get(owner.inactive_reason or "", Refusal.INACTIVE))
        resolution = self.last_used_resolution
        if owner.last_used_at is None or owner.last_used_at <= now - resolution:
            async with self.db.transaction() as conn:
                await keys_repo.touch_used(
                    conn, user_id=owner.user_id, key_hash=digest, now=now, resolution=resolution
                )
        tier, expires = owner.tier or FREE, owner.tier_expires_at
        if tier == FREE or (expires is not None and expires <= now):
            tier, expires = FREE, None
        return KeyVerdict(KeyOwner(user_id=owner.user_id, tier=tier, tier_expires_at=expires))

    # -- for the reconciliation task and notices ------------------------------------------
    # Reads go through a snapshot: no write lock, so they never hold up the HTTP API's writes.
    async def due_for_check(self, *, after_user: int, checked_before: int, limit: int) -> list[int]:
        async with self.db.snapshot() as conn:
            return await keys_repo.due_for_check(
                conn, after_user=after_user, checked_before=checked_before, limit=limit
            )

    async def oldest_due(self, *, checked_before: int, limit: int) -> list[int]:
        async with self.db.snapshot() as conn:
            return await keys_repo.oldest_due(conn, checked_before=checked_before, limit=limit)

    async def oldest_check(self) -> int | None:
        async with self.db.snapshot() as conn:
            return await keys_repo.oldest_check(conn)

    async def count_following(self) -> int:
        """Keys the re-check follows; a count over an index, run off the event loop."""
        rows = await self.db.read_off_loop(keys_repo.COUNT_FOLLOWING)
        return int(rows[0][0])

    async def owner_profile(self, user_id: int) -> tuple[str | None, bool] | None:
        async with self.db.snapshot() as conn:
            return await keys_repo.owner_profile(conn, user_id)

    async def mark_blocked_bot(self, user_id: int) -> None:
        async with self.db.transaction() as conn:
            await keys_repo.mark_blocked_bot(conn, user_id)
