"""Chat, photos and /model through the real dispatcher (RecordingSession + MockLLM)."""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

import pytest
from aiogram.methods import (
    AnswerCallbackQuery,
    DeleteMessage,
    EditMessageReplyMarkup,
    EditMessageText,
    SendChatAction,
    SendMessage,
    SendMessageDraft,
    SendRichMessage,
)

from bot.clients.openai_compat import RetryPolicy
from tests.conftest import wait_until
from tests.fakes.telegram_rules import parse_html
from tests.fakes.upstream import make_png
from tests.harness import Harness, harness
from tests.llm_mock import Gated, MockLLM, broken_after, garbage

GROUP = -1001000000001
USER = 11


async def used_chat(h: Harness, user_id: int = USER) -> int:
    return int(
        await h.db.fetchval(
            "SELECT COALESCE(SUM(used), 0) FROM usage_daily WHERE user_id = ? AND kind = 'chat'",
            (user_id,),
        )
    )


def answers(h: Harness, chat_id: int = USER) -> list[str]:
    return [c.text for c in h.session.calls_of(SendMessage) if c.chat_id == chat_id]


def mention(text: str, username: str = "test_bot") -> list[dict[str, Any]]:
    start = text.index(f"@{username}")
    return [{"type": "mention", "offset": start, "length": len(username) + 1}]


@pytest.fixture
def llm() -> MockLLM:
    return MockLLM()


# -- private chat ----------------------------------------------------------------------------


async def test_private_text_streams_through_drafts_and_is_sent(tmp_path, llm) -> None:
    gated = Gated(before=["**Hello** ", "there, "], after=["Tom & Jerry `a < b`"])
    llm.queue(gated)
    async with harness(tmp_path, transport=llm.transport(), VISIONCRAFT_API_KEY="vk-1") as h:
        task = asyncio.create_task(h.message(USER, "Hi <bot>!"))
        await wait_until(lambda: h.session.calls_of(SendMessageDraft))
        gated.release.set()
        await task

        draft = h.session.calls_of(SendMessageDraft)[0]
        assert draft.chat_id == USER and draft.can_stop is True and draft.draft_id > 0
        assert draft.text.startswith("<b>Hello</b>")
        # The text was there at once: no "typing…" was needed (see the next test).
        assert h.session.calls_of(SendChatAction) == []
        assert answers(h) == ["<b>Hello</b> there, Tom &amp; Jerry <code>a &lt; b</code>"]

        [call] = llm.calls
        assert call.url == "http://127.0.0.1:9/v1/chat/completions"
        assert call.headers["authorization"] == "Bearer vk-1"
        assert call.body["model"] == "Llama-3.1-70B-Instruct"
        assert call.body["stream"] is True
        assert call.body["max_tokens"] == 4096  # not VisionCraft's default of 512
        assert call.messages[0]["role"] == "system"
        assert call.messages[1:] == [{"role": "user", "content": "Hi <bot>!"}]
        assert await used_chat(h) == 1


async def test_an_emoji_cut_between_two_events_arrives_whole_and_is_remembered(
    tmp_path, llm
) -> None:
    # A provider escaping everything outside ASCII, cutting the emoji's two halves apart.
    gated = Gated(before=["Smile \ud83d"], after=["\ude00, then a lone \udc00."])
    gated.release.set()
    llm.queue(gated, "Again.")
    async with harness(tmp_path, transport=llm.transport()) as h:
        await h.message(USER, "hi")
        await h.message(USER, "more")
    assert answers(h) == ["Smile \U0001f600, then a lone \ufffd.", "Again."]
    assert llm.calls[1].messages[-2] == {
        "role": "assistant",
        "content": "Smile \U0001f600, then a lone \ufffd.",
    }


