"""API key rules without Telegram: issue once, regenerate, revoke, follow membership, verify."""

from __future__ import annotations

import asyncio
import re

import pytest

from bot.services.errors import UserBanned
from bot.services.keys import (
    Change,
    KeyService,
    StaleKeyAction,
    generate_key,
    hash_key,
)
from storage.db import Database
from tests.key_helpers import verify_key

# SQLite always; PostgreSQL too when TEST_DATABASE_URL is set (tests/conftest.py).
pytestmark = pytest.mark.both_engines

NOW = 1_750_000_000


async def add_user(db: Database, user_id: int, *, banned: bool = False) -> None:
    await db.execute(
        "INSERT INTO users (id, first_name, is_banned, created_at, updated_at) "
        "VALUES (?, 'U', ?, ?, ?)",
        (user_id, int(banned), NOW, NOW),
    )


@pytest.fixture
async def keys(db: Database) -> KeyService:
    await add_user(db, 1)
    await add_user(db, 2)
    return KeyService(db)


def test_generated_keys_have_the_documented_format():
    seen = set()
    for _ in range(500):
        key = generate_key()
        assert re.fullmatch(r"vc_[A-Za-z0-9]{32,}", key), key
        assert "-" not in key
        seen.add(key)
    assert len(seen) == 500
    assert len(hash_key("vc_x")) == 64


async def test_issue_once_then_only_status(keys: KeyService):
    first = await keys.issue(1, now=NOW)
    assert first.created and first.key is not None
    assert first.info.prefix == first.key[:8] and first.info.is_active
    assert first.key not in repr(first)

    again = await keys.issue(1, now=NOW + 5)
    assert not again.created and again.key is None
    assert again.info.prefix == first.info.prefix
    assert again.info.created_at == NOW


async def test_concurrent_issue_creates_exactly_one_key(keys: KeyService, db: Database):
    results = await asyncio.gather(*(keys.issue(1) for _ in range(25)))
    created = [r for r in results if r.created]
    assert len(created) == 1
    assert await db.fetchval("SELECT COUNT(*) FROM api_keys WHERE user_id = 1") == 1
    assert await verify_key(db, created[0].key) is not None


async def test_only_hash_and_prefix_are_stored_nowhere_the_plaintext(
    keys: KeyService, db: Database
):
    first = await keys.issue(1, now=NOW)
    second = await keys.regenerate(1, expected_prefix=first.info.prefix, now=NOW + 1)
    row = await db.fetchone("SELECT * FROM api_keys WHERE user_id = 1")
    assert row["key_hash"] == hash_key(second.key)
    assert row["prefix"] == second.key[:8]
    if db.engine == "postgresql":  # no file to read: every stored value of every key row
        rows = await db.fetchall("SELECT row_to_json(k)::text FROM api_keys AS k")
        data = "".join(r[0] for r in rows).encode()
        assert hash_key(second.key).encode() in data
        for plaintext in (first.key, second.key):
            assert plaintext[8:].encode() not in data
        return

    files = [db.path, db.path.with_name(db.path.name + "-wal")]
    data = b"".join(p.read_bytes() for p in files if p.exists())
    assert db.path.with_name(db.path.name + "-wal").exists()
    assert hash_key(second.key).encode() in data  # we are reading the right files
    for plaintext in (first.key, second.key):
        assert plaintext.encode() not in data
        assert plaintext[8:].encode() not in data  # not even the secret part

    await db.close()  # checkpoints the WAL into the main file
    data = db.path.read_bytes()
    for plaintext in (first.key, second.key):
        assert plaintext[8:].encode() not in data


async def test_regenerate_kills_the_old_key_at_once(keys: KeyService, db: Database):
    old = await keys.issue(1, now=NOW)
    assert await verify_key(db, old.key, now=NOW) is not None
    new = await keys.regenerate(1, expected_prefix=old.info.prefix, now=NOW + 10)
    assert new.key != old.key and new.info.is_active
    assert new.info.created_at == NOW + 10 and new.info.last_used_at is None
    assert await verify_key(db, old.key, now=NOW + 11) is None
    owner = await verify_key(db, new.key, now=NOW + 11)
    assert owner is not None and owner.user_id == 1


async def test_a_stale_confirmation_touches_nothing(keys: KeyService, db: Database):
    old = await keys.issue(1, now=NOW)
    new = await keys.regenerate(1, expected_prefix=old.info.prefix)
    with pytest.raises(StaleKeyAction):
        await keys.regenerate(1, expected_prefix=old.info.prefix)
    with pytest.raises(StaleKeyAction):
        await keys.revoke(1, expected_prefix=old.info.prefix)
    assert await verify_key(db, new.key) is not None


async def test_regenerate_without_a_key_is_stale(keys: KeyService):
    with pytest.raises(StaleKeyAction):
        await keys.regenerate(2, expected_prefix="vc_abcde")


