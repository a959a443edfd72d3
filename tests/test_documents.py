"""Documents as questions through the real dispatcher and the fake Telegram: PDFs (made by
the tests: text layer, scan-like, encrypted, damaged), text and code, refusals that charge
nothing, and the parser's time and memory bounds."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiogram.methods import GetFile, SendMessage

from bot.services import documents
from bot.services.documents import (
    PDF,
    TEXT,
    DocumentReader,
    EncryptedPdf,
    ScannedPdf,
    UnreadablePdf,
    UnsupportedDocument,
    decode_text,
    sniff,
)
from tests.harness import Harness, harness
from tests.llm_mock import MockLLM
from tests.pdf_samples import bomb_pdf, damaged_pdf, encrypted_pdf, image_only_pdf, text_pdf

USER = 11
GROUP = -1001000000077


@pytest.fixture
def llm() -> MockLLM:
    return MockLLM()


def answers(h: Harness, chat_id: int = USER) -> list[str]:
    return [c.text for c in h.session.calls_of(SendMessage) if c.chat_id == chat_id]


async def used_chat(h: Harness) -> int:
    return int(
        await h.db.fetchval(
            "SELECT COALESCE(SUM(used), 0) FROM usage_daily WHERE user_id = ? AND kind = 'chat'",
            (USER,),
        )
    )


async def send_file(
    h: Harness, data: bytes | None, name: str, caption: str | None = None, **kw: Any
) -> None:
    file_id = f"f-{name}-{len(h.session.calls)}"
    if data is not None:
        h.session.add_file(file_id, data, f"documents/{file_id}")
    await h.feed(h.session.make_document(USER, file_id, name, caption=caption, **kw))


def prompt_of(llm: MockLLM, index: int = -1) -> str:
    content = llm.calls[index].messages[-1]["content"]
    assert isinstance(content, str)
    return content


# -- what is read ------------------------------------------------------------------------------


async def test_code_file_with_caption_is_the_question_and_memory_keeps_only_a_reference(
    tmp_path, llm
) -> None:
    code = "def add(a, b):\n    return a + b  # the <sum>\n"
    llm.queue("It adds two numbers.", "Yes.")
    async with harness(tmp_path, transport=llm.transport()) as h:
        await send_file(h, code.encode(), "calc.py", caption="What does this do?")
        prompt = prompt_of(llm)
        assert code in prompt and '"calc.py"' in prompt
        assert prompt.endswith("What does this do?")
        assert answers(h) == ["It adds two numbers."]
        assert await used_chat(h) == 1

        await h.message(USER, "Is it pure?")
        history = llm.calls[1].messages[1:]
        assert history[0] == {
            "role": "user",
            "content": "[document: calc.py, 45 B] What does this do?",
        }
        stored = str(await h.db.fetchall("SELECT content FROM messages"))
        assert "return a + b" not in stored


async def test_pdf_without_caption_is_summarized_in_the_users_language(tmp_path, llm) -> None:
    pdf = text_pdf(["Quarterly report: revenue grew by ten percent", "Costs stayed flat"])
    async with harness(tmp_path, transport=llm.transport()) as h:
        await send_file(h, pdf, "report.pdf", language_code="ru")
        prompt = prompt_of(llm)
        assert "revenue grew by ten percent" in prompt and "Costs stayed flat" in prompt
        assert prompt.endswith("Кратко перескажи этот файл.")
        assert answers(h) == ["Hello from the model!"]
        assert await used_chat(h) == 1


async def test_type_is_decided_by_content_not_by_name(tmp_path, llm) -> None:
    async with harness(tmp_path, transport=llm.transport()) as h:
        # A PDF called .txt is read as a PDF; text called .bin is read as text.
        await send_file(h, text_pdf(["Hidden PDF text layer"]), "notes.txt", caption="?")
        assert "Hidden PDF text layer" in prompt_of(llm)
        await send_file(h, b"a,b\n1,2\n", "table.bin", caption="sum b")
        assert "a,b\n1,2" in prompt_of(llm)
        # Bytes that are not text, whatever the name says, are refused.
        await send_file(h, b"PK\x03\x04" + bytes(range(256)) * 40, "notes.txt", caption="?")
        assert "none of those" in answers(h)[-1]
        await send_file(h, bytes(range(256)) * 40, "data.csv")
        assert "none of those" in answers(h)[-1]
        assert len(llm.calls) == 2 and await used_chat(h) == 2


async def test_long_text_is_cut_and_the_user_told(tmp_path, llm) -> None:
    text = ("word " * 1000).encode()  # 5000 characters
    async with harness(tmp_path, transport=llm.transport(), DOCUMENT_MAX_CHARS="1000") as h:
        await send_file(h, text, "long.md", caption="gist?")
        prompt = prompt_of(llm)
        assert prompt.count("word") == 200
        assert "only its first 1000 of 5000 characters" in prompt
        assert answers(h) == [
            "Hello from the model!",
            "✂️ The file is long: I read only its first 20%.",
        ]
        assert await used_chat(h) == 1


async def test_long_pdf_is_read_page_by_page_up_to_the_limit(tmp_path, llm) -> None:
    pages = [f"Page {n} " + "lorem ipsum " * 30 for n in range(1, 11)]  # ~370 chars each
    async with harness(tmp_path, transport=llm.transport(), DOCUMENT_MAX_CHARS="1000") as h:
        await send_file(h, text_pdf(pages), "book.pdf", caption="what is it", language_code="ru")
        prompt = prompt_of(llm)
        assert "Page 1 " in prompt and "Page 3 " in prompt and "Page 4 " not in prompt
        assert answers(h)[-1] == "✂️ Файл длинный: я прочитал только первые 3 из 10 страниц."


async def test_group_document_needs_a_mention(tmp_path, llm) -> None:
    async with harness(tmp_path, transport=llm.transport()) as h:
        h.session.add_file("gdoc", b"group notes", "documents/gdoc")
        await h.feed(
            h.session.make_document(
                USER, "gdoc", "n.txt", caption="hi", chat_id=GROUP, chat_type="supergroup"
            )
        )
        assert llm.calls == []
        caption = "@test_bot what is this"
        await h.feed(
            h.session.make_document(
                USER,
                "gdoc",
                "n.txt",
                caption=caption,
                chat_id=GROUP,
                chat_type="supergroup",
                caption_entities=[{"type": "mention", "offset": 0, "length": 9}],
            )
        )
        prompt = prompt_of(llm)
        assert "group notes" in prompt and prompt.endswith("User11: what is this")


# -- refusals: clear words, nothing charged ----------------------------------------------------


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (image_only_pdf(), "no text layer"),
        (encrypted_pdf(), "protected by a password"),
        (damaged_pdf(), "damaged or too complex"),
        (b"   \n\n  ", "no text in it"),
    ],
)
async def test_unreadable_files_are_refused_and_not_charged(tmp_path, llm, data, words) -> None:
    async with harness(tmp_path, transport=llm.transport()) as h:
        await send_file(h, data, "file.pdf", caption="read it")
        assert words in answers(h)[-1] and "Nothing was charged" in answers(h)[-1]
        assert llm.calls == [] and await used_chat(h) == 0


async def test_file_over_20_mb_is_refused_before_downloading(tmp_path, llm) -> None:
    async with harness(tmp_path, transport=llm.transport()) as h:
        await send_file(h, None, "huge.pdf", file_size=25 * 1024 * 1024)
        assert "too big" in answers(h)[-1]
        assert h.session.calls_of(GetFile) == []
        # Size unknown in the message, but Telegram refuses the download as too big.
        h.session.add_file("big2", b"x", "documents/big2", file_size=21 * 1024 * 1024)
        update = h.session.make_document(USER, "big2", "big.txt")
        del update["message"]["document"]["file_size"]
        await h.feed(update)
        assert "too big" in answers(h)[-1]
        assert llm.calls == [] and await used_chat(h) == 0


async def test_failed_download_is_told_and_not_charged(tmp_path, llm) -> None:
    async with harness(tmp_path, transport=llm.transport()) as h:
        await send_file(h, None, "gone.txt")  # Telegram does not know the file id
        assert "could not download" in answers(h)[-1]
        h.session.add_file("flaky", b"text", "documents/flaky")
        h.session.fail_next(GetFile, times=5, status=500, description="Internal Server Error")
        await h.feed(h.session.make_document(USER, "flaky", "flaky.txt"))
        assert "could not download" in answers(h)[-1]
        assert llm.calls == [] and await used_chat(h) == 0


async def test_upstream_failure_on_a_document_offers_retry_and_refunds(tmp_path, llm) -> None:
    llm.queue(500, 500, 500, 500)
    async with harness(tmp_path, transport=llm.transport()) as h:
        await send_file(h, b"some notes", "n.txt")
        assert "did not finish the answer" in answers(h)[-1]
        assert await used_chat(h) == 0


# -- the reader on its own ---------------------------------------------------------------------


def test_sniffing_and_decoding() -> None:
    assert sniff(b"\n%PDF-1.7 ...") == PDF
    assert sniff("Привет, мир".encode()) == TEXT
    assert decode_text("Привет".encode("cp1251")) == "Привет"
    assert decode_text("hi".encode("utf-16")) == "hi"
    assert sniff(b"\x89PNG\r\n\x1a\nrest") is None
    assert sniff(b"text\x00with nul") is None
    assert sniff(b"") == TEXT  # empty: refused later as "no text", not as binary


async def test_reader_refusals() -> None:
    reader = DocumentReader(max_chars=1000)
    with pytest.raises(ScannedPdf):
        await reader.read(image_only_pdf())
    with pytest.raises(EncryptedPdf):
        await reader.read(encrypted_pdf())
    with pytest.raises(UnsupportedDocument):
        await reader.read(bytes(range(256)))


async def test_pdf_parser_is_killed_at_the_time_bound_and_the_loop_keeps_running(
    tmp_path: Path, monkeypatch
) -> None:
    hang = tmp_path / "hang.py"
    hang.write_text("import time\ntime.sleep(600)\n")
    monkeypatch.setattr(documents, "_WORKER", hang)
    started: list[asyncio.subprocess.Process] = []
    real_exec = asyncio.create_subprocess_exec

    async def recording_exec(*args: Any, **kwargs: Any) -> asyncio.subprocess.Process:
        process = await real_exec(*args, **kwargs)
        started.append(process)
        return process

    monkeypatch.setattr(asyncio, "create_subprocess_exec", recording_exec)
    ticks = 0

    async def other_users() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    other = asyncio.create_task(other_users())
    try:
        with pytest.raises(UnreadablePdf):
            await DocumentReader(max_chars=1000, pdf_timeout=0.5).read(text_pdf(["x"]))
    finally:
        other.cancel()
    assert ticks > 1  # the loop served others while the parser hung
    assert started and started[0].returncode is not None  # killed and reaped


async def test_pdf_parser_memory_bound() -> None:
    # 50 KB that inflate to 50 MiB: past a 128 MiB address-space bound the worker's
    # allocations fail inside its own process, and the PDF is refused.
    bomb = bomb_pdf(50)
    assert len(bomb) < 100_000
    reader = DocumentReader(max_chars=1000, pdf_memory=128 * 1024 * 1024)
    with pytest.raises(UnreadablePdf):
        await reader.read(bomb)
    # The same bound leaves room for an ordinary PDF.
    read = await reader.read(text_pdf(["fine text here for reading"]))
    assert "fine text here" in read.text


async def test_pdf_parser_is_stopped_when_the_answer_is_cancelled(monkeypatch, tmp_path) -> None:
    hang = tmp_path / "hang.py"
    hang.write_text("import time\ntime.sleep(600)\n")
    monkeypatch.setattr(documents, "_WORKER", hang)
    started: list[asyncio.subprocess.Process] = []
    real_exec = asyncio.create_subprocess_exec

    async def recording_exec(*args: Any, **kwargs: Any) -> asyncio.subprocess.Process:
        started.append(await real_exec(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(asyncio, "create_subprocess_exec", recording_exec)
    task = asyncio.create_task(DocumentReader(max_chars=100, pdf_timeout=60).read(b"%PDF-1.4"))
    async with asyncio.timeout(10):
        while not started:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert started[0].returncode is not None


def test_worker_imports_nothing_of_the_project() -> None:
    # It runs by file name with -I: the repository is not on its sys.path.
    source = documents._WORKER.read_text()
    assert "from bot" not in source and "import bot" not in source