async def test_typing_shows_while_the_first_token_is_awaited(tmp_path, llm) -> None:
    gated = Gated(before=[], after=["Late ", "answer."])
    llm.queue(gated)
    async with harness(tmp_path, transport=llm.transport(), VISIONCRAFT_API_KEY="vk-1") as h:
        task = asyncio.create_task(h.message(USER, "Think hard"))
        await wait_until(lambda: h.session.calls_of(SendChatAction))
        assert not h.session.calls_of(SendMessageDraft)
        gated.release.set()
        await task
        [action] = h.session.calls_of(SendChatAction)
        assert action.action == "typing" and action.chat_id == USER
        assert answers(h) == ["Late answer."]


async def test_memory_across_turns_and_new(tmp_path, llm) -> None:
    llm.queue("First answer.", "Second answer.", "Fresh.")
    async with harness(tmp_path, transport=llm.transport()) as h:
        await h.message(USER, "one")
        await h.message(USER, "/chat two")
        await h.message(USER, "/new")
        await h.message(USER, "three")
        assert [m["content"] for m in llm.calls[1].messages[1:]] == [
            "one",
            "First answer.",
            "two",
        ]
        assert [m["content"] for m in llm.calls[2].messages[1:]] == ["three"]
        assert "forgotten our conversation" in answers(h)[2]
        assert await used_chat(h) == 3


async def test_nebula_model_chosen_with_model_picker(tmp_path, llm) -> None:
    llm.models = [f"vc-{i}" for i in range(6)]  # 5 Nebula + 6 VisionCraft: two pages
    async with harness(tmp_path, transport=llm.transport(), NEBULA_API_KEY="nk-2") as h:
        await h.message(USER, "/model")
        picker = h.session.last(SendMessage)
        assert "meta-llama/Llama-3.3-70B-Instruct" in picker.text
        buttons = [b for row in picker.reply_markup.inline_keyboard for b in row]
        assert buttons[0].text.startswith("✅ ")
        coder = next(b for b in buttons if "Qwen2.5-Coder" in b.text)
        assert all(len(b.callback_data.encode()) <= 64 for b in buttons)
        more = next(b for b in buttons if b.text == "More ▶️")

        await h.feed(h.session.make_callback(USER, more.callback_data))
        page2 = h.session.last(EditMessageText)
        assert "vc-5" in str(page2.reply_markup) and "Back" in str(page2.reply_markup)

        await h.feed(h.session.make_callback(USER, coder.callback_data))
        assert "Qwen/Qwen2.5-Coder-32B-Instruct" in h.session.last(EditMessageText).text
        stored = await h.db.fetchval("SELECT chat_model FROM users WHERE id = ?", (USER,))
        assert stored == "Qwen/Qwen2.5-Coder-32B-Instruct"

        await h.message(USER, "write code")
        call = llm.calls[-1]
        assert call.url == "http://127.0.0.1:9/v1/chat/completions"  # NEBULA_API_URL + path
        assert call.headers["authorization"] == "Bearer nk-2"
        assert call.body["model"] == "Qwen/Qwen2.5-Coder-32B-Instruct"

        await h.feed(h.session.make_callback(USER, "mdl:set:0:000000000000"))
        alert = h.session.last(AnswerCallbackQuery)
        assert alert.show_alert and "no longer offered" in alert.text


async def test_long_answer_is_split_into_valid_messages(tmp_path, llm) -> None:
    code = "\n".join(f"print({i})  # <{i}> & more" for i in range(400))
    llm.queue("Intro *text*.\n\n```python\n" + code + "\n```\n\nDone **now**.")
    llm.chunk_size = 500
    # the text path (rich answers off; with them on this is one rich message)
    async with harness(tmp_path, transport=llm.transport(), RICH_MESSAGES="0") as h:
        await h.message(USER, "code please")
        sent = answers(h)
        assert len(sent) >= 3
        shown = [parse_html(text).text for text in sent]  # RecordingSession also checked them
        assert shown[0].startswith("Intro text.")
        assert shown[-1].endswith("Done now.")
        assert all(text.count("<pre>") == text.count("</pre>") for text in sent)
        stored = await h.db.fetchval(
            "SELECT content FROM messages WHERE role = 'assistant' AND scope = ?", (USER,)
        )
        assert code in stored


