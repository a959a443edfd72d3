"""End to end: ``python -m bot`` against the fake Bot API and the fake VisionCraft.

One process goes through the whole life of image and GIF requests: a photo with its buttons,
the original as a file, a GIF, a bad value, an upstream answering JSON instead of an image,
/cancel during a generation, and SIGTERM during a generation. The database file is read at
the end: only the delivered image and GIF were charged.
"""

import asyncio
import sqlite3

from tests.conftest import TOKEN
from tests.e2e_helpers import bot_db_path, start_bot
from tests.fakes.upstream import PNG_SIGNATURE, FakeUpstream

USER = 5150
KEY = "vc-operator-key-e2e-0123456789"


async def arrived(upstream: FakeUpstream, path: str, count: int, seconds: float = 20.0):
    """Wait until ``count`` requests reached ``path`` (polling, bounded)."""
    for _ in range(int(seconds / 0.02)):
        if len(upstream.requests_to(path)) >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{count} request(s) to {path} expected, got {upstream.requests}")


def text_with(needle: str):
    return lambda call: needle in (call.get("text") or "")


async def test_images_and_gifs_through_the_process(telegram, upstream, tmp_path):
    proc = await start_bot(
        telegram,
        tmp_path,
        TOKEN,
        VISIONCRAFT_API_URL=upstream.url,
        VISIONCRAFT_API_KEY=KEY,
        GENERATION_CONCURRENCY="2",
    )
    try:
        # a photo with its caption and buttons
        telegram.push_update(
            telegram.make_message(USER, "/image a red fox --steps 20 --size portrait")
        )
        photo = await telegram.wait_for("sendPhoto", timeout=30)
        assert photo.upload("photo").startswith(PNG_SIGNATURE)
        assert "a red fox" in photo["caption"]
        body = upstream.requests_to("/sd")[0].json_body
        assert (body["token"], body["steps"], body["width"], body["height"]) == (
            KEY,
            20,
            768,
            1024,
        )
        assert any(c["action"] == "upload_photo" for c in telegram.calls_of("sendChatAction"))
        buttons = [b for row in photo["reply_markup"]["inline_keyboard"] for b in row]
        assert [b["text"] for b in buttons] == ["🔁 Again", "📄 Original"]

        # the original, as a file with the same bytes
        telegram.push_update(telegram.make_callback(USER, buttons[1]["callback_data"]))
        document = await telegram.wait_for("sendDocument", timeout=20)
        assert document.upload("document") == photo.upload("photo")

        # a GIF
        telegram.push_update(telegram.make_message(USER, "/gif a cat playing with yarn"))
        animation = await telegram.wait_for("sendAnimation", timeout=20)
        assert animation.upload("animation").startswith(b"GIF89a")

        # a bad value: one line, nothing sent upstream
        telegram.push_update(telegram.make_message(USER, "/image a fox --steps 99"))
        await telegram.wait_for("sendMessage", text_with("must be a whole number from 1 to 35"))
        assert len(upstream.requests_to("/sd")) == 1

        # the upstream answers 200 with JSON instead of an image
        upstream.fail("/sd", 200, body={"error": "invalid token"}, times=1)
        telegram.push_update(telegram.make_message(USER, "/image a fox"))
        await telegram.wait_for("sendMessage", text_with("not a picture"), timeout=20)

        # /cancel during a generation
        upstream.hang("/sd")
        telegram.push_update(telegram.make_message(USER, "/image a slow fox"))
        await arrived(upstream, "/sd", 3)
        telegram.push_update(telegram.make_message(USER, "/cancel"))
        await telegram.wait_for("sendMessage", text_with("Cancelled: image generation"))

        # SIGTERM during a generation: the user is told to resend
        telegram.push_update(telegram.make_message(USER, "/image another slow fox"))
        await arrived(upstream, "/sd", 4)
        assert await proc.stop() == 0
        assert any("bot is restarting" in text for text in telegram.sent_texts())
        assert "Traceback" not in proc.stderr
        assert "VisionCraft /sd answered 200 with unrecognised bytes" in proc.stderr
        assert KEY not in proc.stderr
    finally:
        await proc.kill()

    with sqlite3.connect(bot_db_path(tmp_path)) as conn:
        used = dict(conn.execute("SELECT kind, used FROM usage_daily WHERE user_id = ?", (USER,)))
    assert used == {"image": 1, "gif": 1}
