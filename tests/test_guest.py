"""Guest mode through the real dispatcher and the fake Telegram: a ``guest_message`` is
answered once with ``answerGuestQuery`` (safe HTML, cut to one message), charged as one chat
unit, and every refusal goes back the same way."""

from __future__ import annotations

from typing import Any

import pytest
from aiogram.methods import AnswerGuestQuery, SendMessage

from tests.fakes.telegram_rules import check_guest_answer, parse_html
from tests.harness import Harness, harness
from tests.llm_mock import MockLLM

USER = 21


@pytest.fixture
def llm() -> MockLLM:
    return MockLLM()


async def used_chat(h: Harness) -> int:
    return int(
        await h.db.fetchval(
            "SELECT COALESCE(SUM(used), 0) FROM usage_daily WHERE user_id = ? AND kind = 'chat'",
            (USER,),
        )
    )


def guest_answers(h: Harness) -> list[dict[str, Any]]:
    """What Telegram accepted, in wire form (the fake refuses what Telegram refuses)."""
    return [result for result in h.session.guest_queries.values() if result is not None]


def shown(result: dict[str, Any]) -> str:
    content = result["input_message_content"]
    return content["message_text"]


async def test_guest_question_is_answered_once_as_an_article(tmp_path, llm) -> None:
    llm.queue("**Paris** is the capital & <largest> city.")
    async with harness(tmp_path, transport=llm.transport()) as h:
        update = h.session.make_guest_message(USER, "@test_bot capital of France?")
        await h.feed(update)
        assert llm.calls[0].messages[-1] == {"role": "user", "content": "capital of France?"}
        [result] = guest_answers(h)
        call = h.session.last(AnswerGuestQuery)
        assert call.guest_query_id == update["guest_message"]["guest_query_id"]
        assert result["type"] == "article" and result["title"] == "Answer from the AI"
        assert result["input_message_content"]["parse_mode"] == "HTML"
        assert shown(result) == "<b>Paris</b> is the capital &amp; &lt;largest&gt; city."
        button = result["reply_markup"]["inline_keyboard"][0][0]
        assert button["url"] == "https://t.me/test_bot"
        assert await used_chat(h) == 1
        # Nothing is sent to the guest chat otherwise, and nothing is remembered from it.
        assert h.session.calls_of(SendMessage) == []
        assert await h.db.fetchval("SELECT COUNT(*) FROM messages") == 0


async def test_long_answer_is_cut_with_a_link_to_the_private_chat(tmp_path, llm) -> None:
    llm.queue(("A long paragraph of words. " * 40 + "\n\n") * 10)  # ~10800 characters
    async with harness(tmp_path, transport=llm.transport()) as h:
        await h.feed(h.session.make_guest_message(USER, "tell me everything @test_bot"))
        [result] = guest_answers(h)
        text = parse_html(shown(result)).text
        assert len(text) <= 4096
        assert text.endswith("(the answer is longer: continue in our private chat)")
        assert result["reply_markup"]["inline_keyboard"][0][0]["text"].startswith("💬")
        assert check_guest_answer(result) is None


async def test_reply_is_quoted_and_alone_it_is_the_question(tmp_path, llm) -> None:
    async with harness(tmp_path, transport=llm.transport()) as h:
        quoted = h.session.make_message(99, "The meeting moved to Friday.", chat_id=-1009000000001)
        reply = quoted["message"]
        await h.feed(
            h.session.make_guest_message(USER, "@test_bot translate to French", reply_to=reply)
        )
        first = llm.calls[0].messages[-1]["content"]
        assert "The meeting moved to Friday." in first and first.endswith("translate to French")
        await h.feed(h.session.make_guest_message(USER, "@test_bot", reply_to=reply))
        assert llm.calls[1].messages[-1]["content"] == "The meeting moved to Friday."


async def test_mention_alone_explains_and_charges_nothing(tmp_path, llm) -> None:
    async with harness(tmp_path, transport=llm.transport()) as h:
        await h.feed(h.session.make_guest_message(USER, "@test_bot", language_code="ru"))
        [result] = guest_answers(h)
        assert "после моего @username" in shown(result)
        assert llm.calls == [] and await used_chat(h) == 0


async def test_upstream_failure_is_answered_and_refunded(tmp_path, llm) -> None:
    llm.queue(500, 500, 500, 500)
    async with harness(tmp_path, transport=llm.transport()) as h:
        await h.feed(h.session.make_guest_message(USER, "@test_bot hi"))
        [result] = guest_answers(h)
        assert "did not finish the answer" in shown(result)
        assert await used_chat(h) == 0