async def test_entity_parse_failure_falls_back_to_plain_text(tmp_path, llm) -> None:
    llm.queue("Some **bold** answer")
    async with harness(tmp_path, transport=llm.transport()) as h:
        h.session.fail_next(
            SendMessage, description="Bad Request: can't parse entities: unexpected end tag"
        )
        await h.message(USER, "hi")
        final = h.session.last(SendMessage)
        assert final.text == "Some **bold** answer" and final.parse_mode is None


async def test_flood_wait_on_the_final_message_is_honoured(tmp_path, llm) -> None:
    llm.queue("patience")
    async with harness(tmp_path, transport=llm.transport()) as h:
        h.session.fail_next(SendMessage, retry_after=1)
        await h.message(USER, "hi")
        assert answers(h) == ["patience"]
        assert len(h.session.calls_of(SendMessage, include_failed=True)) == 2


async def test_stop_button_cancels_upstream_and_keeps_the_partial_answer(tmp_path, llm) -> None:
    gated = Gated(before=["Partial ", "answer"], after=["never sent"])
    llm.queue(gated)
    async with harness(tmp_path, transport=llm.transport()) as h:
        task = asyncio.create_task(h.message(USER, "tell me a long story"))
        await gated.started.wait()
        await wait_until(lambda: h.session.calls_of(SendMessageDraft))
        draft = h.session.last(SendMessageDraft)
        await h.feed(
            {
                "update_id": 9001,
                "stopped_message_generation": {
                    "chat": {"id": USER, "type": "private", "first_name": "U"},
                    "draft_id": draft.draft_id,
                },
            }
        )
        await task
        await asyncio.wait_for(gated.closed.wait(), 5)
        assert not gated.finished
        assert answers(h) == ["Partial answer"]
        rows = await h.db.fetchall("SELECT role, content FROM messages ORDER BY id")
        assert [(r["role"], r["content"]) for r in rows] == [
            ("user", "tell me a long story"),
            ("assistant", "Partial answer"),
        ]
        assert await used_chat(h) == 1


async def test_stop_before_any_text_refunds(tmp_path, llm) -> None:
    gated = Gated(before=[])
    llm.queue(gated)
    async with harness(tmp_path, transport=llm.transport()) as h:
        task = asyncio.create_task(h.message(USER, "hi"))
        await gated.started.wait()
        service = h.dp.workflow_data["chat_service"]
        await wait_until(lambda: service.stops._events)
        [(chat_id, draft_id)] = list(service.stops._events)
        assert service.stop(chat_id, draft_id)
        await task
        assert answers(h) == ["⏹ Stopped."]
        assert await used_chat(h) == 0
        assert await h.db.fetchval("SELECT COUNT(*) FROM messages") == 0


async def test_a_second_message_waits_for_the_first_answer(tmp_path, llm) -> None:
    gated = Gated(before=["first "], after=["answer"])
    llm.queue(gated, "second answer")
    async with harness(tmp_path, transport=llm.transport()) as h:
        first = asyncio.create_task(h.message(USER, "one"))
        await gated.started.wait()
        second = asyncio.create_task(h.message(USER, "two"))
        await wait_until(lambda: h.dp.workflow_data["chat_service"].gate._slots[USER].holders == 2)
        assert len(llm.calls) == 1  # the second waits its turn
        gated.release.set()
        await asyncio.gather(first, second)
        assert answers(h) == ["first answer", "second answer"]
        # the second request saw the whole first exchange
        assert [m["content"] for m in llm.calls[1].messages[1:]] == ["one", "first answer", "two"]


