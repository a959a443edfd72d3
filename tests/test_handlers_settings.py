"""/settings: the inline keyboard, paging, stale buttons, and options from the command line."""

from contextlib import asynccontextmanager

from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendMessage

from bot.services.images import ImageSettings
from handlers.settings import SettingsCb, name_hash
from tests.harness import harness
from tests.images_upstream import KEY, ImagesUpstream

USER = 111
OTHER = 222


@asynccontextmanager
async def rig(tmp_path, **env):
    upstream = ImagesUpstream()
    async with harness(
        tmp_path, transport=upstream.transport(), VISIONCRAFT_API_KEY=KEY, **env
    ) as h:
        h.upstream = upstream
        yield h


def keyboard(call):
    return [(b.text, b.callback_data) for row in call.reply_markup.inline_keyboard for b in row]


async def press(h, data, user_id=USER):
    await h.feed(h.session.make_callback(user_id, data.pack()))


async def stored(h, user_id=USER):
    return await h.dp.workflow_data["images"].load(user_id)


async def test_settings_shows_the_defaults_and_the_keyboard(tmp_path):
    async with rig(tmp_path) as h:
        await h.message(USER, "/settings")
        call = h.session.last(SendMessage)
        assert "Model: <code>sdxl-base</code>" in call.text
        assert "Sampler: auto" in call.text and "Size: 1024×1024" in call.text
        assert "Steps: 30 · CFG: 7" in call.text
        texts = [text for text, _ in keyboard(call)]
        assert texts == ["🧠 Model", "🎛 Sampler", "📐 Size", "🔢 Steps", "♻️ Reset", "✖️ Close"]
        await h.message(USER, "/settings", language_code="ru")
        assert "Настройки картинок" in h.texts()[-1]


async def test_choosing_a_model_from_a_paged_list(tmp_path):
    async with rig(tmp_path) as h:
        h.upstream.lists["/sd/models"] = [f"model_{i:02d}" for i in range(20)]
        await h.message(USER, "/settings")
        await press(h, SettingsCb(action="models", uid=USER))
        edit = h.session.last(EditMessageText)
        assert "page 1 of 3" in edit.text
        names = [text for text, _ in keyboard(edit)]
        assert names[:2] == ["model_00", "model_01"] and "▶️" in names and "◀️" not in names
        await press(h, SettingsCb(action="models", page=2, uid=USER))
        edit = h.session.last(EditMessageText)
        assert "page 3 of 3" in edit.text
        assert [t for t, _ in keyboard(edit)][:4] == [
            "model_16",
            "model_17",
            "model_18",
            "model_19",
        ]
        await press(h, SettingsCb(action="models", page=99, uid=USER))  # clamped
        assert "page 3 of 3" in h.session.last(EditMessageText).text
        pick = SettingsCb(action="model", value=name_hash("model_17"), page=2, uid=USER)
        await press(h, pick)
        assert h.session.last(AnswerCallbackQuery).text == "✅ Saved"
        assert "Model: <code>model_17</code>" in h.session.last(EditMessageText).text
        assert (await stored(h)).model == "model_17"
        await press(h, SettingsCb(action="models", page=2, uid=USER))
        assert "✅ model_17" in [t for t, _ in keyboard(h.session.last(EditMessageText))]
        await h.message(USER, "/image a fox")
        assert h.upstream.generations()[0]["model"] == "model_17"


async def test_a_model_that_disappeared_gets_a_clear_answer_and_the_new_list(tmp_path):
    async with rig(tmp_path) as h:
        await h.message(USER, "/settings")
        await press(h, SettingsCb(action="model", value=name_hash("retired_model"), uid=USER))
        answer = h.session.last(AnswerCallbackQuery)
        assert answer.show_alert and "no longer available" in answer.text
        assert "Choose the default model" in h.session.last(EditMessageText).text
        assert (await stored(h)).model is None


