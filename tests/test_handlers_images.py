"""/image, /gif, /cancel and the result buttons through the real dispatcher."""

import asyncio
import logging
from contextlib import asynccontextmanager

import httpx
from aiogram.methods import (
    AnswerCallbackQuery,
    DeleteMessage,
    SendAnimation,
    SendChatAction,
    SendDocument,
    SendMessage,
    SendPhoto,
)

from handlers.images import ResultCb
from tests.harness import harness
from tests.images_upstream import KEY, ImagesUpstream
from tests.media_samples import png

USER = 101
OTHER = 202


@asynccontextmanager
async def rig(tmp_path, **env):
    upstream = ImagesUpstream()
    env.setdefault("VISIONCRAFT_API_KEY", KEY)
    async with harness(tmp_path, transport=upstream.transport(), **env) as h:
        h.upstream = upstream
        yield h


async def used(h, user_id, kind="image"):
    quota = h.dp.workflow_data["quota_service"]
    return next(k.used for k in await quota.today(user_id) if k.kind == kind)


def buttons(call):
    return [b for row in call.reply_markup.inline_keyboard for b in row]


def upload_of(h, method_cls):
    return next(
        data for method, _field, data in h.session.uploads if isinstance(method, method_cls)
    )


async def until(condition, turns=10_000):
    """Let the other tasks run until ``condition()`` holds (bounded by loop turns, not time)."""
    for _ in range(turns):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never became true")


# -- usage and success --------------------------------------------------------------------


async def test_image_alone_explains_usage_in_both_languages(tmp_path):
    async with rig(tmp_path) as h:
        await h.message(USER, "/image")
        await h.message(USER, "/gif   ", language_code="ru")
        english, russian = h.texts()
        assert "/image a red fox in snow" in english and "--steps</code> 1–35" in english
        assert "/gif кот играет с клубком" in russian
        assert h.upstream.requests == []


async def test_image_is_generated_and_sent_as_a_photo(tmp_path):
    async with rig(tmp_path) as h:
        await h.message(USER, "/image a red <fox> & snow")
        body = h.upstream.generations()[0]
        assert body == {
            "model": "sdxl-base",
            "prompt": "a red <fox> & snow",
            "steps": 30,
            "width": 1024,
            "height": 1024,
            "cfg_scale": 7,
            "loras": {},
            "token": KEY,
        }
        action = h.session.last(SendChatAction)
        assert action.action == "upload_photo" and action.chat_id == USER
        photo = h.session.last(SendPhoto)
        assert "a red &lt;fox&gt; &amp; snow" in photo.caption
        assert "<code>sdxl-base</code> · 64×48" in photo.caption
        assert photo.reply_parameters.message_id is not None
        assert [b.text for b in buttons(photo)] == ["🔁 Again", "📄 Original"]
        assert upload_of(h, SendPhoto) == h.upstream.image
        assert await used(h, USER) == 1


async def test_options_reach_the_upstream_in_its_spelling(tmp_path):
    async with rig(tmp_path) as h:
        await h.message(
            USER,
            "/image a fox in snow --model DELIBERATE_V2 --size 768x1024 --steps 25 --cfg 9 "
            '--neg blurry, low quality --sampler "euler a" --lora add_detail:0.8',
        )
        body = h.upstream.generations()[0]
        assert body["model"] == "deliberate_v2"
        assert (body["width"], body["height"], body["steps"], body["cfg_scale"]) == (
            768,
            1024,
            25,
            9,
        )
        assert body["negative_prompt"] == "blurry, low quality"
        assert body["sampler"] == "Euler a"
        assert body["loras"] == {"add_detail": 0.8}
        assert body["prompt"] == "a fox in snow"
        assert "deliberate_v2" in h.session.last(SendPhoto).caption