async def test_too_many_waiting_messages_are_refused_and_refunded(tmp_path, llm) -> None:
    gated = Gated(before=["x"])
    llm.queue(gated, "b", "c")
    async with harness(tmp_path, transport=llm.transport()) as h:
        service = h.dp.workflow_data["chat_service"]
        tasks = [asyncio.create_task(h.message(USER, "one"))]
        await gated.started.wait()
        tasks += [asyncio.create_task(h.message(USER, n)) for n in ("two", "three")]
        await wait_until(lambda: service.gate._slots[USER].holders == 3)
        await h.message(USER, "four")
        assert "still answering" in answers(h)[-1]
        assert await used_chat(h) == 3
        gated.release.set()
        await asyncio.gather(*tasks)
        assert await used_chat(h) == 3


# -- errors ------------------------------------------------------------------------------------


async def test_upstream_401_is_unavailable_and_logged(tmp_path, llm, caplog) -> None:
    llm.queue(401)
    async with harness(tmp_path, transport=llm.transport()) as h:
        with caplog.at_level(logging.ERROR):
            await h.message(USER, "hi")
        assert answers(h) == ["🛠 The AI service is temporarily unavailable. Please try later."]
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert any("VisionCraft" in m and "401" in m for m in errors)
        assert await used_chat(h) == 0


async def test_upstream_429_says_when_to_come_back(tmp_path, llm) -> None:
    llm.queue((429, {"Retry-After": "42"}))
    async with harness(tmp_path, transport=llm.transport()) as h:
        await h.message(USER, "hi", language_code="ru")
        assert answers(h) == ["⏳ ИИ-сервис перегружен. Попробуйте через 42 с."]
        assert await used_chat(h) == 0


@pytest.mark.parametrize("failure", [500, garbage], ids=["http-500", "non-json"])
async def test_upstream_failure_offers_a_retry_that_works(tmp_path, llm, failure) -> None:
    llm.queue(failure, "Recovered answer")
    async with harness(tmp_path, transport=llm.transport()) as h:
        await h.message(USER, "question?")
        apology = h.session.last(SendMessage)
        assert "did not finish the answer" in apology.text
        [[button]] = apology.reply_markup.inline_keyboard
        assert await used_chat(h) == 0
        assert await h.db.fetchval("SELECT COUNT(*) FROM messages") == 0

        await h.feed(h.session.make_callback(99, button.callback_data, chat_id=USER))
        alert = h.session.last(AnswerCallbackQuery)
        assert alert.show_alert and "another person" in alert.text
        assert await used_chat(h, 99) == 0

        await h.feed(h.session.make_callback(USER, button.callback_data))
        assert h.session.calls_of(EditMessageReplyMarkup)  # the button is removed
        assert answers(h)[-1] == "Recovered answer"
        assert llm.calls[-1].messages[-1] == {"role": "user", "content": "question?"}
        assert await used_chat(h) == 1

        await h.feed(h.session.make_callback(USER, button.callback_data))  # pressed again
        alert = h.session.last(AnswerCallbackQuery)
        assert alert.show_alert and "expired" in alert.text
        assert await used_chat(h) == 1
        assert len(llm.calls) == 2


async def test_retry_that_fails_again_is_told_in_the_chat(tmp_path, llm) -> None:
    llm.queue(503, 503, 503, (429, {"Retry-After": "99"}))
    async with harness(tmp_path, transport=llm.transport()) as h:
        client = h.dp.workflow_data["chat_service"].clients["visioncraft"]
        client.retry = RetryPolicy(attempts=3, backoff=0)
        await h.message(USER, "q")
        [[button]] = h.session.last(SendMessage).reply_markup.inline_keyboard
        await h.feed(h.session.make_callback(USER, button.callback_data))
        assert answers(h)[-1] == "⏳ The AI service is busy. Please try again in 99 s."
        assert await used_chat(h) == 0


async def test_broken_stream_keeps_the_partial_text_and_apologises(tmp_path, llm) -> None:
    llm.queue(broken_after("Half of ", "the answer"))
    async with harness(tmp_path, transport=llm.transport()) as h:
        await h.message(USER, "hi")
        sent = answers(h)
        assert sent[0] == "Half of the answer"
        assert "did not finish" in sent[1]
        assert await used_chat(h) == 0
        assert await h.db.fetchval("SELECT COUNT(*) FROM messages") == 0