async def test_sampler_size_steps_reset_and_close(tmp_path):
    async with rig(tmp_path) as h:
        await h.message(USER, "/settings")
        await press(h, SettingsCb(action="samplers", uid=USER))
        edit = h.session.last(EditMessageText)
        assert [t for t, _ in keyboard(edit)][:2] == ["✅ auto", "Euler a"]
        await press(h, SettingsCb(action="sampler", value=name_hash("Euler a"), uid=USER))
        await press(h, SettingsCb(action="sizes", uid=USER))
        assert "✅ ⬛ Square 1024×1024" in [t for t, _ in keyboard(h.session.last(EditMessageText))]
        await press(h, SettingsCb(action="size", value="landscape", uid=USER))
        await press(h, SettingsCb(action="steps", uid=USER))
        await press(h, SettingsCb(action="step", value="20", uid=USER))
        settings = await stored(h)
        assert (settings.sampler, settings.width, settings.height, settings.steps) == (
            "Euler a",
            1024,
            768,
            20,
        )
        assert "Size: 1024×768" in h.session.last(EditMessageText).text
        await press(h, SettingsCb(action="sampler", value="auto", uid=USER))
        assert (await stored(h)).sampler is None
        await press(h, SettingsCb(action="reset", uid=USER))
        assert await stored(h) == ImageSettings()
        assert h.session.last(AnswerCallbackQuery).text == "♻️ Back to the defaults"
        await press(h, SettingsCb(action="home", uid=USER))
        await press(h, SettingsCb(action="close", uid=USER))
        closed = h.session.last(EditMessageText)
        assert "Settings closed" in closed.text and closed.reply_markup is None


async def test_tampered_or_foreign_buttons(tmp_path):
    async with rig(tmp_path) as h:
        await h.message(USER, "/settings")
        await press(h, SettingsCb(action="steps", uid=USER), user_id=OTHER)
        answer = h.session.last(AnswerCallbackQuery)
        assert answer.show_alert and "another user's settings" in answer.text
        for bad in (
            SettingsCb(action="step", value="99", uid=USER),
            SettingsCb(action="size", value="huge", uid=USER),
            SettingsCb(action="explode", uid=USER),
        ):
            await press(h, bad)
            answer = h.session.last(AnswerCallbackQuery)
            assert answer.show_alert and "out of date" in answer.text
        assert await stored(h) == ImageSettings()


async def test_same_screen_twice_is_not_an_error(tmp_path):
    async with rig(tmp_path) as h:
        await h.message(USER, "/settings")
        await press(h, SettingsCb(action="home", uid=USER))
        await press(h, SettingsCb(action="home", uid=USER))  # "message is not modified"
        assert h.session.last(AnswerCallbackQuery).show_alert is not True
        assert not any("went wrong" in text for text in h.texts())


async def test_the_model_list_unavailable(tmp_path):
    async with rig(tmp_path) as h:
        del h.upstream.lists["/sd/models"]  # the fake answers 404
        await h.message(USER, "/settings")
        await press(h, SettingsCb(action="models", uid=USER))
        answer = h.session.last(AnswerCallbackQuery)
        assert answer.show_alert and "list of models is unavailable" in answer.text


async def test_options_on_the_command_line_become_defaults(tmp_path):
    async with rig(tmp_path) as h:
        await h.message(USER, "/settings --cfg 9 --neg blurry --lora ADD_DETAIL:0.5 --size 512x768")
        text = h.texts()[-1]
        assert "CFG: 9" in text and "Negative prompt: blurry" in text
        assert "LoRAs: add_detail:0.5" in text and "Size: 512×768" in text
        await h.message(USER, "/image a fox")
        body = h.upstream.generations()[0]
        assert (body["cfg_scale"], body["negative_prompt"], body["loras"]) == (
            9,
            "blurry",
            {"add_detail": 0.5},
        )
        assert (body["width"], body["height"]) == (512, 768)
        await h.message(USER, "/settings --steps 99")
        assert "--steps «99»" in h.texts()[-1]
        await h.message(USER, "/settings a fox")
        assert "takes only options" in h.texts()[-1]
        await h.message(USER, "/settings --model nosuchmodel")
        assert "Unknown model" in h.texts()[-1]
        assert (await stored(h)).cfg_scale == 9