async def test_gif_is_sent_as_an_animation(tmp_path):
    async with rig(tmp_path) as h:
        await h.message(USER, "/gif a cat playing with yarn")
        assert h.upstream.generations("/text2gif") == [
            {"prompt": "a cat playing with yarn", "token": KEY}
        ]
        assert h.session.last(SendChatAction).action == "upload_video"
        animation = h.session.last(SendAnimation)
        assert "a cat playing with yarn" in animation.caption
        assert [b.text for b in buttons(animation)] == ["🔁 Again"]
        assert upload_of(h, SendAnimation) == h.upstream.gif
        assert await used(h, USER, "gif") == 1
        assert await used(h, USER, "image") == 0


# -- validation before spending -----------------------------------------------------------


async def test_bad_values_get_one_line_and_cost_nothing(tmp_path):
    async with rig(tmp_path) as h:
        cases = [
            ("/image a fox --steps 50", "--steps «50»: must be a whole number from 1 to 35."),
            ("/image a fox --size 1000x1001", "--size «1000x1001»"),
            ("/image a fox --cfg 0", "--cfg «0»: must be a whole number from 1 to 30."),
            ("/image a fox --width 2048", "--width «2048»: must be 64–1024"),
            (
                "/image x --lora a --lora b --lora c --lora d --lora e --lora f",
                "Too many loras (6); at most 5.",
            ),
            ("/image " + "p" * 1001, "too long (1001 characters); at most 1000."),
            ("/gif " + "p" * 1001, "too long (1001 characters); at most 1000."),
            ("/image a fox --seed 1", "Unknown option --seed."),
            ("/image --steps 20", "Write what to draw before the options"),
        ]
        for command, expected in cases:
            await h.message(USER, command)
            text = h.texts()[-1]
            assert expected in text, (command, text)
            assert "\n" not in text or command.startswith("/image --")
        assert h.upstream.generations() == [] and h.upstream.generations("/text2gif") == []
        assert await used(h, USER) == 0 and await used(h, USER, "gif") == 0


async def test_unknown_model_gets_the_closest_matches(tmp_path):
    async with rig(tmp_path) as h:
        await h.message(USER, "/image a fox --model dreamshaper")
        assert "Unknown model «dreamshaper». Closest: <code>dreamshaper_8</code>" in h.texts()[-1]
        await h.message(USER, "/image a fox --sampler qqqqqq", language_code="ru")
        assert "Неизвестный сэмплер «qqqqqq»" in h.texts()[-1]
        assert h.upstream.generations() == []
        assert await used(h, USER) == 0


async def test_quota_exceeded_is_told_and_nothing_generated(tmp_path):
    async with rig(tmp_path, QUOTA_FREE_IMAGE="1") as h:
        await h.message(USER, "/image one")
        await h.message(USER, "/image two")
        assert "used today's 🎨 Images limit (1)" in h.texts()[-1]
        assert len(h.upstream.generations()) == 1
        assert await used(h, USER) == 1


# -- upstream answers are checked ---------------------------------------------------------


async def test_non_image_answers_become_a_clear_message_and_a_log(tmp_path, caplog):
    bodies = [
        httpx.Response(200, json={"error": "invalid token"}),
        httpx.Response(200, text="<html>502 Bad Gateway</html>"),
        httpx.Response(200, content=b""),
    ]
    async with rig(tmp_path) as h:
        for response in bodies:
            h.upstream.next(response)
            with caplog.at_level(logging.ERROR):
                await h.message(USER, "/image a fox")
            assert "sent back something that is not a picture" in h.texts()[-1]
        assert not h.session.calls_of(SendPhoto) and not h.session.calls_of(SendDocument)
        assert await used(h, USER) == 0
        assert caplog.text.count("instead of media") == 3


