from pathlib import Path

import pytest

from bot.config import (
    NEBULA_DEFAULT_CHAT_MODEL,
    VISIONCRAFT_DEFAULT_CHAT_MODEL,
    ConfigError,
    Settings,
)

TOKEN = "123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


def test_defaults_match_the_contract():
    s = Settings.from_env({"BOT_TOKEN": TOKEN})
    assert s.telegram_api_url == "https://api.telegram.org"
    assert s.database_path == Path("data/bot.sqlite3")
    assert s.required_channel is None
    assert s.admin_ids == frozenset()
    assert s.visioncraft_api_url == "https://visioncraft.top"
    assert s.nebula_api_url == "https://inference.nebulablock.com/v1"
    assert s.chat_model == VISIONCRAFT_DEFAULT_CHAT_MODEL
    assert s.vision_model == "llava-1.5-7b-hf"
    assert s.image_model == "sdxl-base"
    assert (s.tier1_price_stars, s.tier2_price_stars) == (500, 1000)
    assert s.trial_cooldown_days == 7
    assert s.webhook_url is None
    assert s.port == 8080
    assert (s.api_host, s.api_port) == ("0.0.0.0", 8000)
    assert s.log_level == "INFO"
    assert s.limits["free"].daily["image"] == 5
    assert s.limits["tier2"].daily["chat"] < 0


def test_every_variable_is_read():
    s = Settings.from_env(
        {
            "BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": "http://127.0.0.1:9000/",
            "DATABASE_PATH": "/tmp/x/db.sqlite3",
            "REQUIRED_CHANNEL": "@my_channel",
            "ADMIN_IDS": "1, 22,333",
            "VISIONCRAFT_API_URL": "http://127.0.0.1:9001",
            "VISIONCRAFT_API_KEY": "vk",
            "NEBULA_API_URL": "http://127.0.0.1:9002/v1",
            "NEBULA_API_KEY": "nk",
            "VISION_MODEL": "llava-x",
            "IMAGE_MODEL": "deliberate_v2",
            "TIER1_PRICE_STARS": "100",
            "TIER2_PRICE_STARS": "200",
            "TRIAL_COOLDOWN_DAYS": "3",
            "WEBHOOK_URL": "https://example.org/hook",
            "WEBHOOK_SECRET": "s3cret",
            "PORT": "9090",
            "API_HOST": "127.0.0.1",
            "LOG_LEVEL": "debug",
            "QUOTA_FREE_IMAGE": "2",
            "QUOTA_TIER1_GIF": "-1",
        }
    )
    assert s.telegram_api_url == "http://127.0.0.1:9000"
    assert s.database_path == Path("/tmp/x/db.sqlite3")
    assert s.required_channel == "@my_channel"
    assert s.admin_ids == {1, 22, 333}
    assert s.chat_model == NEBULA_DEFAULT_CHAT_MODEL  # Nebula key set, no CHAT_MODEL
    assert (s.vision_model, s.image_model) == ("llava-x", "deliberate_v2")
    assert (s.tier1_price_stars, s.tier2_price_stars, s.trial_cooldown_days) == (100, 200, 3)
    assert s.webhook_url == "https://example.org/hook" and s.webhook_secret == "s3cret"
    assert s.port == 9090 and s.api_port == 9090  # API_PORT falls back to $PORT
    assert s.log_level == "DEBUG"
    assert s.limits["free"].daily["image"] == 2
    assert s.limits["tier1"].is_unlimited("gif")


def test_explicit_chat_model_wins():
    s = Settings.from_env({"BOT_TOKEN": TOKEN, "NEBULA_API_KEY": "k", "CHAT_MODEL": "m"})
    assert s.chat_model == "m"


def test_secrets_are_not_in_repr():
    s = Settings.from_env(
        {"BOT_TOKEN": TOKEN, "VISIONCRAFT_API_KEY": "vk-secret", "NEBULA_API_KEY": "nb-secret"}
    )
    text = repr(s)
    assert TOKEN not in text and "vk-secret" not in text and "nb-secret" not in text
    assert set(s.secrets) == {TOKEN, "vk-secret", "nb-secret"}


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "BOT_TOKEN"),
        ({"BOT_TOKEN": "  "}, "BOT_TOKEN"),
        ({"BOT_TOKEN": "not-a-token"}, "BOT_TOKEN"),
        ({"ADMIN_IDS": "12,abc"}, "ADMIN_IDS"),
        ({"QUOTA_FREE_CHAT": "ten"}, "QUOTA_FREE_CHAT"),
        ({"QUOTA_TIER2_GIF": "1.5"}, "QUOTA_TIER2_GIF"),
        ({"TELEGRAM_API_URL": "api.telegram.org"}, "TELEGRAM_API_URL"),
        ({"VISIONCRAFT_API_URL": "ftp://x"}, "VISIONCRAFT_API_URL"),
        ({"NEBULA_API_URL": "localhost:8000"}, "NEBULA_API_URL"),
        ({"TIER1_PRICE_STARS": "0"}, "TIER1_PRICE_STARS"),
        ({"TIER2_PRICE_STARS": "lots"}, "TIER2_PRICE_STARS"),
        ({"TRIAL_COOLDOWN_DAYS": "-1"}, "TRIAL_COOLDOWN_DAYS"),
        ({"PORT": "70000"}, "PORT"),
        ({"API_PORT": "http"}, "API_PORT"),
        ({"WEBHOOK_URL": "http://insecure.example.org"}, "WEBHOOK_URL"),
        ({"WEBHOOK_SECRET": "has space"}, "WEBHOOK_SECRET"),
        ({"REQUIRED_CHANNEL": "channel"}, "REQUIRED_CHANNEL"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
    ],
)
def test_bad_values_name_the_variable(env, variable):
    full = {"BOT_TOKEN": TOKEN, **env} if variable != "BOT_TOKEN" else env
    with pytest.raises(ConfigError) as info:
        Settings.from_env(full)
    assert info.value.variable == variable
    assert str(info.value).startswith(variable)
    assert "\n" not in str(info.value)


