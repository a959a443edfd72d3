"""The background re-check: keys catch up with membership changes missed while the bot was down."""

from __future__ import annotations

import asyncio

import pytest

from bot.services.keys import Change, KeyService
from bot.services.reconcile import KeyReconciler
from bot.services.subscription import MembershipUnavailable
from storage.db import Database
from tests.key_helpers import verify_key
from tests.test_keys_service import NOW, add_user

# SQLite always; PostgreSQL too when TEST_DATABASE_URL is set (tests/conftest.py).
pytestmark = pytest.mark.both_engines


class FakeMembership:
    """Membership answers from a set; ``broken`` makes every check raise."""

    def __init__(self, members: set[int]) -> None:
        self.members = members
        self.broken = False
        self.calls: list[int] = []
        self.called = asyncio.Event()

    async def is_member(self, user_id: int) -> bool:
        self.calls.append(user_id)
        self.called.set()
        if self.broken:
            raise MembershipUnavailable("bot is not an admin")
        return user_id in self.members


class Clock:
    def __init__(self, now: int) -> None:
        self.value = now

    def __call__(self) -> int:
        return self.value


@pytest.fixture
async def keys(db: Database) -> KeyService:
    for uid in range(1, 6):
        await add_user(db, uid)
    return KeyService(db)


def reconciler(keys, membership, notices, clock, **kw) -> KeyReconciler:
    async def notify(user_id: int, change: Change) -> None:
        notices.append((user_id, change))

    return KeyReconciler(
        keys, membership, notify, per_second=10_000, interval=3600, now=clock, **kw
    )


async def test_reconciliation_after_missed_updates(keys: KeyService, db: Database):
    issued = {uid: await keys.issue(uid, now=NOW) for uid in (1, 2, 3, 4)}
    await keys.sync_membership(3, False, now=NOW)  # left earlier, was switched off
    await keys.revoke(4, expected_prefix=issued[4].info.prefix)
    # While the bot was down: 2 left, 3 came back.
    membership = FakeMembership({1, 3, 4})
    notices: list = []
    clock = Clock(NOW + 3600)
    rec = reconciler(keys, membership, notices, clock)

    assert await rec.run_once() == 3
    assert sorted(membership.calls) == [1, 2, 3]  # a revoked key is not followed
    assert sorted(notices, key=lambda n: n[0]) == [(2, Change.DEACTIVATED), (3, Change.REACTIVATED)]
    assert await verify_key(db, issued[1].key) is not None
    assert await verify_key(db, issued[2].key) is None
    assert await verify_key(db, issued[3].key) is not None
    assert await verify_key(db, issued[4].key) is None

    # everything was just checked: nothing is due until the interval has passed again
    membership.calls.clear()
    assert await rec.run_once() == 0
    assert membership.calls == []
    clock.value += 3600
    assert await rec.run_once() == 3


async def test_keys_checked_recently_are_not_due(keys: KeyService):
    await keys.issue(1, now=NOW)
    await keys.issue(2, now=NOW)
    await keys.sync_membership(2, True, now=NOW + 3000)  # e.g. a /key re-check
    membership = FakeMembership({1, 2})
    rec = reconciler(keys, membership, [], Clock(NOW + 3600))
    assert await rec.run_once() == 1
    assert membership.calls == [1]


async def test_many_keys_are_walked_in_batches(db: Database):
    keys = KeyService(db)
    for uid in range(1, 251):
        await add_user(db, uid)
        await keys.issue(uid, now=NOW)
    membership = FakeMembership(set(range(1, 251, 2)))
    notices: list = []
    rec = reconciler(keys, membership, notices, Clock(NOW + 3600))
    assert await rec.run_once() == 250
    assert membership.calls == list(range(1, 251))
    assert len(notices) == 125
    assert await db.fetchval("SELECT COUNT(*) FROM api_keys WHERE is_active = 1") == 125


async def test_unavailable_channel_switches_nothing_off(keys: KeyService, db: Database):
    issued = await keys.issue(1, now=NOW)
    membership = FakeMembership(set())
    membership.broken = True
    notices: list = []
    rec = reconciler(keys, membership, notices, Clock(NOW + 3600))
    with pytest.raises(MembershipUnavailable):
        await rec.run_once()
    assert notices == []
    assert await verify_key(db, issued.key) is not None


async def test_started_task_checks_and_stops_cleanly(keys: KeyService, db: Database):
    issued = await keys.issue(1, now=NOW)
    membership = FakeMembership(set())
    notices: list = []
    done = asyncio.Event()

    async def notify(user_id: int, change: Change) -> None:
        notices.append((user_id, change))
        done.set()

    rec = KeyReconciler(
        keys, membership, notify, per_second=50, interval=3600, now=Clock(NOW + 3600)
    )
    rec.start()
    await asyncio.wait_for(done.wait(), 10)
    await asyncio.wait_for(rec.stop(), 10)
    assert notices == [(1, Change.DEACTIVATED)]
    assert await verify_key(db, issued.key) is None
    await rec.stop()  # twice is fine


async def test_task_backs_off_when_unavailable_and_still_stops(keys: KeyService):
    await keys.issue(1, now=NOW)
    membership = FakeMembership(set())
    membership.broken = True
    rec = reconciler(keys, membership, [], Clock(NOW + 3600), unavailable_backoff=3600)
    rec.start()
    await asyncio.wait_for(membership.called.wait(), 10)
    # It is now sleeping for an hour; stop() must not wait for that.
    await asyncio.wait_for(rec.stop(), 10)
    assert membership.calls == [1]


async def test_notices_in_the_owners_language_and_blocked_users(db: Database):
    from bot.services.messenger import DeliveryError, RecipientGone, Unreachable
    from bot.services.reconcile import KeyNotifier
    from bot.services.subscription import Channel

    class StubMessenger:
        def __init__(self, errors: dict[int, DeliveryError]) -> None:
            self.errors = errors
            self.sent: list[tuple[int, str]] = []

        async def send(self, chat_id: int, text: str, *, keyboard: object = None) -> int:
            if chat_id in self.errors:
                raise self.errors[chat_id]
            self.sent.append((chat_id, text))
            return len(self.sent)

        async def edit(self, chat_id: int, message_id: int, text: str) -> None:
            raise AssertionError("not used")

    keys = KeyService(db)
    await add_user(db, 1)
    await add_user(db, 2)
    await add_user(db, 3)
    await db.execute("UPDATE users SET language_code = 'ru' WHERE id = 1")
    bot = StubMessenger(
        {
            2: RecipientGone("Forbidden: bot was blocked by the user"),
            3: Unreachable("connection reset", server=False),
        }
    )
    notify = KeyNotifier(bot, keys, Channel.from_setting("@vc_news"))

    await notify(1, Change.DEACTIVATED)
    await notify(2, Change.DEACTIVATED)  # 403: marked, not raised
    await notify(3, Change.REACTIVATED)  # other failures: logged, not raised
    await notify(99, Change.REACTIVATED)  # unknown user: nothing
    assert len(bot.sent) == 1
    assert bot.sent[0][0] == 1 and "@vc_news" in bot.sent[0][1] and "отключён" in bot.sent[0][1]
    assert await db.fetchval("SELECT blocked_bot FROM users WHERE id = 2") == 1
    assert await db.fetchval("SELECT blocked_bot FROM users WHERE id = 3") == 0

    # a user known to have blocked the bot is not tried again
    bot.errors.clear()
    await notify(2, Change.REACTIVATED)
    assert [uid for uid, _ in bot.sent] == [1]