async def test_quota_spent_means_no_upstream_call(tmp_path, llm) -> None:
    async with harness(tmp_path, transport=llm.transport(), QUOTA_FREE_CHAT="1") as h:
        await h.message(USER, "one")
        await h.message(USER, "two")
        assert "limit" in answers(h)[-1]
        assert len(llm.calls) == 1


# -- commands and other content ----------------------------------------------------------------


async def test_chat_without_text_explains_and_spends_nothing(tmp_path, llm) -> None:
    async with harness(tmp_path, transport=llm.transport()) as h:
        await h.message(USER, "/chat")
        await h.message(USER, "/whatever")
        sticker = h.session.make_message(USER, "x")
        del sticker["message"]["text"]
        sticker["message"]["sticker"] = {
            "file_id": "s1",
            "file_unique_id": "su1",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
        }
        await h.feed(sticker)
        sent = answers(h)
        assert "<code>/chat</code>" in sent[0]
        assert "don't know this command" in sent[1]
        assert "text and photos" in sent[2]
        assert llm.calls == [] and await used_chat(h) == 0


# -- groups ------------------------------------------------------------------------------------


async def test_group_answers_an_unknown_command_only_when_addressed_by_name(tmp_path) -> None:
    async with harness(tmp_path) as h:
        for text in ("/nosuch", "/nosuch@other_bot", "/stats@other_bot", "/help@other_bot"):
            await h.message(USER, text, chat_type="supergroup", chat_id=GROUP)
        assert answers(h, GROUP) == []  # maybe meant for another bot of the group
        await h.message(USER, "/nosuch@Test_Bot please", chat_type="supergroup", chat_id=GROUP)
        await h.message(USER, "/stats@test_bot", chat_type="supergroup", chat_id=GROUP)
        sent = answers(h, GROUP)
        assert len(sent) == 2 and all("don't know this command" in text for text in sent)


async def test_group_answers_only_when_addressed(tmp_path, llm) -> None:
    llm.queue("Group answer one", "Group answer two")
    async with harness(tmp_path, transport=llm.transport()) as h:
        await h.message(USER, "just talking", chat_type="supergroup", chat_id=GROUP)
        assert llm.calls == [] and h.session.calls_of(SendMessage) == []

        text = "@test_bot what is 2+2?"
        await h.message(
            USER, text, chat_type="supergroup", chat_id=GROUP, entities=mention(text),
            first_name="Ann",
        )  # fmt: skip
        [reply] = h.session.calls_of(SendMessage)
        assert reply.chat_id == GROUP and reply.reply_parameters.message_id > 0
        assert llm.calls[0].messages[-1] == {"role": "user", "content": "Ann: what is 2+2?"}
        final = h.session.calls_of(EditMessageText) or h.session.calls_of(SendMessage)
        assert parse_html(final[-1].text).text == "Group answer one"

        # a reply to the bot's message from another member, same group context
        bot_message = h.session.messages[(GROUP, reply_id(h))]
        await h.message(
            22, "and times 3?", chat_type="supergroup", chat_id=GROUP, first_name="Bob",
            reply_to_message=bot_message,
        )  # fmt: skip
        assert [m["content"] for m in llm.calls[1].messages[1:]] == [
            "Ann: what is 2+2?",
            "Group answer one",
            "Bob: and times 3?",
        ]
        scopes = await h.db.fetchall("SELECT DISTINCT scope FROM messages")
        assert [r["scope"] for r in scopes] == [GROUP]


def reply_id(h: Harness) -> int:
    return next(
        mid
        for (cid, mid), m in h.session.messages.items()
        if cid == GROUP and m.get("from", {}).get("is_bot")
    )


