"""Faults in storage: the database locked by another writer, 1,000 concurrent quota spends,
and units held by work that a killed process never finished."""

from __future__ import annotations

import asyncio

import pytest

from bot.services import clock
from bot.services.errors import QuotaExceeded
from bot.services.quota import QuotaService
from bot.services.recovery import give_back_interrupted
from bot.services.users import UserService
from bot.texts import Translator
from bot.tiers import CHAT, FREE, GIF, IMAGE, Limits, default_limits
from handlers.adapters.messenger import TelegramMessenger
from storage.db import Database
from tests.fakes.session import RecordingSession, make_bot
from tests.fault_helpers import locked
from tests.harness import harness

EN = Translator.for_code("en")


async def user_count(db: Database, user_id: int) -> int:
    return await db.fetchval("SELECT COUNT(*) FROM users WHERE id = ?", (user_id,))


async def test_writes_wait_for_another_writer_and_the_loop_keeps_running(tmp_path):
    async with harness(tmp_path) as h:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        ticking = asyncio.create_task(ticker())
        with locked(h.settings.database_path, 1.0) as released:
            # A new user: the sender's row must be written, which waits for the lock.
            answer = asyncio.create_task(h.message(501, "/start"))
            await asyncio.sleep(0.3)
            assert not answer.done() and not h.session.calls
            # Reads are not held up by the waiting writer (WAL lets them through).
            assert await asyncio.wait_for(h.db.fetchval("SELECT COUNT(*) FROM users"), 0.5) == 0
            ticks_while_locked = ticks
        await asyncio.wait_for(answer, 10)
        stop.set()
        await ticking
        assert released.is_set()
        assert ticks_while_locked >= 10  # the event loop was never blocked by the wait
        assert "Hi, User501!" in h.texts()[-1]
        assert await user_count(h.db, 501) == 1


async def test_a_lock_held_past_the_busy_timeout_gets_a_clear_message(tmp_path):
    async with harness(tmp_path) as h:
        h.db.conn.busy_timeout = 0.3
        with locked(h.settings.database_path, 2.0):
            await h.message(502, "/start", language_code="ru")
        assert h.texts() == [Translator.for_code("ru")("error.db_busy")]
        assert await user_count(h.db, 502) == 0  # nothing half-written
        # Once the other writer is gone the same request works.
        await h.message(502, "/start", language_code="ru")
        assert len(h.texts()) == 2 and "User502" in h.texts()[-1]


async def test_a_chat_answer_waits_out_the_lock_and_is_counted_once(tmp_path):
    from tests.llm_mock import MockLLM

    llm = MockLLM("Answer after the lock")
    async with harness(tmp_path, transport=llm.transport(), VISIONCRAFT_API_KEY="vk") as h:
        await h.message(503, "/start")
        with locked(h.settings.database_path, 0.8):
            answer = asyncio.create_task(h.message(503, "hello"))
            await asyncio.sleep(0.2)
            assert not answer.done()
        await asyncio.wait_for(answer, 10)
        assert h.texts()[-1] == "Answer after the lock"
        used = await h.db.fetchval("SELECT used FROM usage_daily WHERE user_id = 503")
        assert used == 1
        assert await h.db.fetchval("SELECT COUNT(*) FROM quota_holds") == 0


def limits(chat: int) -> dict[str, Limits]:
    table = default_limits()
    table[FREE] = Limits(daily={CHAT: chat, IMAGE: chat, GIF: chat}, per_minute=-1)
    return table


async def test_1000_concurrent_spends_from_two_connections_never_overspend(tmp_path):
    path = tmp_path / "q.sqlite3"
    first, second = Database(path), Database(path)  # e.g. the bot and the HTTP API
    await first.connect()
    await second.connect()
    try:
        now = clock.now()
        await first.execute(
            "INSERT INTO users (id, first_name, created_at, updated_at) VALUES (7, 'x', ?, ?)",
            (now, now),
        )
        services = [QuotaService(first, limits(300)), QuotaService(second, limits(300))]

        async def one(i: int) -> bool:
            try:
                await services[i % 2].spend(7, CHAT, hold=i % 3 == 0, chat_id=7)
            except QuotaExceeded:
                return False
            return True

        results = await asyncio.gather(*(one(i) for i in range(1000)))
        assert sum(results) == 300
        assert await first.fetchval("SELECT used FROM usage_daily WHERE user_id = 7") == 300
    finally:
        await first.close()
        await second.close()