async def test_upstream_status_codes(tmp_path):
    async with rig(tmp_path) as h:
        h.upstream.next(httpx.Response(401, json={"detail": "bad token"}))
        await h.message(USER, "/image a")
        assert "temporarily unavailable" in h.texts()[-1]
        h.upstream.next(httpx.Response(429, headers={"retry-after": "12"}))
        await h.message(USER, "/image b")
        assert "try again in 12 s" in h.texts()[-1]
        h.upstream.next(httpx.Response(400, json={"detail": "bad sampler"}))
        await h.message(USER, "/image c")
        assert "refused these settings" in h.texts()[-1]
        h.upstream.next(httpx.Response(500, text="boom"))
        await h.message(USER, "/gif d")
        assert "did not answer" in h.texts()[-1]
        assert await used(h, USER) == 0 and await used(h, USER, "gif") == 0


async def test_gif_endpoint_sending_a_png_is_refused(tmp_path):
    async with rig(tmp_path) as h:
        h.upstream.next(httpx.Response(200, content=png()))
        await h.message(USER, "/gif a cat")
        assert "not a picture" in h.texts()[-1]
        assert not h.session.calls_of(SendAnimation)
        assert await used(h, USER, "gif") == 0


async def test_without_operator_key_the_user_hears_it_and_keeps_the_unit(tmp_path):
    async with rig(tmp_path, VISIONCRAFT_API_KEY="") as h:
        await h.message(USER, "/image a fox")
        assert "temporarily unavailable" in h.texts()[-1]
        assert h.upstream.generations() == []
        assert await used(h, USER) == 0


async def test_images_over_photo_limits_go_as_documents(tmp_path):
    huge_dims = png(8, 8)[:16] + (6000).to_bytes(4, "big") + (5000).to_bytes(4, "big")
    huge_dims += png(8, 8)[24:]
    heavy = png(64, 64) + b"\x00" * (10 * 1024 * 1024)
    async with rig(tmp_path) as h:
        for body in (huge_dims, heavy):
            h.upstream.next(httpx.Response(200, content=body))
            await h.message(USER, "/image big")
        documents = h.session.calls_of(SendDocument)
        assert len(documents) == 2
        assert "6000×5000" in documents[0].caption
        assert "Sent as a file" in documents[1].caption
        assert [b.text for b in buttons(documents[0])] == ["🔁 Again", "📄 Original"]
        assert not h.session.calls_of(SendPhoto)
        assert await used(h, USER) == 2


async def test_a_photo_telegram_refuses_goes_as_a_document(tmp_path):
    async with rig(tmp_path) as h:
        h.session.fail_next("sendPhoto", description="Bad Request: PHOTO_INVALID_DIMENSIONS")
        await h.message(USER, "/image a fox")
        assert h.session.last(SendDocument)
        assert upload_of(h, SendDocument) == h.upstream.image
        assert await used(h, USER) == 1


async def test_a_failed_delivery_gives_the_unit_back(tmp_path):
    async with rig(tmp_path) as h:
        h.session.fail_next("sendPhoto", status=403, description="Forbidden: bot was blocked")
        await h.message(USER, "/image a fox")
        assert await used(h, USER) == 0


# -- long work: busy, queue, cancel, timeout, shutdown -------------------------------------


async def test_one_generation_per_user(tmp_path):
    async with rig(tmp_path) as h:
        h.upstream.hold = True
        first = asyncio.create_task(h.message(USER, "/image a fox"))
        await h.upstream.wait_generation()
        await h.message(USER, "/image another")
        assert "already have a generation running" in h.texts()[-1]
        await h.message(USER, "/gif a cat")
        assert "already have a generation running" in h.texts()[-1]
        h.upstream.release()
        await first
        assert len(h.session.calls_of(SendPhoto)) == 1
        assert await used(h, USER) == 1 and await used(h, USER, "gif") == 0


async def test_cancel_stops_the_generation_and_gives_the_unit_back(tmp_path):
    async with rig(tmp_path) as h:
        await h.message(USER, "/cancel")
        assert "Nothing to cancel" in h.texts()[-1]
        h.upstream.hold = True
        first = asyncio.create_task(h.message(USER, "/image a fox"))
        await h.upstream.wait_generation()
        assert await used(h, USER) == 1
        await h.message(USER, "/cancel")
        assert h.texts()[-1] == "⏹ Cancelled: image generation. Nothing was charged."
        await first
        assert not h.session.calls_of(SendPhoto)
        assert await used(h, USER) == 0
        await h.message(USER, "/cancel", language_code="ru")
        assert "Нечего отменять" in h.texts()[-1]