async def test_upstream_unavailable_goes_through_the_error_router(tmp_path, llm) -> None:
    llm.queue(401)
    async with harness(tmp_path, transport=llm.transport()) as h:
        await h.feed(h.session.make_guest_message(USER, "@test_bot hi"))
        [result] = guest_answers(h)
        assert shown(result) and result["title"]
        assert await used_chat(h) == 0


async def test_quota_refusal_is_answered_in_the_guest_chat(tmp_path, llm) -> None:
    async with harness(tmp_path, transport=llm.transport(), QUOTA_FREE_CHAT="1") as h:
        await h.feed(h.session.make_guest_message(USER, "@test_bot one"))
        await h.feed(h.session.make_guest_message(USER, "@test_bot two"))
        first, second = guest_answers(h)
        assert shown(first) == "Hello from the model!"
        assert "quota" in shown(second).lower() or "limit" in shown(second).lower()
        assert len(llm.calls) == 1 and await used_chat(h) == 1
        # Answered through the guest query, never as a message in a chat the bot is not in.
        assert h.session.calls_of(SendMessage) == []


async def test_burst_limit_applies_to_guest_questions(tmp_path, llm) -> None:
    async with harness(tmp_path, transport=llm.transport(), RATE_FREE_PER_MINUTE="1") as h:
        await h.feed(h.session.make_guest_message(USER, "@test_bot one"))
        await h.feed(h.session.make_guest_message(USER, "@test_bot two"))
        first, second = guest_answers(h)
        assert shown(first) == "Hello from the model!"
        assert shown(second) != shown(first) and len(llm.calls) == 1


async def test_banned_user_gets_the_blocked_answer(tmp_path, llm) -> None:
    async with harness(tmp_path, transport=llm.transport()) as h:
        await h.feed(h.session.make_guest_message(USER, "@test_bot one"))
        await h.db.execute("UPDATE users SET is_banned = 1 WHERE id = ?", (USER,))
        await h.feed(h.session.make_guest_message(USER, "@test_bot two"))
        second = guest_answers(h)[1]
        assert "blocked" in shown(second).lower()
        assert len(llm.calls) == 1


async def test_html_refused_by_telegram_is_sent_as_plain_text(tmp_path, llm) -> None:
    async with harness(tmp_path, transport=llm.transport()) as h:
        h.session.fail_next(
            AnswerGuestQuery, status=400, description="Bad Request: can't parse entities: x"
        )
        await h.feed(h.session.make_guest_message(USER, "@test_bot hi"))
        [result] = guest_answers(h)
        assert shown(result) == "Hello from the model!"
        assert "parse_mode" not in result["input_message_content"]


# -- the fake refuses what Telegram refuses ---------------------------------------------------


def article(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "article",
        "id": "a1",
        "title": "t",
        "input_message_content": {"message_text": text, "parse_mode": "HTML"},
        **extra,
    }


@pytest.mark.parametrize(
    ("result", "problem"),
    [
        ("nope", "can't parse result"),
        ({**article("x"), "type": "poll"}, "RESULT_TYPE_INVALID"),
        ({**article("x"), "id": "x" * 65}, "RESULT_ID_INVALID"),
        ({**article("x"), "title": " "}, "RESULT_TITLE_EMPTY"),
        ({"type": "article", "id": "a", "title": "t"}, "MESSAGE_EMPTY"),
        (article("x" * 4097), "message is too long"),
        (article("<b>open"), "can't parse entities"),
        (article(""), "message text is empty"),
        (
            article("x", reply_markup={"inline_keyboard": [[{"text": "b"}]]}),
            "Text buttons are unallowed",
        ),
    ],
)
def test_fake_checks_guest_answers(result: Any, problem: str) -> None:
    assert problem in (check_guest_answer(result) or "")


async def test_fake_takes_one_answer_per_guest_query(tmp_path) -> None:
    async with harness(tmp_path) as h:
        update = h.session.make_guest_message(USER, "@test_bot x")
        query_id = update["guest_message"]["guest_query_id"]
        ok = h.session.emulate(
            "answerGuestQuery", {"guest_query_id": query_id, "result": article("a")}
        )
        again = h.session.emulate(
            "answerGuestQuery", {"guest_query_id": query_id, "result": article("a")}
        )
        unknown = h.session.emulate(
            "answerGuestQuery", {"guest_query_id": "gq999", "result": article("a")}
        )
        assert ok[0] == 200 and ok[1]["result"]["inline_message_id"]
        assert again[0] == 400 and unknown[0] == 400
        assert "query ID is invalid" in again[1]["description"]


async def test_the_bot_asks_telegram_for_guest_messages(tmp_path) -> None:
    # Polling and setWebhook pass resolve_used_update_types(): without a guest_message
    # handler Telegram would never send them.
    async with harness(tmp_path) as h:
        assert "guest_message" in h.dp.resolve_used_update_types()
