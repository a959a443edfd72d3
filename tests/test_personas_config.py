"""PERSONAS_FILE and RICH_MESSAGES: defaults, parsing, refusals naming the variable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.config import ConfigError, Settings

TOKEN = "123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


def test_defaults_four_personas_in_two_languages_and_rich_on() -> None:
    s = Settings.from_env({"BOT_TOKEN": TOKEN, "SYSTEM_PROMPT": "Be kind."})
    assert [p.key for p in s.personas] == ["assistant", "coder", "translator", "tutor"]
    assert s.personas[0].prompt == "Be kind."  # the default persona is SYSTEM_PROMPT
    assert s.personas[1].title("ru") == "Программист" and s.personas[1].title("de") == "Coder"
    assert s.rich_messages is True
    assert Settings.from_env({"BOT_TOKEN": TOKEN, "RICH_MESSAGES": "0"}).rich_messages is False


def test_personas_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(
        json.dumps(
            {
                "lawyer": {"title": {"en": "Lawyer", "ru": "Юрист"}, "prompt": " Explain law. "},
                "poet": {"title": "Poet", "prompt": "Rhyme."},
            }
        ),
        encoding="utf-8",
    )
    s = Settings.from_env({"BOT_TOKEN": TOKEN, "PERSONAS_FILE": str(path)})
    assert [(p.key, p.title("ru"), p.prompt) for p in s.personas] == [
        ("lawyer", "Юрист", "Explain law."),
        ("poet", "Poet", "Rhyme."),
    ]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("not json", "not valid JSON"),
        ("[]", "JSON object"),
        ("{}", "JSON object"),
        ('{"Bad Key": {"title": "x", "prompt": "y"}}', "a-z"),
        ('{"a": {"title": "x"}}', "prompt"),
        ('{"a": {"title": "x", "prompt": ""}}', "prompt"),
        ('{"a": {"title": "", "prompt": "y"}}', "title"),
        ('{"a": {"title": {"english": "x"}, "prompt": "y"}}', "language code"),
        ('{"a": "just a prompt"}', "object with title and prompt"),
    ],
)
def test_bad_personas_file_names_the_variable(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "p.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"BOT_TOKEN": TOKEN, "PERSONAS_FILE": str(path)})
    assert info.value.variable == "PERSONAS_FILE" and reason in str(info.value)


def test_missing_personas_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"BOT_TOKEN": TOKEN, "PERSONAS_FILE": str(tmp_path / "none.json")})
    assert info.value.variable == "PERSONAS_FILE" and "cannot read" in str(info.value)


@pytest.mark.parametrize("value", ["2", "yes", "-1"])
def test_bad_rich_messages_value(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"BOT_TOKEN": TOKEN, "RICH_MESSAGES": value})
    assert info.value.variable == "RICH_MESSAGES"


def test_new_variables_are_in_env_example() -> None:
    example = (Path(__file__).parent.parent / ".env.example").read_text()
    assert "\nRICH_MESSAGES=" in example and "\nPERSONAS_FILE=" in example
