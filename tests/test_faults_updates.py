"""Malformed and hostile updates through the real dispatcher: each gets a clear answer (or,
where no one asked anything, nothing), and nothing is spent, credited or lost."""

from __future__ import annotations

import warnings

import pytest

from bot.texts import Translator
from tests.fakes.upstream import make_png
from tests.harness import harness
from tests.llm_mock import MockLLM

EN = Translator.for_code("en")
USER = 4242
ADMIN = 99


@pytest.fixture
def llm() -> MockLLM:
    return MockLLM("A calm answer")


async def used(h, kind: str) -> int:
    value = await h.db.fetchval(
        "SELECT used FROM usage_daily WHERE user_id = ? AND kind = ?", (USER, kind)
    )
    return value or 0


@pytest.mark.parametrize(
    "update",
    [
        {"update_id": 9_000_001, "future_kind_of_update": {"id": 1, "x": [1, 2]}},
        {"update_id": 9_000_002},
        {"update_id": 9_000_003, "business_connection": {"id": "b1"}},
    ],
    ids=["unknown-type", "empty", "malformed-known-type"],
)
async def test_unknown_and_empty_updates_are_ignored_and_the_bot_goes_on(tmp_path, update):
    async with harness(tmp_path) as h:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # aiogram: "unknown update type"
            try:
                await h.dp.feed_raw_update(h.bot, update)
            except Exception as exc:  # a malformed body is refused by validation, not handled
                assert type(exc).__name__ == "ValidationError"
        assert h.session.calls == []
        await h.message(USER, "/start")
        assert "Hi" in h.texts()[-1]


async def test_a_message_with_unknown_fields_is_still_answered(tmp_path, llm):
    async with harness(tmp_path, transport=llm.transport(), VISIONCRAFT_API_KEY="vk") as h:
        update = h.session.make_message(USER, "hello")
        update["message"]["future_field"] = {"nested": ["x"]}
        await h.feed(update)
        assert h.texts()[-1] == "A calm answer"


async def test_100_kb_of_text_gets_an_answer_or_a_clear_refusal(tmp_path, llm):
    huge = "word " * 20_000  # 100 kB
    async with harness(tmp_path, transport=llm.transport(), VISIONCRAFT_API_KEY="vk") as h:
        await h.message(USER, huge)
        assert h.texts()[-1] == "A calm answer"
        assert await used(h, "chat") == 1
        await h.message(USER, "/image " + huge)
        await h.message(USER, "/gif " + huge)
        refusals = h.texts()[-2:]
        assert all("too long" in text for text in refusals)
        assert await used(h, "image") == 0 and await used(h, "gif") == 0


async def test_hostile_markup_in_names_and_texts_is_escaped(tmp_path, llm):
    llm.default = "<b>unclosed & <script>alert(1)</script>"
    async with harness(tmp_path, transport=llm.transport(), VISIONCRAFT_API_KEY="vk") as h:
        # RecordingSession refuses what Telegram would refuse ("can't parse entities").
        await h.message(USER, "/start", first_name="<b>Eve & </i>")
        assert "&lt;b&gt;Eve &amp; &lt;/i&gt;" in h.texts()[-1]
        await h.message(USER, "<i>tell me</b> & more")
        assert h.session.failed_calls == []
        assert "<script>" not in h.texts()[-1] and "alert(1)" in h.texts()[-1]


@pytest.mark.parametrize("caption", ["", None])
async def test_a_photo_with_an_empty_caption_is_described(tmp_path, llm, caption):
    async with harness(tmp_path, transport=llm.transport(), VISIONCRAFT_API_KEY="vk") as h:
        h.session.add_file("photo-1", make_png(8, 8))
        await h.feed(h.session.make_photo(USER, "photo-1", caption=caption))
        assert h.texts()[-1] == "A calm answer"
        parts = llm.calls[-1].messages[-1]["content"]
        assert any(p.get("type") == "image_url" for p in parts)
        assert any(p.get("text") for p in parts if p.get("type") == "text")


@pytest.mark.parametrize(
    "data",
    [
        "chat-retry:token-from-yesterday",
        "img:again:token-from-yesterday",
        "img:orig:token-from-yesterday",
        "menu:something-removed",
        "v1:old:format",
        "x" * 64,
    ],
)
async def test_buttons_of_old_keyboards_get_a_clear_alert(tmp_path, data):
    async with harness(tmp_path, VISIONCRAFT_API_KEY="vk") as h:
        await h.feed(h.session.make_callback(USER, data))
        [answer] = h.session.calls
        assert type(answer).__name__ == "AnswerCallbackQuery"
        assert answer.show_alert and "button" in answer.text.lower()
        assert await h.db.fetchval("SELECT COALESCE(SUM(used), 0) FROM usage_daily") == 0


async def test_a_forged_payment_payload_is_refused_and_never_credited(tmp_path):
    async with harness(tmp_path, ADMIN_IDS=str(ADMIN)) as h:
        await h.message(ADMIN, "/start")
        await h.feed(h.session.make_pre_checkout(USER, "prem:1:tier2:forged", 1000))
        [answer] = h.session.calls_of("answerPreCheckoutQuery")
        assert answer.ok is False and answer.error_message

        await h.feed(
            h.session.make_successful_payment(USER, "prem:1:tier2:forged", 1000, "charge-forged")
        )
        rows = await h.db.fetchall("SELECT charge_id, status FROM payments")
        assert [tuple(r) for r in rows] == [("charge-forged", "unmatched")]
        assert await h.db.fetchval("SELECT COUNT(*) FROM user_tiers") == 0
        to_user = [c.text for c in h.session.calls_of("sendMessage") if c.chat_id == USER]
        to_admin = [c.text for c in h.session.calls_of("sendMessage") if c.chat_id == ADMIN]
        assert "nothing was credited" in to_user[-1]
        assert "charge-forged" in to_admin[-1]
        # The same forged payment delivered again changes nothing.
        await h.feed(
            h.session.make_successful_payment(USER, "prem:1:tier2:forged", 1000, "charge-forged")
        )
        rows = await h.db.fetchall("SELECT charge_id, status FROM payments")
        assert [tuple(r) for r in rows] == [("charge-forged", "unmatched")]
        assert await h.db.fetchval("SELECT COUNT(*) FROM user_tiers") == 0
