"""Settings for ``python -m api``: BOT_TOKEN optional there, the API's own variables."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, Settings

TOKEN = "123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


def test_the_api_does_not_need_a_bot_token():
    settings = Settings.from_env({}, require_bot_token=False)
    assert settings.bot_token == ""
    assert settings.secrets == ()
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({})
    assert caught.value.variable == "BOT_TOKEN"


def test_a_bot_token_that_is_set_must_still_look_right():
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"BOT_TOKEN": "nope"}, require_bot_token=False)
    assert caught.value.variable == "BOT_TOKEN"
    settings = Settings.from_env({"BOT_TOKEN": TOKEN}, require_bot_token=False)
    assert settings.bot_token == TOKEN


def test_api_defaults_and_overrides():
    settings = Settings.from_env({}, require_bot_token=False)
    assert settings.api_rate_per_second == {"free": 1.0, "tier1": 5.0, "tier2": 20.0}
    assert settings.api_max_body_bytes == 8 * 1024 * 1024
    assert (settings.api_host, settings.api_port) == ("0.0.0.0", 8000)
    settings = Settings.from_env(
        {
            "API_RATE_FREE_PER_SECOND": "0.5",
            "API_RATE_TIER2_PER_SECOND": "-1",
            "API_MAX_BODY_BYTES": "65536",
            "PORT": "5000",
        },
        require_bot_token=False,
    )
    assert settings.api_rate_per_second["free"] == 0.5
    assert settings.api_rate_per_second["tier2"] == -1
    assert settings.api_max_body_bytes == 65536
    assert settings.api_port == 5000  # $PORT when API_PORT is not set


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("API_RATE_FREE_PER_SECOND", "fast"),
        ("API_RATE_TIER1_PER_SECOND", "0"),
        ("API_RATE_TIER2_PER_SECOND", "-5"),
        ("API_MAX_BODY_BYTES", "12"),
        ("API_MAX_BODY_BYTES", "lots"),
    ],
)
def test_bad_api_values_name_the_variable(name, value):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({name: value}, require_bot_token=False)
    assert caught.value.variable == name


def test_client_timeout_default_range_and_junk():
    assert Settings.from_env({}, require_bot_token=False).api_client_timeout == 10.0
    for good, expected in (("1", 1.0), ("2.5", 2.5), ("300", 300.0)):
        env = {"API_CLIENT_TIMEOUT": good}
        assert Settings.from_env(env, require_bot_token=False).api_client_timeout == expected
    for bad in ("nan", "inf", "-inf", "0", "0.5", "301", "1e400", "ten", "-5"):
        with pytest.raises(ConfigError) as caught:
            Settings.from_env({"API_CLIENT_TIMEOUT": bad}, require_bot_token=False)
        assert caught.value.variable == "API_CLIENT_TIMEOUT"
        assert str(caught.value).startswith("API_CLIENT_TIMEOUT: ")


def test_cors_origins_default_list_and_junk():
    assert Settings.from_env({}, require_bot_token=False).api_cors_origins == ("*",)
    env = {"API_CORS_ORIGINS": " https://App.example.com/ ,http://localhost:3000,"}
    origins = Settings.from_env(env, require_bot_token=False).api_cors_origins
    assert origins == ("https://app.example.com", "http://localhost:3000")
    env = {"API_CORS_ORIGINS": "https://a.example, *"}
    assert Settings.from_env(env, require_bot_token=False).api_cors_origins == ("*",)
    for bad in (",", "app.example.com", "ftp://a.example", "https://a.example/path", "http://a b"):
        with pytest.raises(ConfigError) as caught:
            Settings.from_env({"API_CORS_ORIGINS": bad}, require_bot_token=False)
        assert caught.value.variable == "API_CORS_ORIGINS"
