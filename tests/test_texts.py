from bot.commands import COMMANDS, bot_commands
from bot.texts import TEXTS, Raw, Translator, get_text, pick_language, placeholders


def test_both_languages_have_the_same_keys_and_placeholders():
    assert TEXTS["en"].keys() == TEXTS["ru"].keys()
    for key, english in TEXTS["en"].items():
        assert placeholders(english) == placeholders(TEXTS["ru"][key]), key
        assert TEXTS["ru"][key].strip(), key


def test_every_command_has_a_description_in_both_languages():
    for command in COMMANDS:
        for lang in ("en", "ru"):
            description = get_text(lang, command.text_key)
            assert 3 <= len(description) <= 256
    assert [c.command for c in bot_commands("ru")] == [c.name for c in COMMANDS if not c.admin]


def test_language_choice():
    assert pick_language("ru") == "ru"
    assert pick_language("ru-RU") == "ru"
    assert pick_language("RU") == "ru"
    assert pick_language("de") == "en"
    assert pick_language(None) == "en"
    assert Translator.for_code("uk").lang == "en"


def test_parameters_are_escaped_unless_raw():
    t = Translator("en")
    assert "&lt;b&gt;x&lt;/b&gt; &amp; y" in t("start", name="<b>x</b> & y")
    assert "<i>ok</i>" in t("start", name=Raw("<i>ok</i>"))


def test_russian_texts_are_russian():
    assert "Привет" in get_text("ru", "start", name="A")
    assert "Hi" in get_text("en", "start", name="A")
