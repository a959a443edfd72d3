"""Conversations as topics of a private chat, /persona, /history with export, and the
migration of memory stored before conversations had threads."""

from __future__ import annotations

import sqlite3

from aiogram.methods import (
    CreateForumTopic,
    EditForumTopic,
    SendDocument,
    SendMessage,
)

from storage import sqlite as sqlite_module
from storage.db import Database
from storage.migrations import LATEST, migrate, schema_version
from tests.harness import Harness, harness
from tests.llm_mock import MockLLM

USER = 11


def topics_on(h: Harness) -> None:
    h.session.bot_user["has_topics_enabled"] = True


async def in_topic(h: Harness, text: str, thread: int) -> None:
    await h.message(USER, text, message_thread_id=thread, is_topic_message=True)


def asked(llm: MockLLM, index: int) -> list[str]:
    return [m["content"] for m in llm.calls[index].messages[1:]]


async def test_two_topics_keep_separate_memories(tmp_path) -> None:
    llm = MockLLM()
    llm.queue("A1", "B1", "A2")
    async with harness(tmp_path, transport=llm.transport()) as h:
        topics_on(h)
        a = h.session.make_topic(USER, "Cooking")
        b = h.session.make_topic(USER, "Physics")
        await in_topic(h, "pasta?", a)
        await in_topic(h, "gravity?", b)
        await in_topic(h, "and sauce?", a)
        assert asked(llm, 1) == ["gravity?"]
        assert asked(llm, 2) == ["pasta?", "A1", "and sauce?"]
        answers = h.session.calls_of(SendMessage)
        assert [c.message_thread_id for c in answers] == [a, b, a]


async def test_new_opens_a_topic_named_from_its_first_question(tmp_path) -> None:
    llm = MockLLM()
    llm.queue("Before.", "Paris.", "Yes.")
    async with harness(tmp_path, transport=llm.transport()) as h:
        topics_on(h)
        await h.message(USER, "remember me")
        await h.message(USER, "/new")
        [created] = h.session.calls_of(CreateForumTopic)
        assert created.chat_id == USER
        [(chat, thread)] = list(h.session.topics)
        assert chat == USER
        greeting = h.session.calls_of(SendMessage)[-1]
        assert greeting.message_thread_id == thread and "new conversation" in greeting.text
        await in_topic(h, "What is the capital of France?", thread)
        [named] = h.session.calls_of(EditForumTopic)
        assert named.name == "What is the capital of France?"
        assert h.session.topics[(USER, thread)]["name"] == named.name
        await in_topic(h, "sure?", thread)
        assert len(h.session.calls_of(EditForumTopic)) == 1  # named once
        # the old conversation is kept, the new one starts empty
        assert asked(llm, 1) == ["What is the capital of France?"]
        rows = await h.db.fetchall("SELECT thread_id, COUNT(*) FROM messages GROUP BY thread_id")
        assert sorted(tuple(r) for r in rows) == [(0, 2), (thread, 4)]


async def test_new_without_topics_forgets_as_before(tmp_path) -> None:
    llm = MockLLM()
    llm.queue("One.", "Two.")
    async with harness(tmp_path, transport=llm.transport()) as h:
        await h.message(USER, "first")
        await h.message(USER, "/new")
        await h.message(USER, "second")
        assert h.session.calls_of(CreateForumTopic) == []
        assert asked(llm, 1) == ["second"]


async def test_new_when_telegram_refuses_the_topic_forgets_instead(tmp_path) -> None:
    llm = MockLLM()
    llm.queue("One.", "Two.")
    async with harness(tmp_path, transport=llm.transport()) as h:
        topics_on(h)
        await h.message(USER, "first")
        h.session.fail_next(CreateForumTopic, description="Bad Request: the chat is not a forum")
        await h.message(USER, "/new")
        assert "forgotten our conversation" in h.session.calls_of(SendMessage)[-1].text
        await h.message(USER, "second")
        assert asked(llm, 1) == ["second"]


async def test_deleted_topic_takes_its_memory_with_it(tmp_path) -> None:
    llm = MockLLM()
    llm.queue("Kept.", "Gone.", "Lost.")
    async with harness(tmp_path, transport=llm.transport()) as h:
        topics_on(h)
        keep = h.session.make_topic(USER, "Keep")
        gone = h.session.make_topic(USER, "Gone")
        await in_topic(h, "keep this", keep)
        await in_topic(h, "secret", gone)
        h.session.delete_topic(USER, gone)
        await in_topic(h, "late message", gone)  # answering fails: the topic is gone
        rows = await h.db.fetchall("SELECT thread_id, content FROM messages ORDER BY id")
        assert [r["thread_id"] for r in rows] == [keep, keep]
        assert (
            await h.db.fetchval("SELECT COUNT(*) FROM conversations WHERE thread_id = ?", (gone,))
            == 0
        )
        used = await h.db.fetchval("SELECT used FROM usage_daily WHERE user_id = ?", (USER,))
        assert used == 2  # the failed answer's unit was given back


