"""Rich answers through the real dispatcher: tables, formulas, thinking, 30,000 characters,
a refused rich message falling back to text; and the Markdown to blocks conversion."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiogram.methods import EditMessageText, SendMessage, SendRichMessage, SendRichMessageDraft

from bot.services.rich import TEXT_LIMIT, balanced, needs_rich, rich_parts, text_length
from tests.conftest import wait_until
from tests.fakes import telegram_rules as rules
from tests.harness import harness
from tests.llm_mock import Gated, MockLLM

USER = 11
GROUP = -1001000000001

TABLE = "Prices:\n\n| fruit | price |\n|:--|--:|\n| apple | **1** |\n| pear | 2 |\n\nThat's all."


def rich_sent(h) -> list[dict]:
    return [
        m["rich_message"]
        for (chat, _), m in sorted(h.session.messages.items())
        if "rich_message" in m
    ]


def kinds(blocks: list[dict]) -> list[str]:
    return [b["type"] for b in blocks]


# -- conversion --------------------------------------------------------------------------------


def test_table_becomes_a_table_block_and_text_stays_around_it() -> None:
    [part] = rich_parts(TABLE)
    assert kinds(part.blocks) == ["paragraph", "table", "paragraph"]
    table = part.blocks[1]
    assert [c["align"] for c in table["cells"][0]] == ["left", "right"]
    assert table["cells"][0][0]["is_header"] is True
    assert table["cells"][1][1]["text"] == {"type": "bold", "text": "1"}
    assert rules.check_rich_message({"blocks": part.blocks}) is None


def test_formulas_in_every_notation() -> None:
    text = (
        "Inline $x^2$ and \\(a+b\\), money $5 and $10.\n\n$$\nE=mc^2\n$$\n\n\\[\\int_0^1 x\\,dx\\]"
    )
    [part] = rich_parts(text)
    assert kinds(part.blocks) == ["paragraph", "mathematical_expression", "mathematical_expression"]
    inline = [p for p in part.blocks[0]["text"] if isinstance(p, dict)]
    assert [p["expression"] for p in inline] == ["x^2", "a+b"]
    assert "money $5 and $10." in part.blocks[0]["text"][-1]
    assert part.blocks[1]["expression"] == "E=mc^2"
    assert needs_rich(text) and not needs_rich("it costs $5 and $10")


def test_a_broken_formula_or_table_costs_only_itself() -> None:
    wide = "|" + "|".join(f"c{i}" for i in range(25)) + "|\n|" + "---|" * 25 + "\n|" + "x|" * 25
    text = f"Before.\n\n$$\n\\frac{{1}}{{2\n$$\n\n{wide}\n\nAfter **bold**."
    [part] = rich_parts(text)
    assert kinds(part.blocks) == ["paragraph", "pre", "pre", "paragraph"]
    assert part.blocks[1]["text"] == "\\frac{1}{2"  # shown as code, not refused
    assert part.blocks[2]["text"].startswith("|c0|c1|")
    assert part.blocks[3]["text"] == ["After ", {"type": "bold", "text": "bold"}, "."]
    assert rules.check_rich_message({"blocks": part.blocks}) is None
    assert not balanced("\\left( x") and balanced("\\left( x \\right)")


def test_long_answers_split_between_blocks_within_the_limits() -> None:
    paragraphs = [f"Paragraph {i}: " + "lorem ipsum " * 40 for i in range(150)]
    parts = rich_parts("\n\n".join(paragraphs))
    assert len(parts) == 3
    for part in parts:
        assert text_length(part.blocks) <= TEXT_LIMIT
        assert rules.check_rich_message({"blocks": part.blocks}) is None
    starts = [p.blocks[0]["text"].split(":")[0] for p in parts]
    assert starts[0] == "Paragraph 0" and all(s.startswith("Paragraph ") for s in starts)


def test_deep_nesting_is_flattened_within_the_depth_limit() -> None:
    text = "\n".join("  " * i + "- level " + str(i) for i in range(30))
    [part] = rich_parts(text)
    assert rules.check_rich_message({"blocks": part.blocks}) is None


@pytest.mark.parametrize(
    ("rich", "problem"),
    [
        ({"blocks": [{"type": "thinking", "text": "x"}]}, "drafts only"),
        ({"blocks": [{"type": "paragraph", "text": "x" * 40_000}]}, "too long"),
        ({"blocks": [{"type": "marquee", "text": "x"}]}, "unknown block"),
        ({"blocks": [{"type": "paragraph", "text": "x"}], "html": "<p>x</p>"}, "exactly one"),
    ],
)
def test_fake_refuses_what_telegram_refuses(rich, problem) -> None:
    assert problem in (rules.check_rich_message(rich) or "")


# -- through the bot ---------------------------------------------------------------------------


async def test_table_answer_is_sent_as_a_rich_message(tmp_path) -> None:
    llm = MockLLM()
    llm.queue(TABLE)
    async with harness(tmp_path, transport=llm.transport()) as h:
        await h.message(USER, "fruit prices?")
        [sent] = h.session.calls_of(SendRichMessage)
        assert sent.chat_id == USER
        [rich] = rich_sent(h)
        assert kinds(rich["blocks"]) == ["paragraph", "table", "paragraph"]
        assert h.session.calls_of(SendMessage) == []
        # memory keeps the Markdown the model wrote
        row = await h.db.fetchval("SELECT content FROM messages WHERE role = 'assistant'")
        assert row == TABLE


async def test_plain_answer_keeps_the_text_path(tmp_path) -> None:
    llm = MockLLM()
    llm.queue("Just **text**.")
    async with harness(tmp_path, transport=llm.transport()) as h:
        await h.message(USER, "hi")
        assert h.session.calls_of(SendRichMessage) == []
        assert [c.text for c in h.session.calls_of(SendMessage)] == ["Just <b>text</b>."]


async def test_thinking_is_a_collapsed_block_never_raw(tmp_path) -> None:
    llm = MockLLM()
    llm.queue("<think>Let me add: 2 + 2.\n\nIt is 4.</think>The answer is **4**.")
    async with harness(tmp_path, transport=llm.transport(), CHAT_MODEL="DeepSeek-R1") as h:
        await h.message(USER, "2+2?")
        [rich] = rich_sent(h)
        details, answer = rich["blocks"]
        assert details["type"] == "details" and not details.get("is_open")
        assert details["summary"] == "Thinking"
        assert details["blocks"][0]["text"] == "Let me add: 2 + 2."
        assert answer["text"] == ["The answer is ", {"type": "bold", "text": "4"}, "."]
        assert "<think>" not in str(rich)
        row = await h.db.fetchval("SELECT content FROM messages WHERE role = 'assistant'")
        assert row == "The answer is **4**."


async def test_30000_character_answer_arrives_as_one_message(tmp_path) -> None:
    answer = "\n\n".join(f"Section {i}. " + "word " * 95 for i in range(60))
    assert 29_000 < len(answer) < 31_000
    llm = MockLLM()
    llm.queue(answer)
    async with harness(tmp_path, transport=llm.transport()) as h:
        await h.message(USER, "write a lot")
        assert len(h.session.calls_of(SendRichMessage)) == 1
        assert h.session.calls_of(SendMessage) == []
        [rich] = rich_sent(h)
        assert len(rich["blocks"]) == 60


async def test_refused_rich_message_falls_back_to_text_and_is_logged_once(tmp_path, caplog) -> None:
    llm = MockLLM()
    llm.queue(TABLE)
    async with harness(tmp_path, transport=llm.transport()) as h:
        h.session.fail_next(SendRichMessage, description="Bad Request: RICH_MESSAGE_INVALID")
        with caplog.at_level(logging.WARNING):
            await h.message(USER, "fruit prices?")
        texts = [c.text for c in h.session.calls_of(SendMessage)]
        assert len(texts) == 1 and "apple" in texts[0] and "That's all." in texts[0]
        refusals = [r for r in caplog.records if "refused a rich message" in r.getMessage()]
        assert len(refusals) == 1 and "RICH_MESSAGE_INVALID" in refusals[0].getMessage()


async def test_rich_messages_can_be_turned_off(tmp_path) -> None:
    llm = MockLLM()
    llm.queue(TABLE)
    async with harness(tmp_path, transport=llm.transport(), RICH_MESSAGES="0") as h:
        await h.message(USER, "fruit prices?")
        assert h.session.calls_of(SendRichMessage) == []
        assert len(h.session.calls_of(SendMessage)) == 1


async def test_group_answer_with_a_formula_is_rich(tmp_path) -> None:
    llm = MockLLM()
    llm.queue("Energy: $$E=mc^2$$")
    async with harness(tmp_path, transport=llm.transport()) as h:
        await h.message(
            USER,
            "@test_bot formula?",
            chat_id=GROUP,
            chat_type="supergroup",
            entities=[{"type": "mention", "offset": 0, "length": 9}],
        )
        [sent] = h.session.calls_of(SendRichMessage)
        assert sent.chat_id == GROUP and sent.reply_parameters is not None
        [rich] = rich_sent(h)
        assert "mathematical_expression" in str(rich)


# -- streaming ---------------------------------------------------------------------------------


async def test_private_rich_answer_streams_as_rich_drafts(tmp_path) -> None:
    gated = Gated(before=["| a | b |\n|---|---|\n| 1 | 2 |\n\n"], after=["Done."])
    llm = MockLLM()
    llm.queue(gated)
    async with harness(tmp_path, transport=llm.transport()) as h:
        task = asyncio.create_task(h.message(USER, "table?"))
        await wait_until(lambda: h.session.calls_of(SendRichMessageDraft))
        draft = h.session.calls_of(SendRichMessageDraft)[0]
        assert draft.can_stop is True and draft.rich_message.blocks[0].type == "table"
        gated.release.set()
        await task
        [rich] = rich_sent(h)
        assert kinds(rich["blocks"]) == ["table", "paragraph"]


async def test_thinking_shows_a_thinking_block_in_the_draft(tmp_path) -> None:
    gated = Gated(before=["<think>Hmm, "], after=["let me see.</think>", "Yes."])
    llm = MockLLM()
    llm.queue(gated)
    async with harness(tmp_path, transport=llm.transport(), CHAT_MODEL="DeepSeek-R1") as h:
        task = asyncio.create_task(h.message(USER, "really?"))
        await wait_until(lambda: h.session.calls_of(SendRichMessageDraft))
        [draft] = h.session.calls_of(SendRichMessageDraft)
        assert [b.type for b in draft.rich_message.blocks] == ["thinking"]
        assert "Hmm" not in str(draft.rich_message)
        gated.release.set()
        await task
        [rich] = rich_sent(h)
        assert kinds(rich["blocks"]) == ["details", "paragraph"]
        assert rich["blocks"][0]["blocks"][0]["text"] == "Hmm, let me see."


async def test_group_rich_preview_is_edited_into_the_answer(tmp_path) -> None:
    gated = Gated(before=["Energy: $$E=mc^2$$\n\n"], after=["And **more**."])
    llm = MockLLM()
    llm.queue(gated)
    async with harness(tmp_path, transport=llm.transport()) as h:
        task = asyncio.create_task(
            h.message(
                USER,
                "@test_bot formula?",
                chat_id=GROUP,
                chat_type="supergroup",
                entities=[{"type": "mention", "offset": 0, "length": 9}],
            )
        )
        await wait_until(lambda: h.session.calls_of(SendRichMessage))
        gated.release.set()
        await task
        [sent] = h.session.calls_of(SendRichMessage)
        [edit] = [e for e in h.session.calls_of(EditMessageText) if e.rich_message]
        assert edit.chat_id == GROUP and sent.chat_id == GROUP
        [rich] = rich_sent(h)
        assert kinds(rich["blocks"]) == ["paragraph", "paragraph"]
        assert rich["blocks"][1]["text"][1] == {"type": "bold", "text": "more"}
        assert h.session.calls_of(SendMessage) == []