async def test_queue_position_and_leaving_the_queue(tmp_path):
    async with rig(tmp_path, GENERATION_CONCURRENCY="1") as h:
        h.upstream.hold = True
        first = asyncio.create_task(h.message(USER, "/image a fox"))
        await h.upstream.wait_generation()
        second = asyncio.create_task(h.message(OTHER, "/gif a cat"))
        third = asyncio.create_task(h.message(303, "/image a dog"))
        await until(lambda: len(h.session.calls_of(SendMessage)) == 2)
        notices = h.session.calls_of(SendMessage)
        assert "number 1 in the queue" in notices[0].text and notices[0].chat_id == OTHER
        assert "number 2 in the queue" in notices[1].text and notices[1].chat_id == 303
        await h.message(OTHER, "/cancel")  # leaves the queue
        await second
        assert await used(h, OTHER, "gif") == 0
        h.upstream.release()
        await first
        await third
        assert [c.chat_id for c in h.session.calls_of(SendPhoto)] == [USER, 303]
        # both queue notices are removed once their requests are over
        assert sorted(c.chat_id for c in h.session.calls_of(DeleteMessage)) == [OTHER, 303]
        assert h.upstream.generations("/text2gif") == []


async def test_timeout_tells_the_user_and_gives_the_unit_back(tmp_path):
    async with rig(tmp_path) as h:
        h.dp.workflow_data["generations"].timeout = 0
        h.upstream.hold = True
        await h.message(USER, "/image a fox")
        assert "did not finish within 1 min" in h.texts()[-1]
        assert await used(h, USER) == 0


async def test_shutdown_stops_running_generations_and_tells_the_users(tmp_path):
    async with rig(tmp_path) as h:
        h.upstream.hold = True
        running = asyncio.create_task(h.message(USER, "/image a fox"))
        await h.upstream.wait_generation()
        await h.dp.emit_shutdown(bot=h.bot, **h.dp.workflow_data)
        await running
        assert "bot is restarting" in h.texts()[-1]
        assert await used(h, USER) == 0


# -- Again and Original -------------------------------------------------------------------


def result_token(h, method=SendPhoto):
    call = h.session.last(method)
    return ResultCb.unpack(buttons(call)[0].callback_data).token, call


async def test_again_generates_with_the_same_settings_and_spends_a_unit(tmp_path):
    async with rig(tmp_path) as h:
        await h.message(USER, "/image a fox --steps 12 --neg blurry")
        token, _ = result_token(h)
        await h.feed(h.session.make_callback(USER, ResultCb(action="again", token=token).pack()))
        first, second = h.upstream.generations()
        assert first == second
        assert h.session.last(AnswerCallbackQuery).text == "🔁 Generating again…"
        assert len(h.session.calls_of(SendPhoto)) == 2
        assert await used(h, USER) == 2


async def test_again_for_a_gif(tmp_path):
    async with rig(tmp_path) as h:
        await h.message(USER, "/gif a cat")
        token, _ = result_token(h, SendAnimation)
        await h.feed(h.session.make_callback(USER, ResultCb(action="again", token=token).pack()))
        assert len(h.upstream.generations("/text2gif")) == 2
        assert len(h.session.calls_of(SendAnimation)) == 2
        assert await used(h, USER, "gif") == 2


async def test_original_sends_the_same_bytes_as_a_document(tmp_path):
    async with rig(tmp_path) as h:
        await h.message(USER, "/image a fox")
        token, _ = result_token(h)
        await h.feed(h.session.make_callback(USER, ResultCb(action="orig", token=token).pack()))
        document = h.session.last(SendDocument)
        assert document.document.filename == "image.png"
        assert upload_of(h, SendDocument) == h.upstream.image
        assert h.session.calls_of(AnswerCallbackQuery)
        assert await used(h, USER) == 1  # the original costs nothing