def test_channel_forms():
    by_id = Settings.from_env({"BOT_TOKEN": TOKEN, "REQUIRED_CHANNEL": "-1001234567890"})
    assert by_id.required_channel == "-1001234567890"
    by_link = Settings.from_env({"BOT_TOKEN": TOKEN, "REQUIRED_CHANNEL": "https://t.me/vc_news"})
    assert by_link.required_channel == "@vc_news"


# -- proxies ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HTTPS_PROXY", "socks5://user:hunter22@127.0.0.1:1080"),
        ("ALL_PROXY", "https://proxy.example.org:3128"),
        ("http_proxy", "proxy.example.org:3128"),  # no scheme
        ("HTTP_PROXY", "http://user:hunter22@proxy.example.org:99999"),  # no such port
        ("https_proxy", "http://:3128"),  # no host
        ("HTTPS_PROXY", "http://proxy.example.org"),  # no port
    ],
)
def test_a_proxy_the_clients_cannot_speak_is_refused_by_name(variable, value):
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"BOT_TOKEN": TOKEN, variable: value})
    assert info.value.variable == variable
    assert "http://host:port" in info.value.problem
    assert "hunter22" not in str(info.value)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"HTTP_PROXY": "http://plain:3128"}, None),  # Telegram's API is https://
        ({"HTTPS_PROXY": "http://tls:3128"}, "http://tls:3128"),
        ({"ALL_PROXY": "http://any:3128"}, "http://any:3128"),
        ({"HTTPS_PROXY": "http://tls:3128", "ALL_PROXY": "http://any:3128"}, "http://tls:3128"),
        # the lower-case spelling wins, as in curl, httpx and aiohttp
        ({"HTTPS_PROXY": "http://upper:1", "https_proxy": "http://lower:2"}, "http://lower:2"),
        ({"HTTPS_PROXY": "http://tls:3128", "NO_PROXY": "api.telegram.org"}, None),
        ({"HTTPS_PROXY": "http://tls:3128", "no_proxy": "example.com,.telegram.org"}, None),
        ({"HTTPS_PROXY": "http://tls:3128", "NO_PROXY": "*"}, None),
        ({"HTTPS_PROXY": "http://tls:3128", "NO_PROXY": "example.com"}, "http://tls:3128"),
        ({"HTTPS_PROXY": "http://tls:3128", "NO_PROXY": "api.telegram.org:443"}, None),
        (
            {"HTTPS_PROXY": "http://tls:3128", "NO_PROXY": "api.telegram.org:8443"},
            "http://tls:3128",
        ),
        ({"HTTPS_PROXY": "http://tls:3128", "NO_PROXY": "legram.org"}, "http://tls:3128"),
    ],
)
def test_telegram_is_reached_through_the_proxy_for_its_url(env, expected):
    settings = Settings.from_env({"BOT_TOKEN": TOKEN, **env})
    assert settings.telegram_proxy == expected
    if expected is not None:  # the variable it came from, for the operator's messages
        assert env[settings.telegram_proxy_variable] == expected


def test_a_local_bot_api_server_is_reached_through_http_proxy_unless_no_proxy_names_it():
    env = {"BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": "http://10.0.0.5:8081"}
    proxied = Settings.from_env({**env, "HTTP_PROXY": "http://plain:3128"})
    assert proxied.telegram_proxy == "http://plain:3128"
    direct = Settings.from_env({**env, "HTTP_PROXY": "http://plain:3128", "NO_PROXY": "10.0.0.5"})
    assert direct.telegram_proxy is None


def test_proxy_passwords_are_secrets():
    s = Settings.from_env(
        {
            "BOT_TOKEN": TOKEN,
            "HTTPS_PROXY": "http://me:tls-pass@tls:3128",
            "HTTP_PROXY": "http://me:plain-pass@plain:3128",
            "ALL_PROXY": "http://nopassword:3128",
        }
    )
    assert {"tls-pass", "plain-pass"} <= set(s.secrets)
    assert "tls-pass" not in repr(s) and "plain-pass" not in repr(s)


def test_telegram_proxy_wins_for_telegram_and_may_be_socks():
    socks = "socks5://bot:tg-pass@10.0.0.9:1080"
    s = Settings.from_env(
        {"BOT_TOKEN": TOKEN, "TELEGRAM_PROXY": socks, "HTTPS_PROXY": "http://tls:3128"}
    )
    assert (s.telegram_proxy, s.telegram_proxy_variable) == (socks, "TELEGRAM_PROXY")
    assert "tg-pass" in s.secrets and "tg-pass" not in repr(s)
    for value in ("socks4://10.0.0.9:1080", "http://10.0.0.9:3128"):
        assert (
            Settings.from_env({"BOT_TOKEN": TOKEN, "TELEGRAM_PROXY": value}).telegram_proxy == value
        )


@pytest.mark.parametrize(
    "value",
    ["socks5h://h:1080", "https://h:443", "socks5://h", "h:1080", "socks5://u:hunter22@h:99999"],
)
def test_a_telegram_proxy_aiogram_cannot_use_is_refused_by_name(value):
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"BOT_TOKEN": TOKEN, "TELEGRAM_PROXY": value})
    assert info.value.variable == "TELEGRAM_PROXY"
    assert "socks5://" in info.value.problem and "hunter22" not in str(info.value)
