"""``python -m bot`` as a process against the fake Bot API and the fake upstreams:
a streamed answer, a split answer, a photo, upstream errors, memory across a restart.

One test with two runs of the process: starting it is the slow part (importing aiogram).
"""

from __future__ import annotations

import base64

from tests.conftest import TOKEN
from tests.e2e_helpers import start_bot
from tests.fakes.upstream import make_png

USER = 501
CHAT = "/v1/chat/completions"


def to_user(text_part: str | None = None):
    def match(call) -> bool:
        if int(call.get("chat_id", 0)) != USER:
            return False
        return text_part is None or text_part in (call.text or "")

    return match


async def test_chat_end_to_end(telegram, upstream, tmp_path) -> None:
    env = {
        "VISIONCRAFT_API_URL": upstream.url,
        "VISIONCRAFT_API_KEY": "vc-operator-key",
        "NEBULA_API_URL": f"{upstream.url}/v1",
    }
    proc = await start_bot(telegram, tmp_path, TOKEN, **env)
    try:
        # 1. a streamed answer: drafts while it is written, then one message
        upstream.reply = "Nice to meet you, **Ann** & <friends>."
        upstream.chunk_size = 6
        upstream.chunk_delay = 0.1
        telegram.push_update(telegram.make_message(USER, "My name is Ann."))
        final = await telegram.wait_for("sendMessage", to_user())
        assert final.text == "Nice to meet you, <b>Ann</b> &amp; &lt;friends&gt;."
        drafts = telegram.calls_of("sendMessageDraft")
        assert drafts and all(d["can_stop"] is True for d in drafts)
        [request] = upstream.requests_to(CHAT)
        assert request.headers["Authorization"] == "Bearer vc-operator-key"
        assert request.json_body["stream"] is True
        assert request.json_body["messages"][-1] == {
            "role": "user",
            "content": "My name is Ann.",
        }

        # 2. a long answer (more than one text message holds): one rich message,
        # accepted by Telegram, every word of it there
        paragraphs = [f"Paragraph {i}: " + "lorem ipsum " * 60 for i in range(14)]
        upstream.reply = "\n\n".join(paragraphs)
        upstream.chunk_size = 400
        upstream.chunk_delay = 0
        telegram.push_update(telegram.make_message(USER, "Write a lot."))
        rich = await telegram.wait_for("sendRichMessage", to_user(), timeout=20)
        texts = [b["text"] for b in rich["rich_message"]["blocks"]]
        assert texts[0].startswith("Paragraph 0:")
        assert " ".join(texts).split() == upstream.reply.split()
        assert not [c for c in telegram.calls if c.failed]

        # 3. a photo: downloaded through the Bot API, sent to LLaVA as a data URI
        png = make_png(16, 16)
        telegram.add_file("photo-1", png)
        upstream.reply = "A blue square."
        telegram.push_update(telegram.make_photo(USER, "photo-1", caption="What is this?"))
        await telegram.wait_for("sendMessage", to_user("A blue square."))
        vision = upstream.requests_to(CHAT)[-1].json_body
        assert vision["model"] == "llava-1.5-7b-hf"
        text_part, image_part = vision["messages"][-1]["content"]
        assert text_part == {"type": "text", "text": "What is this?"}
        expected = "data:image/png;base64," + base64.b64encode(png).decode()
        assert image_part["image_url"]["url"] == expected
        assert telegram.downloads

        # 4. 5xx: an apology with a retry button, and the retry works
        upstream.fail(CHAT, 500, times=1)
        telegram.push_update(telegram.make_message(USER, "Tell me a joke."))
        apology = await telegram.wait_for("sendMessage", to_user("did not finish"))
        [[button]] = apology["reply_markup"]["inline_keyboard"]
        upstream.reply = "Why did the chicken cross the road?"
        telegram.push_update(telegram.make_callback(USER, button["callback_data"]))
        await telegram.wait_for("sendMessage", to_user("chicken"))

        # 5. 401: the user hears the service is unavailable; the operator gets an ERROR
        upstream.fail(CHAT, 401, times=1)
        telegram.push_update(telegram.make_message(USER, "Anyone there?"))
        await telegram.wait_for("sendMessage", to_user("temporarily unavailable"))
        await proc.wait_for_log("ERROR")
        assert "VisionCraft refused the operator's credentials (HTTP 401" in proc.stderr
        assert "vc-operator-key" not in proc.stderr
    finally:
        assert await proc.stop() == 0

    # 6. memory across a restart
    proc = await start_bot(telegram, tmp_path, TOKEN, **env)
    try:
        upstream.reply = "Your name is Ann."
        telegram.push_update(telegram.make_message(USER, "What is my name?"))
        await telegram.wait_for("sendMessage", to_user("Your name is Ann."))
        messages = upstream.requests_to(CHAT)[-1].json_body["messages"]
        contents = [m["content"] for m in messages[1:]]
        assert contents[:2] == ["My name is Ann.", "Nice to meet you, **Ann** & <friends>."]
        assert "[photo] What is this?" in contents
        assert "Anyone there?" not in contents and "Tell me a joke." in contents
        assert contents[-1] == "What is my name?"
        assert not any("base64" in str(c) for c in contents)
    finally:
        assert await proc.stop() == 0