async def test_stale_buttons_get_clear_answers(tmp_path):
    async with rig(tmp_path, QUOTA_FREE_IMAGE="1") as h:
        await h.message(USER, "/image a fox")
        token, _ = result_token(h)
        # another user's button
        await h.feed(h.session.make_callback(OTHER, ResultCb(action="again", token=token).pack()))
        assert h.session.last(AnswerCallbackQuery).text == "🔒 This button belongs to another user."
        # a button from before a restart
        await h.feed(h.session.make_callback(USER, ResultCb(action="orig", token="gone").pack()))
        answer = h.session.last(AnswerCallbackQuery)
        assert answer.show_alert and "expired" in answer.text
        # the original's bytes were evicted
        h.dp.workflow_data["results"].get(token).data = None
        await h.feed(h.session.make_callback(USER, ResultCb(action="orig", token=token).pack()))
        assert "no longer stored" in h.session.last(AnswerCallbackQuery).text
        # quota spent: the alert says so, nothing generated
        await h.feed(h.session.make_callback(USER, ResultCb(action="again", token=token).pack()))
        answer = h.session.last(AnswerCallbackQuery)
        assert answer.show_alert and "limit" in answer.text
        assert len(h.upstream.generations()) == 1


async def test_again_with_a_model_that_disappeared(tmp_path):
    async with rig(tmp_path) as h:
        await h.message(USER, "/image a fox --model dreamshaper_8")
        token, _ = result_token(h)
        h.upstream.lists["/sd/models"] = ["sdxl-base", "dreamshaper_9"]
        h.dp.workflow_data["images"].catalogue.invalidate()  # as if the hour had passed
        await h.feed(h.session.make_callback(USER, ResultCb(action="again", token=token).pack()))
        answer = h.session.last(AnswerCallbackQuery)
        assert "Unknown model «dreamshaper_8»" in answer.text and "dreamshaper_9" in answer.text
        assert len(h.upstream.generations()) == 1
        assert await used(h, USER) == 1


async def test_again_failing_after_the_answer_is_reported_in_the_chat(tmp_path):
    async with rig(tmp_path) as h:
        await h.message(USER, "/image a fox")
        token, _ = result_token(h)
        h.upstream.next(httpx.Response(200, json={"error": "oops"}))
        await h.feed(h.session.make_callback(USER, ResultCb(action="again", token=token).pack()))
        assert h.session.last(AnswerCallbackQuery).text == "🔁 Generating again…"
        assert "not a picture" in h.texts()[-1]
        assert h.session.last(SendMessage).chat_id == USER
        assert await used(h, USER) == 1


async def test_again_while_busy(tmp_path):
    async with rig(tmp_path) as h:
        await h.message(USER, "/image a fox")
        token, _ = result_token(h)
        h.upstream.hold = True
        running = asyncio.create_task(h.message(USER, "/image a dog"))
        await h.upstream.wait_generation(2)
        await h.feed(h.session.make_callback(USER, ResultCb(action="again", token=token).pack()))
        assert "already have a generation" in h.session.last(AnswerCallbackQuery).text
        h.upstream.release()
        await running
        assert await used(h, USER) == 2


async def test_a_failed_chat_action_does_not_stop_the_work(tmp_path):
    async with rig(tmp_path) as h:
        h.session.fail_next("sendChatAction", status=400, description="Bad Request: oops")
        await h.message(USER, "/image a fox")
        assert h.session.last(SendPhoto)
        assert await used(h, USER) == 1


async def test_generation_in_a_group_replies_to_the_request(tmp_path):
    async with rig(tmp_path) as h:
        await h.message(USER, "/image@test_bot a fox", chat_id=-100555, chat_type="supergroup")
        photo = h.session.last(SendPhoto)
        assert photo.chat_id == -100555
        assert photo.reply_parameters.allow_sending_without_reply is True