async def test_1000_concurrent_spends_settled_refunded_or_cut_off_add_up(tmp_path):
    """Every unit ends up counted exactly once: delivered work keeps it, failed work and
    work cut off by a crash give it back."""
    db = await Database(tmp_path / "q.sqlite3").connect()
    try:
        now = clock.now()
        await db.execute(
            "INSERT INTO users (id, first_name, created_at, updated_at) VALUES (8, 'x', ?, ?)",
            (now, now),
        )
        quota = QuotaService(db, limits(-1))

        async def one(i: int) -> None:
            ticket = await quota.spend(8, IMAGE if i % 2 else CHAT, hold=True, chat_id=800)
            await asyncio.sleep(0)
            if i % 4 == 0:
                await ticket.settle()  # delivered
            elif i % 4 == 1:
                await ticket.refund()  # failed
            elif i % 4 == 2:
                await ticket.settle()
                await ticket.refund()  # settled once: refund still gives it back
            # i % 4 == 3: the process "dies" here, the hold stays

        await asyncio.gather(*(one(i) for i in range(1000)))
        spent = await db.fetchval("SELECT SUM(used) FROM usage_daily WHERE user_id = 8")
        assert spent == 250 + 250 + 250 - 250 + 0  # settled + cut off (still held)
        assert await db.fetchval("SELECT COUNT(*) FROM quota_holds") == 250

        # The next start gives back what the dead process held.
        interrupted = await QuotaService(db, limits(-1)).recover()
        assert len(interrupted) == 250
        assert {(i.user_id, i.chat_id) for i in interrupted} == {(8, 800)}
        assert await db.fetchval("SELECT SUM(used) FROM usage_daily WHERE user_id = 8") == 250
        assert await db.fetchval("SELECT COUNT(*) FROM quota_holds") == 0
        assert await QuotaService(db, limits(-1)).recover() == []
    finally:
        await db.close()


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_interrupted_requests_are_given_back_and_the_user_told(tmp_path, lang):
    db = await Database(tmp_path / "r.sqlite3").connect()
    try:
        users = UserService(db)
        await users.touch(9, username=None, first_name="A", last_name=None, language_code=lang)
        quota = QuotaService(db, default_limits())
        await quota.spend(9, CHAT, hold=True, chat_id=9)
        await quota.spend(9, IMAGE, hold=True, chat_id=9)
        await quota.spend(9, IMAGE, hold=True, chat_id=9)  # same chat and kind: told once
        await quota.spend(9, CHAT, hold=True, chat_id=-100500)  # a group
        delivered = await quota.spend(9, CHAT, hold=True, chat_id=9)
        await delivered.settle()

        session = RecordingSession()
        bot = make_bot(session, parse_mode="HTML")
        assert (
            await give_back_interrupted(
                TelegramMessenger(bot), QuotaService(db, default_limits()), users
            )
            == 4
        )
        t = Translator.for_code(lang)
        sent = [(c.chat_id, c.text) for c in session.calls]
        assert sorted(sent) == sorted(
            [
                (9, t("restart.interrupted", kind=t("kind.chat"))),
                (9, t("restart.interrupted", kind=t("kind.image"))),
                (-100500, t("restart.interrupted", kind=t("kind.chat"))),
            ]
        )
        today = {k.kind: k.used for k in await quota.today(9)}
        assert today == {"chat": 1, "image": 0, "gif": 0}  # only the delivered answer
    finally:
        await db.close()


async def test_telling_a_user_who_blocked_the_bot_does_not_stop_the_start(tmp_path):
    db = await Database(tmp_path / "r.sqlite3").connect()
    try:
        users = UserService(db)
        for uid in (10, 11):
            await users.touch(
                uid, username=None, first_name="A", last_name=None, language_code=None
            )
            await QuotaService(db, default_limits()).spend(uid, CHAT, hold=True, chat_id=uid)
        session = RecordingSession()
        session.blocked_chats.add(10)
        bot = make_bot(session, parse_mode="HTML")
        assert (
            await give_back_interrupted(
                TelegramMessenger(bot), QuotaService(db, default_limits()), users
            )
            == 2
        )
        assert [c.chat_id for c in session.calls if c not in session.failed_calls] == [11]
        assert await db.fetchval("SELECT COUNT(*) FROM quota_holds") == 0
    finally:
        await db.close()
