"""``python -m bot`` as a process against the fake Bot API and the fake upstreams:
a streamed answer, a split answer, a photo, upstream errors, memory across a restart.

One test with two runs of the process: starting it is the slow part (importing aiogram).
"""

from __future__ import annotations

import base64

from tests.e2e_helpers import start_bot
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.upstream import FakeUpstream, make_png

TOKEN = "271828:E2EchatTOKENe2eCHATtokenE2E"
USER = 501
CHAT = "/v1/chat/completions"


def to_user(text_part: str | None = None):
    def match(call) -> bool:
        if int(call.get("chat_id", 0)) != USER:
            return False
        return text_part is None or text_part in (call.text or "")

    return match


async def test_chat_end_to_end(tmp_path) -> None:
    async with FakeBotAPI(TOKEN, max_poll_timeout=0.5) as api, FakeUpstream() as up:
        env = {
            "VISIONCRAFT_API_URL": up.url,
            "VISIONCRAFT_API_KEY": "vc-operator-key",
            "NEBULA_API_URL": f"{up.url}/v1",
        }
        proc = await start_bot(api, tmp_path, TOKEN, **env)
        try:
            # 1. a streamed answer: drafts while it is written, then one message
            up.reply = "Nice to meet you, **Ann** & <friends>."
            up.chunk_size = 6
            up.chunk_delay = 0.1
            api.push_update(api.make_message(USER, "My name is Ann."))
            final = await api.wait_for("sendMessage", to_user())
            assert final.text == "Nice to meet you, <b>Ann</b> &amp; &lt;friends&gt;."
            drafts = api.calls_of("sendMessageDraft")
            assert drafts and all(d["can_stop"] is True for d in drafts)
            [request] = up.requests_to(CHAT)
            assert request.headers["Authorization"] == "Bearer vc-operator-key"
            assert request.json_body["stream"] is True
            assert request.json_body["messages"][-1] == {
                "role": "user",
                "content": "My name is Ann.",
            }

            # 2. a long answer (more than one text message holds): one rich message,
            # accepted by Telegram, every word of it there
            paragraphs = [f"Paragraph {i}: " + "lorem ipsum " * 60 for i in range(14)]
            up.reply = "\n\n".join(paragraphs)
            up.chunk_size = 400
            up.chunk_delay = 0
            api.push_update(api.make_message(USER, "Write a lot."))
            rich = await api.wait_for("sendRichMessage", to_user(), timeout=20)
            texts = [b["text"] for b in rich["rich_message"]["blocks"]]
            assert texts[0].startswith("Paragraph 0:")
            assert " ".join(texts).split() == up.reply.split()
            assert not [c for c in api.calls if c.failed]

            # 3. a photo: downloaded through the Bot API, sent to LLaVA as a data URI
            png = make_png(16, 16)
            api.add_file("photo-1", png)
            up.reply = "A blue square."
            api.push_update(api.make_photo(USER, "photo-1", caption="What is this?"))
            await api.wait_for("sendMessage", to_user("A blue square."))
            vision = up.requests_to(CHAT)[-1].json_body
            assert vision["model"] == "llava-1.5-7b-hf"
            text_part, image_part = vision["messages"][-1]["content"]
            assert text_part == {"type": "text", "text": "What is this?"}
            expected = "data:image/png;base64," + base64.b64encode(png).decode()
            assert image_part["image_url"]["url"] == expected
            assert api.downloads

            # 4. 5xx: an apology with a retry button, and the retry works
            up.fail(CHAT, 500, times=1)
            api.push_update(api.make_message(USER, "Tell me a joke."))
            apology = await api.wait_for("sendMessage", to_user("did not finish"))
            [[button]] = apology["reply_markup"]["inline_keyboard"]
            up.reply = "Why did the chicken cross the road?"
            api.push_update(api.make_callback(USER, button["callback_data"]))
            await api.wait_for("sendMessage", to_user("chicken"))

            # 5. 401: the user hears the service is unavailable; the operator gets an ERROR
            up.fail(CHAT, 401, times=1)
            api.push_update(api.make_message(USER, "Anyone there?"))
            await api.wait_for("sendMessage", to_user("temporarily unavailable"))
            await proc.wait_for_log("ERROR")
            assert "VisionCraft refused the operator's credentials (HTTP 401" in proc.stderr
            assert "vc-operator-key" not in proc.stderr
        finally:
            assert await proc.stop() == 0

        # 6. memory across a restart
        proc = await start_bot(api, tmp_path, TOKEN, **env)
        try:
            up.reply = "Your name is Ann."
            api.push_update(api.make_message(USER, "What is my name?"))
            await api.wait_for("sendMessage", to_user("Your name is Ann."))
            messages = up.requests_to(CHAT)[-1].json_body["messages"]
            contents = [m["content"] for m in messages[1:]]
            assert contents[:2] == ["My name is Ann.", "Nice to meet you, **Ann** & <friends>."]
            assert "[photo] What is this?" in contents
            assert "Anyone there?" not in contents and "Tell me a joke." in contents
            assert contents[-1] == "What is my name?"
            assert not any("base64" in str(c) for c in contents)
        finally:
            assert await proc.stop() == 0
