"""Numeric settings: plain finite numbers inside their documented ranges, or one ConfigError
naming the variable. The process side (exit code 2, one line) is in test_startup_refusals."""

from __future__ import annotations

import pytest

from bot.config import MAX_DAILY_QUOTA, ConfigError, Settings, _float, _int

TOKEN = "123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

# Every numeric setting, with a value inside its range and its documented bounds.
INTS = {
    "TIER1_PRICE_STARS": (1, 100_000),
    "TIER2_PRICE_STARS": (1, 100_000),
    "TRIAL_COOLDOWN_DAYS": (0, 3650),
    "PORT": (1, 65535),
    "API_PORT": (1, 65535),
    "QUOTA_FREE_CHAT": (-1, MAX_DAILY_QUOTA),
    "QUOTA_TIER1_IMAGE": (-1, MAX_DAILY_QUOTA),
    "QUOTA_TIER2_GIF": (-1, MAX_DAILY_QUOTA),
    "RATE_FREE_PER_MINUTE": (-1, 100_000),
    "RATE_TIER2_PER_MINUTE": (-1, 100_000),
    "CHAT_HISTORY_MESSAGES": (2, 1000),
    "CHAT_HISTORY_CHARS": (1000, 1_000_000),
    "GENERATION_CONCURRENCY": (1, 1000),
    "KEY_RECHECK_INTERVAL": (60, 30 * 86400),
    "API_MAX_BODY_BYTES": (1024, 512 * 1024 * 1024),
    "MAX_CONCURRENT_UPDATES": (1, 1_000_000),
    "CHAT_MAX_TOKENS": (0, 100_000),
    "RETENTION_DAYS": (0, 36500),
    "DOCUMENT_MAX_CHARS": (1000, 1_000_000),
}
FLOATS = {
    "SHUTDOWN_TIMEOUT": (0.0, 3600.0),
    "CHAT_CONNECT_TIMEOUT": (0.1, 600.0),
    "CHAT_FIRST_TOKEN_TIMEOUT": (0.1, 3600.0),
    "CHAT_TOTAL_TIMEOUT": (0.1, 3600.0),
    "GENERATION_TIMEOUT": (1.0, 3600.0),
    "KEY_RECHECK_PER_SECOND": (0.01, 20.0),
    "API_RATE_FREE_PER_SECOND": (-1.0, 10_000.0),
    "API_RATE_TIER1_PER_SECOND": (-1.0, 10_000.0),
    "API_RATE_TIER2_PER_SECOND": (-1.0, 10_000.0),
}
NOT_NUMBERS = ["nan", "NaN", "inf", "-inf", "Infinity", "1e400", "1_000", "٣", "0x10", "5s"]


def refused(name: str, value: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"BOT_TOKEN": TOKEN, name: value})
    assert caught.value.variable == name
    return caught.value


@pytest.mark.parametrize("name", [*INTS, *FLOATS])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e400", "99999999999999999999"])
def test_every_numeric_setting_refuses_non_finite_and_huge_values(name, value):
    error = refused(name, value)
    assert str(error).startswith(f"{name}: ") and "\n" not in str(error)


@pytest.mark.parametrize("name", list(INTS))
def test_int_settings_accept_their_bounds_and_refuse_one_past(name):
    low, high = INTS[name]
    for ok in (low, high):
        Settings.from_env({"BOT_TOKEN": TOKEN, name: str(ok)})
    assert "at least" in str(refused(name, str(low - 1)))
    assert "at most" in str(refused(name, str(high + 1)))
    assert "whole number" in str(refused(name, "1.5"))


@pytest.mark.parametrize("name", list(FLOATS))
def test_float_settings_accept_their_bounds_and_refuse_past_them(name):
    low, high = FLOATS[name]
    for ok in (low, high):
        Settings.from_env({"BOT_TOKEN": TOKEN, name: repr(ok)})
    assert "at least" in str(refused(name, repr(low - 0.5)))
    assert "at most" in str(refused(name, repr(high + 0.5)))


def test_the_examples_from_the_field_are_refused():
    assert "finite" in str(refused("CHAT_TOTAL_TIMEOUT", "nan"))
    assert "finite" in str(refused("KEY_RECHECK_PER_SECOND", "nan"))
    assert "finite" in str(refused("API_RATE_FREE_PER_SECOND", "inf"))
    assert "at most 1000000" in str(refused("QUOTA_FREE_CHAT", "99999999999999999999"))
    assert "finite" in str(refused("SHUTDOWN_TIMEOUT", "nan"))


@pytest.mark.parametrize("raw", NOT_NUMBERS)
def test_the_int_parser_takes_plain_ascii_decimals_only(raw):
    with pytest.raises(ConfigError) as caught:
        _int({"X": raw}, "X", 7, minimum=-(2**63), maximum=2**63 - 1)
    assert caught.value.variable == "X"


@pytest.mark.parametrize("raw", NOT_NUMBERS)
def test_the_float_parser_takes_finite_ascii_decimals_only(raw):
    with pytest.raises(ConfigError) as caught:
        _float({"X": raw}, "X", 7.0, minimum=-1e300, maximum=1e300)
    assert caught.value.variable == "X"


def test_the_parsers_read_what_they_should():
    assert _int({}, "X", 7, minimum=0, maximum=9) == 7  # absent: the default
    assert _int({"X": "  "}, "X", 7, minimum=0, maximum=9) == 7  # blank: the default
    assert _int({"X": " +3 "}, "X", 7, minimum=0, maximum=9) == 3
    assert _int({"X": "-1"}, "X", 7, minimum=-1, maximum=9) == -1
    assert _float({"X": "2.5"}, "X", 1.0, minimum=0, maximum=9) == 2.5
    assert _float({"X": ".5"}, "X", 1.0, minimum=0, maximum=9) == 0.5
    assert _float({"X": "1e1"}, "X", 1.0, minimum=0, maximum=10) == 10.0
    assert _float({"X": "3"}, "X", 1.0, minimum=0, maximum=9) == 3.0


def test_api_rates_between_zero_and_the_minimum_are_refused():
    refused("API_RATE_TIER1_PER_SECOND", "0")
    refused("API_RATE_TIER1_PER_SECOND", "0.001")
    settings = Settings.from_env({"BOT_TOKEN": TOKEN, "API_RATE_TIER1_PER_SECOND": "-1"})
    assert settings.api_rate_per_second["tier1"] == -1


@pytest.mark.parametrize("value", ["9223372036854775808", "٣٤٥", "12,99999999999999999999"])
def test_admin_ids_are_ascii_and_within_64_bits(value):
    refused("ADMIN_IDS", value)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "0.0.0.0", "localhost", "api.example.org"])
def test_api_host_takes_addresses_and_host_names(host):
    assert Settings.from_env({"API_HOST": host}, require_bot_token=False).api_host == host


@pytest.mark.parametrize("host", ["bad host", "http://x", "-x.org", "a..b", "x" * 64, "1.2.3.4:80"])
def test_api_host_refuses_what_is_neither(host):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"API_HOST": host}, require_bot_token=False)
    assert caught.value.variable == "API_HOST"