async def test_persona_applies_to_one_conversation(tmp_path) -> None:
    llm = MockLLM()
    llm.queue("Code.", "Plain.")
    async with harness(tmp_path, transport=llm.transport()) as h:
        topics_on(h)
        a = h.session.make_topic(USER, "A")
        b = h.session.make_topic(USER, "B")
        await in_topic(h, "/persona", a)
        menu = h.session.calls_of(SendMessage)[-1]
        assert "Assistant" in menu.text
        buttons = [b.callback_data for row in menu.reply_markup.inline_keyboard for b in row]
        assert buttons == ["prs:assistant", "prs:coder", "prs:translator", "prs:tutor"]
        # pressed on the menu, which was sent into topic A
        await h.feed(h.session.make_callback(USER, "prs:coder"))
        persona = await h.db.fetchval("SELECT persona FROM conversations WHERE thread_id = ?", (a,))
        assert persona == "coder"
        await in_topic(h, "sort a list", a)
        await in_topic(h, "hello", b)
        assert "software engineer" in llm.calls[0].messages[0]["content"]
        assert "software engineer" not in llm.calls[1].messages[0]["content"]


async def test_persona_unknown_key_is_refused(tmp_path) -> None:
    async with harness(tmp_path) as h:
        await h.feed(h.session.make_callback(USER, "prs:pirate"))
        alert = h.session.calls[-1]
        assert "no longer offered" in alert.text
        assert await h.db.fetchval("SELECT COUNT(*) FROM conversations") == 0


async def test_history_lists_and_exports_a_conversation(tmp_path) -> None:
    llm = MockLLM()
    llm.queue("Main answer.", "Topic **answer**.")
    async with harness(tmp_path, transport=llm.transport()) as h:
        topics_on(h)
        thread = h.session.make_topic(USER, "Physics")
        await h.message(USER, "main question")
        await in_topic(h, "topic question", thread)
        await h.db.execute(
            "UPDATE conversations SET title = 'Physics' WHERE thread_id = ?", (thread,)
        )
        await h.message(USER, "/history")
        listing = h.session.calls_of(SendMessage)[-1]
        assert "Physics" in listing.text and "Main chat" in listing.text
        assert "2 messages" in listing.text
        data = [b.callback_data for row in listing.reply_markup.inline_keyboard for b in row]
        assert f"hst:{thread}" in data
        await h.feed(h.session.make_callback(USER, f"hst:{thread}"))
        [doc] = h.session.calls_of(SendDocument)
        [(_, _, body)] = [u for u in h.session.uploads if u[0] is doc]
        text = body.decode()
        assert text.startswith("# Physics\n")
        assert "## You\n\ntopic question" in text and "Topic **answer**." in text
        assert "main question" not in text
        assert doc.document.filename == "Physics.md"


async def test_history_export_of_another_users_conversation_is_refused(tmp_path) -> None:
    llm = MockLLM()
    llm.queue("Private answer.")
    async with harness(tmp_path, transport=llm.transport()) as h:
        await h.message(USER, "my secret")
        await h.feed(h.session.make_callback(99, "hst:0"))  # someone else forging the button
        assert h.session.calls_of(SendDocument) == []
        assert "gone" in h.session.calls[-1].text


async def test_history_with_nothing_yet(tmp_path) -> None:
    async with harness(tmp_path) as h:
        await h.message(USER, "/history")
        assert "No conversations yet" in h.session.calls_of(SendMessage)[-1].text


async def test_memory_made_before_the_migration_is_kept(tmp_path) -> None:
    path = tmp_path / "old.sqlite3"
    # The schema just before conversations (every migration but the last), with memory in it.
    before = await sqlite_module.connect(path)
    await migrate(before, target=LATEST - 1)
    await before.close()
    raw = sqlite3.connect(path)
    assert "thread_id" not in {r[1] for r in raw.execute("PRAGMA table_info(messages)")}
    raw.executescript(
        "INSERT INTO messages (scope, role, content, model, created_at) VALUES"
        " (11, 'user', 'hello', NULL, 100), (11, 'assistant', 'hi!', 'm', 100),"
        " (-100, 'user', 'group q', NULL, 200), (-100, 'assistant', 'group a', 'm', 300);"
    )
    raw.commit()
    raw.close()
    db = await Database(path).connect()  # migrates
    try:
        assert await schema_version(db.conn) == LATEST
        rows = await db.fetchall("SELECT scope, thread_id, content FROM messages ORDER BY id")
        assert [tuple(r) for r in rows] == [
            (11, 0, "hello"),
            (11, 0, "hi!"),
            (-100, 0, "group q"),
            (-100, 0, "group a"),
        ]
        convs = await db.fetchall(
            "SELECT scope, thread_id, created_at, last_used_at FROM conversations ORDER BY scope"
        )
        assert [tuple(r) for r in convs] == [(-100, 0, 200, 300), (11, 0, 100, 100)]
        assert await migrate(db.conn) == LATEST  # idempotent
    finally:
        await db.close()
    llm = MockLLM()
    llm.queue("Again.")
    async with harness(tmp_path, transport=llm.transport(), DATABASE_PATH=str(path)) as h:
        await h.message(USER, "still there?")
        assert asked(llm, 0) == ["hello", "hi!", "still there?"]


def test_both_of_telegrams_words_for_a_deleted_topic_are_understood() -> None:
    from aiogram.exceptions import TelegramBadRequest
    from aiogram.methods import SendMessage as Send

    from handlers.adapters.chat_front import thread_gone

    def error(text: str) -> TelegramBadRequest:
        return TelegramBadRequest(method=Send(chat_id=1, text="x"), message=text)

    assert thread_gone(error("Bad Request: message thread not found"))
    assert thread_gone(error("Bad Request: TOPIC_DELETED"))
    assert not thread_gone(error("Bad Request: chat not found"))
