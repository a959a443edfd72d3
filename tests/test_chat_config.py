"""Chat settings: defaults, parsing and errors."""

import pytest

from bot.config import DEFAULT_SYSTEM_PROMPT, ConfigError, Settings

TOKEN = "123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


def test_chat_defaults() -> None:
    s = Settings.from_env({"BOT_TOKEN": TOKEN})
    assert s.system_prompt == DEFAULT_SYSTEM_PROMPT
    assert (s.chat_history_messages, s.chat_history_chars) == (20, 12_000)
    assert (s.chat_connect_timeout, s.chat_first_token_timeout, s.chat_total_timeout) == (
        10.0,
        60.0,
        300.0,
    )
    assert s.chat_max_tokens == 4096  # VisionCraft's own default (512) cuts long answers


def test_chat_settings_are_read() -> None:
    s = Settings.from_env(
        {
            "BOT_TOKEN": TOKEN,
            "SYSTEM_PROMPT": "Be brief.\\nAlways.",
            "CHAT_HISTORY_MESSAGES": "8",
            "CHAT_HISTORY_CHARS": "4000",
            "CHAT_CONNECT_TIMEOUT": "2.5",
            "CHAT_FIRST_TOKEN_TIMEOUT": "30",
            "CHAT_TOTAL_TIMEOUT": "90",
            "CHAT_MAX_TOKENS": "128",
            "DOCUMENT_MAX_CHARS": "20000",
        }
    )
    assert s.chat_max_tokens == 128
    assert s.document_max_chars == 20000
    assert Settings.from_env({"BOT_TOKEN": TOKEN}).document_max_chars == 50_000
    assert s.system_prompt == "Be brief.\nAlways."
    assert (s.chat_history_messages, s.chat_history_chars) == (8, 4000)
    assert (s.chat_connect_timeout, s.chat_first_token_timeout, s.chat_total_timeout) == (
        2.5,
        30.0,
        90.0,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CHAT_HISTORY_MESSAGES", "1"),
        ("CHAT_HISTORY_MESSAGES", "many"),
        ("CHAT_HISTORY_CHARS", "10"),
        ("CHAT_FIRST_TOKEN_TIMEOUT", "0"),
        ("CHAT_TOTAL_TIMEOUT", "soon"),
        ("CHAT_MAX_TOKENS", "100"),
        ("CHAT_MAX_TOKENS", "100001"),
        ("CHAT_MAX_TOKENS", "-1"),
        ("CHAT_MAX_TOKENS", "lots"),
        ("DOCUMENT_MAX_CHARS", "999"),
        ("DOCUMENT_MAX_CHARS", "1000001"),
        ("DOCUMENT_MAX_CHARS", "all"),
    ],
)
def test_bad_chat_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"BOT_TOKEN": TOKEN, name: value})
    assert info.value.variable == name


def test_every_chat_variable_is_in_env_example() -> None:
    from pathlib import Path

    example = (Path(__file__).parent.parent / ".env.example").read_text()
    for name in (
        "SYSTEM_PROMPT",
        "CHAT_HISTORY_MESSAGES",
        "CHAT_HISTORY_CHARS",
        "CHAT_CONNECT_TIMEOUT",
        "CHAT_FIRST_TOKEN_TIMEOUT",
        "CHAT_TOTAL_TIMEOUT",
        "CHAT_MAX_TOKENS",
        "DOCUMENT_MAX_CHARS",
    ):
        assert f"\n{name}=" in example


def test_zero_max_tokens_means_the_providers_default() -> None:
    assert Settings.from_env({"BOT_TOKEN": TOKEN, "CHAT_MAX_TOKENS": "0"}).chat_max_tokens == 0