async def test_group_streaming_edits_one_message(tmp_path, llm) -> None:
    gated = Gated(before=["Thinking "], after=["done."])
    llm.queue(gated)
    async with harness(tmp_path, transport=llm.transport()) as h:
        text = "@test_bot hi"
        task = asyncio.create_task(
            h.message(USER, text, chat_type="group", chat_id=-5, entities=mention(text))
        )
        await wait_until(lambda: h.session.calls_of(SendMessage))
        gated.release.set()
        await task
        [placeholder] = h.session.calls_of(SendMessage)
        assert placeholder.text == "Thinking"
        assert h.session.last(EditMessageText).text == "Thinking done."
        assert not h.session.calls_of(SendMessageDraft)
        assert not h.session.calls_of(DeleteMessage)


async def test_group_mention_alone_explains(tmp_path, llm) -> None:
    async with harness(tmp_path, transport=llm.transport()) as h:
        text = "@TEST_BOT"
        await h.message(
            USER, text, chat_type="group", chat_id=-5, entities=mention(text, "TEST_BOT")
        )
        assert "<code>/chat</code>" in answers(h, -5)[0]
        assert llm.calls == [] and await used_chat(h) == 0


# -- photos ------------------------------------------------------------------------------------


async def test_photo_goes_to_the_vision_model_and_joins_the_conversation(tmp_path, llm) -> None:
    png = make_png(8, 8)
    llm.queue("A small blue square.", "It was blue.")
    async with harness(tmp_path, transport=llm.transport()) as h:
        h.session.add_file("ph1", png)
        await h.feed(h.session.make_photo(USER, "ph1"))
        call = llm.calls[0]
        assert call.body["model"] == "llava-1.5-7b-hf"
        text_part, image_part = call.messages[-1]["content"]
        assert text_part == {"type": "text", "text": "Describe this image."}
        assert image_part["type"] == "image_url"
        url = image_part["image_url"]["url"]
        assert url == "data:image/png;base64," + base64.b64encode(png).decode()
        assert answers(h) == ["A small blue square."]

        await h.message(USER, "what colour was it?")
        later = llm.calls[1]
        assert later.body["model"] == "Llama-3.1-70B-Instruct"
        assert later.messages[1:] == [
            {"role": "user", "content": "[photo] Describe this image."},
            {"role": "assistant", "content": "A small blue square."},
            {"role": "user", "content": "what colour was it?"},
        ]
        assert "base64" not in str(await h.db.fetchall("SELECT content FROM messages"))


async def test_photo_caption_is_the_question_in_russian_default(tmp_path, llm) -> None:
    async with harness(tmp_path, transport=llm.transport()) as h:
        h.session.add_file("ph2", b"\xff\xd8\xff\xe0jpegdata")
        await h.feed(h.session.make_photo(USER, "ph2", caption="Кто это?", language_code="ru"))
        await h.feed(h.session.make_photo(USER, "ph2", language_code="ru"))
        first, second = (c.messages[-1]["content"] for c in llm.calls)
        assert first[0]["text"] == "Кто это?"
        assert first[1]["image_url"]["url"].startswith("data:image/jpeg;base64,")
        assert second[0]["text"] == "Опиши это изображение."


async def test_photo_over_20_mb_is_refused_clearly(tmp_path, llm) -> None:
    async with harness(tmp_path, transport=llm.transport()) as h:
        update = h.session.make_photo(USER, "big")
        for size in update["message"]["photo"]:
            size["file_size"] = 25 * 1024 * 1024
        await h.feed(update)
        assert "too big" in answers(h)[0]
        assert llm.calls == [] and await used_chat(h) == 0


