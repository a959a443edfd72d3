from bot.commands import COMMANDS, bot_commands
from bot.texts import (
    TEXTS,
    Raw,
    Translator,
    get_text,
    pick_language,
    placeholders,
    plural_form,
)


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


def test_plural_keys_have_every_form_with_the_count():
    for key in (k for k in TEXTS["en"] if k.startswith("plural.")):
        for lang, count in (("en", 2), ("ru", 3)):
            forms = TEXTS[lang][key].split("|")
            assert len(forms) == count, (lang, key)
            assert all(placeholders(form) == {"n"} for form in forms), (lang, key)


def test_russian_plural_forms():
    t = Translator("ru")
    expected = {
        0: "0 дней",
        1: "1 день",
        2: "2 дня",
        3: "3 дня",
        4: "4 дня",
        5: "5 дней",
        7: "7 дней",
        11: "11 дней",
        12: "12 дней",
        14: "14 дней",
        20: "20 дней",
        21: "21 день",
        22: "22 дня",
        25: "25 дней",
        30: "30 дней",
        101: "101 день",
        111: "111 дней",
        112: "112 дней",
        122: "122 дня",
    }
    assert {n: t.plural("plural.days", n) for n in expected} == expected


def test_english_plural_forms():
    t = Translator("en")
    assert [t.plural("plural.days", n) for n in (0, 1, 2, 21)] == [
        "0 days",
        "1 day",
        "2 days",
        "21 days",
    ]
    assert [plural_form("en", n) for n in (1, 11, 21)] == [0, 1, 1]


def test_counted_messages_agree_with_their_number():
    en, ru = Translator("en"), Translator("ru")
    assert [en.plural("plural.messages", n) for n in (1, 2)] == ["1 message", "2 messages"]
    assert [ru.plural("plural.messages", n) for n in (1, 3, 5, 21)] == [
        "1 сообщение",
        "3 сообщения",
        "5 сообщений",
        "21 сообщение",
    ]
    row = en(
        "history.row", number=1, name="Main", when="today", messages=en.plural("plural.messages", 1)
    )
    assert row.endswith("· 1 message")
