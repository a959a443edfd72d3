"""``python -m bot`` as a process against the fake Bot API over HTTP: a PDF question (getFile,
the file download, the parser's child process), a scan refused, and a guest question answered
with answerGuestQuery (the bot must ask Telegram for ``guest_message`` updates)."""

from __future__ import annotations

from tests.conftest import TOKEN
from tests.e2e_helpers import start_bot
from tests.pdf_samples import image_only_pdf, text_pdf

USER = 502
CHAT = "/v1/chat/completions"


def to_user(text_part: str):
    def match(call) -> bool:
        return int(call.get("chat_id", 0)) == USER and text_part in (call.text or "")

    return match


async def test_documents_and_guest_mode_end_to_end(telegram, upstream, tmp_path) -> None:
    env = {"VISIONCRAFT_API_URL": upstream.url, "VISIONCRAFT_API_KEY": "vc-operator-key"}
    proc = await start_bot(telegram, tmp_path, TOKEN, **env)
    try:
        telegram.add_file("pdf-1", text_pdf(["Minutes: the budget was approved."]), "docs/m.pdf")
        upstream.reply = "The budget was approved."
        telegram.push_update(
            telegram.make_document(USER, "pdf-1", "minutes.pdf", caption="Outcome?")
        )
        await telegram.wait_for("sendMessage", to_user("The budget was approved."), timeout=20)
        prompt = upstream.requests_to(CHAT)[-1].json_body["messages"][-1]["content"]
        assert "Minutes: the budget was approved." in prompt
        assert prompt.endswith("Outcome?")
        assert "docs/m.pdf" in telegram.downloads

        telegram.add_file("scan-1", image_only_pdf(), "docs/scan.pdf")
        telegram.push_update(telegram.make_document(USER, "scan-1", "scan.pdf"))
        await telegram.wait_for("sendMessage", to_user("no text layer"), timeout=20)
        assert len(upstream.requests_to(CHAT)) == 1

        upstream.reply = "Four."
        update = telegram.make_guest_message(USER, "@test_bot two plus two?")
        telegram.push_update(update)
        await telegram.wait_for("answerGuestQuery", timeout=20)
        query_id = update["guest_message"]["guest_query_id"]
        result = telegram.guest_queries[query_id]
        assert result is not None
        assert result["input_message_content"]["message_text"] == "Four."
        assert not [c for c in telegram.calls if c.failed]
    finally:
        assert await proc.stop() == 0