async def test_image_documents_and_other_files(tmp_path, llm) -> None:
    png = make_png(4, 4)
    async with harness(tmp_path, transport=llm.transport()) as h:
        h.session.add_file("doc-png", png, "documents/pic.png")
        h.session.add_file("doc-fake", b"%PDF-1.4 not an image", "documents/fake.png")

        def document(file_id: str, name: str, mime: str, size: int = 1000) -> dict[str, Any]:
            update = h.session.make_message(USER, "x")
            message = update["message"]
            del message["text"]
            message["document"] = {
                "file_id": file_id,
                "file_unique_id": f"u-{file_id}",
                "file_name": name,
                "mime_type": mime,
                "file_size": size,
            }
            return update

        await h.feed(document("doc-png", "pic.png", "image/png"))
        assert llm.calls[0].body["model"] == "llava-1.5-7b-hf"
        assert answers(h)[-1] == "Hello from the model!"

        # Not an image: the documents router takes it (this id is unknown to Telegram).
        await h.feed(document("doc-pdf", "paper.pdf", "application/pdf"))
        assert "could not download this file" in answers(h)[-1]

        await h.feed(document("doc-fake", "fake.png", "image/png"))
        assert "JPG, PNG or WebP" in answers(h)[-1]

        await h.feed(document("doc-huge", "huge.jpg", "image/jpeg", size=30 * 1024 * 1024))
        assert "too big" in answers(h)[-1]

        assert len(llm.calls) == 1
        assert await used_chat(h) == 1


async def test_a_fourth_message_while_three_wait_is_refused_before_spending(
    tmp_path, llm, monkeypatch
) -> None:
    from bot.services.quota import QuotaService

    spends: list[int] = []
    real_spend = QuotaService.spend

    async def counting_spend(self, user_id, kind, **kwargs):
        spends.append(user_id)
        return await real_spend(self, user_id, kind, **kwargs)

    monkeypatch.setattr(QuotaService, "spend", counting_spend)
    gated = Gated(before=["One"], after=[" done."])
    llm.queue(gated, "Two.", "Three.")
    async with harness(tmp_path, transport=llm.transport()) as h:
        first = asyncio.create_task(h.message(USER, "one"))
        await gated.started.wait()
        waiting = [asyncio.create_task(h.message(USER, text)) for text in ("two", "three")]
        await wait_until(lambda: len(spends) == 3)
        await h.message(USER, "four")  # one answering, two waiting: no room
        assert answers(h) == [
            "⏳ I am still answering your previous messages. Please wait until I finish."
        ]
        assert len(spends) == 3  # the refused message spent nothing
        assert await used_chat(h) == 3
        gated.release.set()
        await asyncio.gather(first, *waiting)
        assert answers(h)[1:] == ["One done.", "Two.", "Three."]
        assert await used_chat(h) == 3
        assert await h.db.fetchval("SELECT COUNT(*) FROM quota_holds") == 0


async def test_max_tokens_zero_leaves_the_providers_default(tmp_path, llm) -> None:
    llm.queue("short")
    async with harness(tmp_path, transport=llm.transport(), CHAT_MAX_TOKENS="0") as h:
        await h.message(USER, "hi")
        assert answers(h) == ["short"]
        [call] = llm.calls
        assert "max_tokens" not in call.body


async def test_reasoning_models_thinking_is_not_shown_or_remembered(tmp_path, llm) -> None:
    llm.queue("<think>\nThe user greets me. I should greet back.\n</think>\n\nHello!")
    llm.chunk_size = 5  # the tags arrive split across events
    async with harness(
        tmp_path,
        transport=llm.transport(),
        NEBULA_API_KEY="nk-3",
        CHAT_MODEL="deepseek-ai/DeepSeek-R1-Distill-Llama-70B",
    ) as h:
        await h.message(USER, "hi")
        # the thinking is a collapsed block of the rich answer, never raw text
        assert answers(h) == []
        [sent] = h.session.calls_of(SendRichMessage)
        details, answer = sent.rich_message.blocks
        assert details.type == "details" and answer.text == "Hello!"
        assert "greets" in str(details.blocks[0].text)
        assert all("think" not in d.text for d in h.session.calls_of(SendMessageDraft))
        [call] = llm.calls
        assert call.headers["authorization"] == "Bearer nk-3"  # Nebula Block's route
        assert call.body["model"] == "deepseek-ai/DeepSeek-R1-Distill-Llama-70B"
        rows = await h.db.fetchall("SELECT role, content FROM messages ORDER BY id")
        assert [(r["role"], r["content"]) for r in rows] == [
            ("user", "hi"),
            ("assistant", "Hello!"),
        ]