async def test_revoke_for_good_until_a_new_key(keys: KeyService, db: Database):
    issued = await keys.issue(1, now=NOW)
    info = await keys.revoke(1, expected_prefix=issued.info.prefix)
    assert not info.is_active and info.reason == "revoked"
    assert await verify_key(db, issued.key) is None
    with pytest.raises(StaleKeyAction):  # twice
        await keys.revoke(1, expected_prefix=issued.info.prefix)
    # rejoining the channel does not bring a revoked key back
    assert await keys.sync_membership(1, True) is None
    assert await verify_key(db, issued.key) is None
    # /key shows the revoked key, without a new one
    again = await keys.issue(1)
    assert not again.created and again.info.reason == "revoked"
    assert (await keys.key_status(1)).state == "inactive"
    # "New key" replaces it
    new = await keys.regenerate(1, expected_prefix=issued.info.prefix)
    assert await verify_key(db, new.key) is not None


async def test_leave_and_rejoin(keys: KeyService, db: Database):
    issued = await keys.issue(1, now=NOW)
    assert await keys.sync_membership(1, False, now=NOW + 1) is Change.DEACTIVATED
    assert await keys.sync_membership(1, False, now=NOW + 2) is None  # already off
    assert await verify_key(db, issued.key) is None
    status = await keys.key_status(1)
    assert (status.state, status.reason) == ("inactive", "left_channel")

    assert await keys.sync_membership(1, True, now=NOW + 3) is Change.REACTIVATED
    assert await keys.sync_membership(1, True, now=NOW + 4) is None
    assert await verify_key(db, issued.key) is not None
    assert await db.fetchval("SELECT checked_at FROM api_keys WHERE user_id = 1") == NOW + 4


async def test_membership_of_a_user_without_key_changes_nothing(keys: KeyService, db: Database):
    assert await keys.sync_membership(2, False) is None
    assert await keys.sync_membership(2, True) is None
    assert await db.fetchval("SELECT COUNT(*) FROM api_keys") == 0
    assert (await keys.key_status(2)).state == "none"


async def test_banned_users_can_neither_get_nor_use_a_key(keys: KeyService, db: Database):
    issued = await keys.issue(1)
    await add_user(db, 3, banned=True)
    with pytest.raises(UserBanned):
        await keys.issue(3)
    assert await db.fetchval("SELECT COUNT(*) FROM api_keys WHERE user_id = 3") == 0

    await db.execute("UPDATE users SET is_banned = 1 WHERE id = 1")
    assert await verify_key(db, issued.key) is None
    status = await keys.key_status(1)
    assert (status.state, status.reason) == ("inactive", "banned")
    with pytest.raises(UserBanned):
        await keys.regenerate(1, expected_prefix=issued.info.prefix)

    await db.execute("UPDATE users SET is_banned = 0 WHERE id = 1")
    assert await verify_key(db, issued.key) is not None


@pytest.mark.parametrize(
    "candidate",
    ["", "vc_", "vc_short", "VC_" + "a" * 40, "vc_" + "a" * 39 + "-", "sk-" + "a" * 40, None, 42],
)
async def test_verify_rejects_malformed_keys(keys: KeyService, db: Database, candidate):
    await keys.issue(1)
    assert await verify_key(db, candidate) is None


async def test_verify_unknown_key(keys: KeyService, db: Database):
    await keys.issue(1)
    assert await verify_key(db, generate_key()) is None


async def test_verify_returns_owner_tier_and_records_use(keys: KeyService, db: Database):
    issued = await keys.issue(1, now=NOW)
    verdict = await keys.verify_key(issued.key, now=NOW + 100)
    owner = verdict.owner
    assert owner is not None and verdict.refusal is None
    assert (owner.user_id, owner.tier, owner.tier_expires_at) == (1, "free", None)
    assert (await keys.get(1)).last_used_at == NOW + 100

    # within a minute the use is not written again; after it, it is
    await keys.verify_key(issued.key, now=NOW + 130)
    assert (await keys.get(1)).last_used_at == NOW + 100
    await keys.verify_key(issued.key, now=NOW + 160)
    assert (await keys.get(1)).last_used_at == NOW + 160

    await db.execute(
        "INSERT INTO user_tiers (user_id, tier, expires_at, source, updated_at) "
        "VALUES (1, 'tier2', ?, 'payment', ?)",
        (NOW + 1000, NOW),
    )
    owner = (await keys.verify_key(issued.key, now=NOW + 200)).owner
    assert (owner.tier, owner.tier_expires_at) == ("tier2", NOW + 1000)
    owner = (await keys.verify_key(issued.key, now=NOW + 1000)).owner  # expired
    assert (owner.tier, owner.tier_expires_at) == ("free", None)


async def test_keys_of_different_users_are_separate(keys: KeyService, db: Database):
    one = await keys.issue(1)
    two = await keys.issue(2)
    await keys.sync_membership(1, False)
    assert await verify_key(db, one.key) is None
    owner = await verify_key(db, two.key)
    assert owner is not None and owner.user_id == 2
