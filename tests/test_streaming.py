"""Answer writers against the RecordingSession (which refuses what Telegram refuses)."""

from __future__ import annotations

import asyncio
import random

import pytest
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import DeleteMessage, EditMessageText, SendMessage, SendMessageDraft

from bot.services.markdown import render, split_markdown
from handlers.adapters.streaming import DraftWriter, EditWriter
from tests.conftest import wait_until
from tests.fakes.session import RecordingSession, make_bot
from tests.fakes.telegram_rules import parse_html

CHAT = 77


def setup() -> tuple[RecordingSession, object]:
    session = RecordingSession()
    return session, make_bot(session, parse_mode="HTML")


async def settle(session: RecordingSession, method: type, count: int = 1) -> None:
    """Let the pump run until ``count`` calls of ``method`` were made (bounded, not timed)."""
    await wait_until(lambda: len(session.calls_of(method)) >= count, timeout=10)


def shown(session: RecordingSession) -> list[str]:
    return [parse_html(c.text).text for c in session.calls_of(SendMessage)]


async def test_previews_are_throttled() -> None:
    session, bot = setup()
    writer = DraftWriter(bot, CHAT, interval=1000, draft_id=5, typing=False)
    await writer.start()
    writer.append("first")
    await settle(session, SendMessageDraft)
    for i in range(200):
        writer.append(f" {i}")
        await asyncio.sleep(0)
    await writer.finish()
    assert len(session.calls_of(SendMessageDraft)) == 1  # one per interval, the rest skipped
    assert session.last(SendMessageDraft).draft_id == 5
    assert shown(session) == ["first " + " ".join(str(i) for i in range(200))]


async def test_no_text_is_lost_or_repeated_while_parts_are_cut() -> None:
    rng = random.Random(11)
    words = ["word", "**bold**", "`x<y`", "\n", "\n\n", "```py\n", "\n```\n", "&", "😀"]
    text = " ".join(rng.choice(words) for _ in range(2500))
    expected = [parse_html(render(piece)).text for piece in split_markdown(text, 700)]
    expected = [visible for visible in expected if visible.strip()]
    assert len(expected) > 5
    for writer_cls in (DraftWriter, EditWriter):
        session, bot = setup()
        writer = writer_cls(bot, CHAT, interval=0, typing=False, limit=700)
        await writer.start()
        position = 0
        while position < len(text):
            step = rng.randint(1, 300)
            writer.append(text[position : position + step])
            position += step
            await asyncio.sleep(0)
        delivered = await writer.finish()
        assert writer.text == text
        # what each delivered message finally shows, in order: exactly the split answer
        final = [session.messages[(CHAT, m.message_id)]["text"] for m in delivered]
        assert final == expected, writer_cls.__name__


async def test_group_writer_edits_then_continues_in_new_messages() -> None:
    session, bot = setup()
    writer = EditWriter(bot, CHAT, interval=1000, reply_to=3, typing=False, limit=1000)
    await writer.start()
    writer.append("Short start. ")
    await settle(session, SendMessage)
    writer.append("\n\n".join("p" * 400 for _ in range(6)))
    delivered = await writer.finish()
    first = session.calls_of(SendMessage)[0]
    assert first.text == "Short start." and first.reply_parameters.message_id == 3
    edit = session.last(EditMessageText)
    assert edit.message_id == delivered[0].message_id
    assert parse_html(edit.text).text.startswith("Short start.")
    assert len(delivered) >= 3
    later = session.calls_of(SendMessage)[1:]
    assert all(c.reply_parameters is None for c in later)


async def test_group_writer_survives_a_deleted_message() -> None:
    session, bot = setup()
    writer = EditWriter(bot, CHAT, interval=1000, typing=False)
    await writer.start()
    writer.append("Hello")
    await settle(session, SendMessage)
    session.fail_next(EditMessageText, description="Bad Request: message to edit not found")
    writer.append(" world")
    delivered = await writer.finish()
    assert [parse_html(c.text).text for c in session.calls_of(SendMessage)] == [
        "Hello",
        "Hello world",
    ]
    assert len(delivered) == 1


async def test_discard_removes_the_group_preview() -> None:
    session, bot = setup()
    writer = EditWriter(bot, CHAT, interval=1000, typing=False)
    await writer.start()
    writer.append("partial")
    await settle(session, SendMessage)
    await writer.discard()
    assert session.deleted_messages == {(CHAT, session.last(DeleteMessage).message_id)}


async def test_draft_refused_means_no_more_drafts_but_the_answer_arrives() -> None:
    session, bot = setup()
    writer = DraftWriter(bot, CHAT, interval=0, typing=False)
    await writer.start()
    session.fail_next(SendMessageDraft, description="Bad Request: TEXTDRAFT_PEER_INVALID")
    writer.append("one")
    await wait_until(lambda: session.calls_of(SendMessageDraft, include_failed=True), timeout=10)
    writer.append(" two")
    await writer.finish()
    assert session.calls_of(SendMessageDraft) == []
    assert shown(session) == ["one two"]


async def test_flood_wait_beyond_the_session_middleware_is_waited_out() -> None:
    session, bot = setup()  # make_bot has no RetryAfterMiddleware: the writer must cope
    writer = DraftWriter(bot, CHAT, interval=0, typing=False)
    await writer.start()
    session.fail_next(SendMessage, retry_after=1)
    writer.append("still delivered")
    await writer.finish()
    assert shown(session) == ["still delivered"]
    assert len(session.calls_of(SendMessage, include_failed=True)) == 2


async def test_refused_formatting_then_a_flood_wait_still_delivers_plain_text() -> None:
    session, bot = setup()
    writer = DraftWriter(bot, CHAT, interval=0, typing=False)
    await writer.start()
    session.fail_next(
        SendMessage, description="Bad Request: can't parse entities: unexpected end tag"
    )
    session.fail_next(SendMessage, retry_after=1)
    writer.append("**bold** answer")
    await writer.finish()
    sent = session.calls_of(SendMessage, include_failed=True)
    assert len(sent) == 3  # HTML refused, plain text told to wait, plain text delivered
    assert sent[0].parse_mode != sent[-1].parse_mode and sent[-1].parse_mode is None
    assert session.calls_of(SendMessage)[-1].text == "**bold** answer"


async def test_a_refusal_other_than_formatting_is_not_retried_as_plain_text() -> None:
    session, bot = setup()
    writer = DraftWriter(bot, CHAT, interval=0, typing=False)
    await writer.start()
    session.fail_next(SendMessage, description="Bad Request: chat not found")
    writer.append("lost chat")
    with pytest.raises(TelegramBadRequest, match="chat not found"):  # reaches the caller
        await writer.finish()
    assert len(session.calls_of(SendMessage, include_failed=True)) == 1


async def test_typing_stops_at_the_first_text() -> None:
    session, bot = setup()
    writer = DraftWriter(bot, CHAT, interval=0)
    await writer.start()
    await settle(session, "sendChatAction")
    writer.append("hi")
    await settle(session, SendMessageDraft)
    actions = len(session.calls_of("sendChatAction"))
    await writer.finish()
    assert len(session.calls_of("sendChatAction")) == actions
    assert session.last("sendChatAction").action == "typing"
