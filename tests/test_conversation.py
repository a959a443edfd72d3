"""Conversation memory in SQLite, trimming, and the model catalogue."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from bot.services.chat import AnswerGate, ChatBusy, ChatRequest, RetryStore, sniff_image
from bot.services.conversation import Conversation, Turn
from bot.services.models import NEBULA_MODELS, ChatModel, ModelCatalog
from storage.db import Database
from tests.conftest import make_settings
from tests.pg_helpers import reopen

# SQLite always; PostgreSQL too when TEST_DATABASE_URL is set (tests/conftest.py).
pytestmark = pytest.mark.both_engines

SYSTEM = "You are a test."


def memory(db: Database, *, messages: int = 20, chars: int = 12_000) -> Conversation:
    return Conversation(db, system_prompt=SYSTEM, max_messages=messages, max_chars=chars)


async def test_exchanges_are_stored_per_scope_and_survive_a_reconnect(tmp_path, db) -> None:
    conv = memory(db)
    await conv.remember(1, "hi", "hello!", model="m")
    await conv.remember(-100, "Ann: hi all", "hi group", model="m")
    await conv.remember(1, "how are you?", "fine", model="m")
    await db.close()

    again = await reopen(db)
    try:
        conv = memory(again)
        assert await conv.history(1) == [
            Turn("user", "hi"),
            Turn("assistant", "hello!"),
            Turn("user", "how are you?"),
            Turn("assistant", "fine"),
        ]
        assert await conv.history(-100) == [
            Turn("user", "Ann: hi all"),
            Turn("assistant", "hi group"),
        ]
        rows = await again.fetchall("SELECT role, model FROM messages WHERE scope = 1 ORDER BY id")
        assert [(r["role"], r["model"]) for r in rows][:2] == [("user", None), ("assistant", "m")]
        assert await conv.forget(1) == 4
        assert await conv.history(1) == []
        assert len(await conv.history(-100)) == 2
    finally:
        await again.close()


async def test_table_keeps_only_the_newest_messages(db) -> None:
    conv = memory(db, messages=6)
    for i in range(10):
        await conv.remember(7, f"q{i}", f"a{i}", model="m")
    history = await conv.history(7)
    assert [t.content for t in history] == ["q7", "a7", "q8", "a8", "q9", "a9"]
    assert await db.fetchval("SELECT COUNT(*) FROM messages WHERE scope = 7") == 6


def test_build_keeps_system_prompt_and_new_message_always() -> None:
    conv = Conversation(None, system_prompt=SYSTEM, max_messages=20, max_chars=1000)  # type: ignore[arg-type]
    huge = "x" * 5000
    assert conv.build([Turn("user", "old"), Turn("assistant", "reply")], huge) == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": huge},
    ]


def test_build_trims_oldest_first_by_chars_and_count() -> None:
    conv = Conversation(None, system_prompt=SYSTEM, max_messages=5, max_chars=100)  # type: ignore[arg-type]
    history = [
        Turn("user", "a" * 40),
        Turn("assistant", "b" * 40),
        Turn("user", "c" * 20),
        Turn("assistant", "d" * 20),
        Turn("user", "e" * 10),
        Turn("assistant", "f" * 10),
    ]
    built = conv.build(history, "new?")
    # budget 100 - 4 = 96: f, e, d, c (60) fit, b (40) would make 100 > 96; 4 turns <= 5 - 1
    assert [m["content"][0] for m in built] == ["Y", "c", "d", "e", "f", "n"]
    assert built[0]["role"] == "system"

    conv.max_messages = 4  # room for 3 earlier turns: d, e, f -> the leading answer is dropped
    built = conv.build(history, "new?")
    assert [m["content"][0] for m in built] == ["Y", "e", "f", "n"]


def test_build_with_an_image_content_list() -> None:
    conv = Conversation(None, system_prompt="", max_messages=10, max_chars=50)  # type: ignore[arg-type]
    content = [
        {"type": "text", "text": "what is it?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 9999}},
    ]
    built = conv.build([Turn("user", "q" * 30), Turn("assistant", "a" * 9)], content)
    assert built == [
        {"role": "user", "content": "q" * 30},
        {"role": "assistant", "content": "a" * 9},
        {"role": "user", "content": content},
    ]


# -- models ----------------------------------------------------------------------------------


class Counter:
    def __init__(self, responder) -> None:
        self.responder = responder
        self.count = 0
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.count += 1
        self.requests.append(request)
        return self.responder(request)


def catalog(tmp_path, db, handler, now: list[float] | None = None, **env: str) -> ModelCatalog:
    settings = make_settings(tmp_path, **env)
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    clock = now if now is not None else [0.0]
    return ModelCatalog(
        http, settings, db, ttl=100, retry_after_failure=10, monotonic=lambda: clock[0]
    )


async def test_catalog_lists_providers_and_caches(tmp_path, db) -> None:
    counter = Counter(lambda r: httpx.Response(200, json=["gpt-x", "llava-1.5-7b-hf", 7, ""]))
    now = [0.0]
    cat = catalog(tmp_path, db, counter, now, NEBULA_API_KEY="nk", VISIONCRAFT_API_KEY="vk")
    models = await cat.models()
    [request] = counter.requests
    assert str(request.url) == "http://127.0.0.1:9/models-llm"
    assert request.headers["authorization"] == "Bearer vk"
    assert models[0] == ChatModel("meta-llama/Llama-3.3-70B-Instruct", "nebula")  # the default
    assert [m.name for m in models if m.provider == "nebula"] == [
        "meta-llama/Llama-3.3-70B-Instruct",
        *[n for n in NEBULA_MODELS if n != "meta-llama/Llama-3.3-70B-Instruct"],
    ]
    assert [m.name for m in models if m.provider == "visioncraft"] == ["gpt-x", "llava-1.5-7b-hf"]
    await cat.models()
    assert counter.count == 1
    now[0] = 150.0
    await cat.models()
    assert counter.count == 2


async def test_catalog_without_nebula_key_and_failing_list(tmp_path, db) -> None:
    counter = Counter(lambda r: httpx.Response(502, text="<html>"))
    now = [0.0]
    cat = catalog(tmp_path, db, counter, now)
    assert await cat.models() == [ChatModel("Llama-3.1-70B-Instruct", "visioncraft")]
    await cat.models()
    assert counter.count == 1  # failures are not retried on every call
    now[0] = 11.0
    counter.responder = lambda r: httpx.Response(200, json=[{"id": "from-dict"}, "plain"])
    names = [m.name for m in await cat.models()]
    assert names == ["Llama-3.1-70B-Instruct", "from-dict", "plain"]
    now[0] = 200.0
    escaped = json.dumps(["ok-model", "half \ud83d", "tab\there", "new\nline"])  # ASCII escapes
    counter.responder = lambda r: httpx.Response(200, text=escaped)
    names = [m.name for m in await cat.models()]
    assert names == ["Llama-3.1-70B-Instruct", "ok-model"]
    now[0] = 400.0
    counter.responder = lambda r: httpx.Response(200, text="not json")
    assert [m.name for m in await cat.models()] == names  # the last good list stays


async def test_for_user_and_choose(tmp_path, db) -> None:
    cat = catalog(tmp_path, db, lambda r: httpx.Response(200, json=["vc-model"]))
    assert cat.for_user(None) == cat.default
    assert cat.for_user("vc-model") == ChatModel("vc-model", "visioncraft")
    # a Nebula model while Nebula is not configured falls back to the default
    assert cat.for_user(NEBULA_MODELS[0]) == cat.default
    assert cat.vision == ChatModel("llava-1.5-7b-hf", "visioncraft")

    await db.execute(
        "INSERT INTO users (id, first_name, created_at, updated_at) VALUES (5, 'A', 0, 0)"
    )
    [vc] = [m for m in await cat.models() if m.name == "vc-model"]
    assert await cat.find(vc.key) == vc
    assert await cat.find("nope") is None
    await cat.choose(5, vc)
    assert await db.fetchval("SELECT chat_model FROM users WHERE id = 5") == "vc-model"
    await cat.choose(5, cat.default)
    assert await db.fetchval("SELECT chat_model FROM users WHERE id = 5") is None


def test_model_keys_fit_callback_data() -> None:
    key = ChatModel("x" * 500, "visioncraft").key
    assert len(key) == 12 and key != ChatModel("x" * 500, "nebula").key


# -- gate, retries, sniffing -----------------------------------------------------------------


async def test_gate_runs_one_answer_at_a_time_and_queues_two() -> None:
    gate = AnswerGate(queue=2)
    order: list[str] = []
    release = asyncio.Event()

    async def job(name: str) -> None:
        async with gate.turn(1):
            order.append(f"start {name}")
            if name == "a":
                await release.wait()
            order.append(f"end {name}")

    first = asyncio.create_task(job("a"))
    await asyncio.sleep(0)
    queued = [asyncio.create_task(job(n)) for n in ("b", "c")]
    await asyncio.sleep(0)
    assert gate.full(1) and not gate.full(2)
    with pytest.raises(ChatBusy):
        async with gate.turn(1):
            pass
    async with gate.turn(2):  # another user is not affected
        pass
    release.set()
    await asyncio.gather(first, *queued)
    assert order == ["start a", "end a", "start b", "end b", "start c", "end c"]
    assert not gate.busy(1)


def test_retry_store_is_bounded() -> None:
    store = RetryStore(size=2, ttl=100)
    req = ChatRequest(user_id=1, chat_id=1, private=True, text="x")
    tokens = [store.put(req) for _ in range(3)]
    assert store.peek(tokens[0]) is None
    assert store.pop(tokens[2]) == req
    assert store.pop(tokens[2]) is None
    expired = RetryStore(ttl=-1)
    assert expired.peek(expired.put(req)) is None


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (b"\xff\xd8\xff\xe0rest", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\nrest", "image/png"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"GIF89a...", None),
        (b"%PDF-1.7", None),
        (b"", None),
    ],
)
def test_sniff_image(data: bytes, mime: str | None) -> None:
    assert sniff_image(data) == mime


async def _held_chat_unit(db: Database):
    from bot.services.quota import QuotaService
    from bot.tiers import default_limits

    await db.execute(
        "INSERT INTO users (id, first_name, created_at, updated_at) VALUES (5, 'u', 0, 0)"
    )
    return await QuotaService(db, default_limits()).spend(5, "chat", hold=True, chat_id=5)


async def test_remember_settles_the_answers_unit_in_the_same_commit(db) -> None:
    ticket = await _held_chat_unit(db)
    assert await db.fetchval("SELECT COUNT(*) FROM quota_holds") == 1
    await memory(db).remember(5, "q", "a", model="m", ticket=ticket)
    assert ticket.hold_id is None
    assert await db.fetchval("SELECT COUNT(*) FROM quota_holds") == 0
    assert await db.fetchval("SELECT used FROM usage_daily WHERE user_id = 5") == 1
    assert [t.content for t in await memory(db).history(5)] == ["q", "a"]


async def test_a_failed_remember_keeps_the_hold_for_the_refund(db, monkeypatch) -> None:
    from storage import chat as chat_repo

    ticket = await _held_chat_unit(db)

    async def broken_prune(*args, **kwargs):
        raise RuntimeError("disk trouble")

    monkeypatch.setattr(chat_repo, "prune", broken_prune)
    with pytest.raises(RuntimeError):
        await memory(db).remember(5, "q", "a", model="m", ticket=ticket)
    assert ticket.hold_id is not None  # rolled back: still held ...
    assert await db.fetchval("SELECT COUNT(*) FROM quota_holds") == 1
    await ticket.refund()  # ... so the refund gives the unit back and drops the hold
    assert await db.fetchval("SELECT COUNT(*) FROM quota_holds") == 0
    assert await db.fetchval("SELECT used FROM usage_daily WHERE user_id = 5") == 0
    assert await memory(db).history(5) == []
