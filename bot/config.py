"""Settings read from the environment (and `.env` when present).

Everything the operator can configure is parsed here, once, into a frozen dataclass.
A bad value raises :class:`ConfigError` naming the variable; ``__main__`` turns it into
one line on stderr and exit code 2.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict, TypeVar
from urllib.parse import urlsplit

from bot.personas import Persona, default_personas, load_personas
from bot.tiers import KINDS, TIERS, Limits, default_limits

_N = TypeVar("_N", int, float)


class ConfigError(Exception):
    """A configuration variable is missing or malformed."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


_TOKEN_RE = re.compile(r"^\d{3,20}:[A-Za-z0-9_-]{20,}$")
_CHANNEL_RE = re.compile(r"^(@[A-Za-z][A-Za-z0-9_]{3,31}|-100\d{5,16})$")
_LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")

NEBULA_DEFAULT_CHAT_MODEL = "meta-llama/Llama-3.3-70B-Instruct"
VISIONCRAFT_DEFAULT_CHAT_MODEL = "Llama-3.1-70B-Instruct"
DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful assistant in a Telegram chat. Answer in the language of the user's "
    "last message. Be concise. Use Markdown only for emphasis, lists, links and code."
)


@dataclass(frozen=True, slots=True)
class Settings:
    bot_token: str = field(repr=False)
    telegram_api_url: str = "https://api.telegram.org"
    database_path: Path = Path("data/bot.sqlite3")
    # postgresql://…: PostgreSQL instead of the SQLite file (it holds a password: no repr).
    database_url: str | None = field(default=None, repr=False)
    required_channel: str | None = None
    admin_ids: frozenset[int] = frozenset()
    visioncraft_api_url: str = "https://visioncraft.top"
    visioncraft_api_key: str | None = field(default=None, repr=False)
    nebula_api_url: str = "https://inference.nebulablock.com/v1"
    nebula_api_key: str | None = field(default=None, repr=False)
    chat_model: str = VISIONCRAFT_DEFAULT_CHAT_MODEL
    vision_model: str = "llava-1.5-7b-hf"
    image_model: str = "sdxl-base"
    tier1_price_stars: int = 500
    tier2_price_stars: int = 1000
    trial_cooldown_days: int = 7
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    port: int = 8080
    api_host: str = "0.0.0.0"
    api_port: int = 8000
    log_level: str = "INFO"
    limits: Mapping[str, Limits] = field(default_factory=default_limits)
    shutdown_timeout: float = 20.0
    # chat: conversation memory and upstream timeouts
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    chat_history_messages: int = 20
    chat_history_chars: int = 12_000
    chat_connect_timeout: float = 10.0
    chat_first_token_timeout: float = 60.0
    chat_total_timeout: float = 300.0
    # images and GIFs
    generation_timeout: float = 300.0
    generation_concurrency: int = 4
    # API keys: background re-check of key owners' channel membership.
    key_recheck_per_second: float = 5.0
    key_recheck_interval: int = 6 * 3600
    # HTTP API (python -m api): requests per second per key and tier, biggest request body
    api_rate_per_second: Mapping[str, float] = field(
        default_factory=lambda: dict(API_RATE_PER_SECOND)
    )
    api_max_body_bytes: int = 8 * 1024 * 1024
    # HTTP API: how long a client may stay silent while sending a request, and the browser
    # origins allowed by CORS ("*": any)
    api_client_timeout: float = 10.0
    api_cors_origins: tuple[str, ...] = ("*",)
    # capacity
    max_concurrent_updates: int = 800
    # answer length: max_tokens sent with every chat request (0: the provider's default)
    chat_max_tokens: int = 4096
    # days idle conversations, daily usage counters and unpaid invoices are kept (0: forever)
    retention_days: int = 90
    # documents: most characters of a file's text sent to the model with the question.
    # 50000 characters are ~12k tokens of English, ~20k of Russian: with the answer
    # (CHAT_MAX_TOKENS) that fits a 32k-token context, the smallest the offered models are
    # served with (Llama 3.x has 128k: raise it where the provider serves the full context).
    document_max_chars: int = 50_000
    # operations: log line format, the bot's own /health + /metrics port (None: off; the
    # webhook server answers them in webhook mode), and the bearer token for /metrics
    # (None: loopback clients only)
    log_format: str = "text"
    bot_http_port: int | None = None
    metrics_token: str | None = field(default=None, repr=False)
    # rich answers (tables, formulas, thinking, up to 32,768 characters) where Telegram has them
    rich_messages: bool = True
    # the /persona list (PERSONAS_FILE, or the built-in four); the first is the default
    personas: tuple[Persona, ...] = field(default_factory=lambda: default_personas(""))
    # Redis (None: rate limits per process) and the prefix of every key the bot writes there
    redis_url: str | None = field(default=None, repr=False)
    redis_key_prefix: str = "vcbot:"
    # the proxy Telegram is reached through (TELEGRAM_PROXY, else HTTP_PROXY/HTTPS_PROXY/
    # ALL_PROXY and NO_PROXY) and the variable that named it, and the passwords of every proxy
    # variable (log redaction)
    telegram_proxy: str | None = field(default=None, repr=False)
    telegram_proxy_variable: str | None = None
    proxy_passwords: tuple[str, ...] = field(default=(), repr=False)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret value, for log redaction."""
        values = (self.bot_token, self.visioncraft_api_key, self.nebula_api_key)
        redis_password = urlsplit(self.redis_url).password if self.redis_url else None
        more = (self.webhook_secret, self.metrics_token, redis_password, *self.proxy_passwords)
        return tuple(v for v in (*values, *more) if v)

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, require_bot_token: bool = True
    ) -> Settings:
        """Build settings from ``env`` (default: ``os.environ``). Raises ConfigError.

        ``require_bot_token=False`` is for processes that never talk to Telegram (the HTTP
        API, ``python -m api``): BOT_TOKEN may then be absent (``bot_token`` is ``""``), but
        a BOT_TOKEN that is set must still look like one.
        """
        env = os.environ if env is None else env
        return _parse(env, require_bot_token=require_bot_token)


def _database_url(env: Mapping[str, str]) -> str | None:
    """``DATABASE_URL``: a PostgreSQL URL or nothing (SQLite). The message never repeats the
    value: it may hold a password."""
    url = _get(env, "DATABASE_URL")
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres") or not (parts.hostname or parts.path):
        raise ConfigError(
            "DATABASE_URL", "must be a postgresql://user:password@host:port/database URL"
        )
    return url


# Read as curl, httpx and aiohttp read them: the lower-case spelling wins over the upper-case.
_PROXY_VARIABLES = tuple(
    spelling
    for name in ("http_proxy", "https_proxy", "all_proxy")
    for spelling in (name, name.upper())
)


def _proxies(env: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """The proxy variables that are set: by lower-case name, the variable as spelt and its
    URL. Each must be an ``http://`` URL (what both the upstream client and the Telegram
    session can speak). The message never repeats the value: it may hold a password."""
    found: dict[str, tuple[str, str]] = {}
    for name in _PROXY_VARIABLES:
        value = _get(env, name)
        if value is None or name.lower() in found:
            continue
        if not _is_proxy_url(value, ("http",)):
            raise ConfigError(
                name,
                "must be an http://host:port proxy URL (SOCKS and https:// proxies are not "
                "supported here; TELEGRAM_PROXY takes socks5:// for Telegram)",
            )
        found[name.lower()] = (name, value)
    return found


def _is_proxy_url(value: str, schemes: tuple[str, ...]) -> bool:
    """Whether ``value`` is a proxy URL of one of ``schemes`` with a host and a port."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:  # a port out of range or not a number
        return False
    return parts.scheme in schemes and bool(parts.hostname) and bool(port)


def _telegram_proxy(
    env: Mapping[str, str], proxies: Mapping[str, tuple[str, str]], url: str
) -> tuple[str, str] | None:
    """``TELEGRAM_PROXY`` (``http://``, ``socks5://`` or ``socks4://``) when it is set, else
    the proxy of the environment for ``url``."""
    value = _get(env, "TELEGRAM_PROXY")
    if value is None:
        return _proxy_for(env, proxies, url)
    if not _is_proxy_url(value, ("http", "socks5", "socks4")):
        raise ConfigError(
            "TELEGRAM_PROXY",
            "must be a proxy URL: http://, socks5:// or socks4://[user:password@]host:port",
        )
    return ("TELEGRAM_PROXY", value)


def _proxy_for(
    env: Mapping[str, str], proxies: Mapping[str, tuple[str, str]], url: str
) -> tuple[str, str] | None:
    """The proxy ``url`` is reached through (the variable and its URL): the variable of its
    scheme, else ``ALL_PROXY``; none when ``NO_PROXY`` (or ``no_proxy``) names its host."""
    proxy = proxies.get(f"{urlsplit(url).scheme}_proxy") or proxies.get("all_proxy")
    no_proxy = _get(env, "no_proxy") or _get(env, "NO_PROXY") or ""
    if proxy is None or _bypassed(no_proxy, url):
        return None
    return proxy


def _bypassed(no_proxy: str, url: str) -> bool:
    """Whether ``NO_PROXY`` (comma-separated ``*``, hosts and domains, each with an optional
    ``:port``) names the host of ``url``, as curl reads it: ``example.com`` and
    ``.example.com`` both cover ``example.com`` and every name under it."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = str(parts.port or (443 if parts.scheme == "https" else 80))
    for entry in no_proxy.lower().split(","):
        name, _, entry_port = entry.strip().partition(":")
        name = name.lstrip(".")
        if entry_port and entry_port != port:
            continue
        if name == "*" or (name and (host == name or host.endswith("." + name))):
            return True
    return False


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    value = _get(env, name) or default
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(name, f"must be an http(s) URL with a scheme, got {value!r}")
    return value.rstrip("/")


# Numbers: plain ASCII decimal only. Python's int() and float() also take "1_000", other
# scripts' digits, "nan" and "inf"; none of those is a sensible setting, and nan or inf
# slip past every "at least"/"at most" check. Every numeric setting has a documented range
# (README, configuration table), which also keeps it inside SQLite's 64-bit integers.
_INT_RE = re.compile(r"[+-]?[0-9]{1,30}")
_FLOAT_RE = re.compile(
    r"[+-]?(?:[0-9]{1,30}(?:\.[0-9]{0,30})?|\.[0-9]{1,30})(?:[eE][+-]?[0-9]{1,4})?"
)


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int) -> int:
    """An integer setting within ``minimum``..``maximum`` (both inclusive)."""
    raw = _get(env, name)
    if raw is None:
        return default
    if not _INT_RE.fullmatch(raw):
        raise ConfigError(name, f"must be a whole number, got {raw!r}")
    return _in_range(name, int(raw), minimum, maximum)


def _float(
    env: Mapping[str, str], name: str, default: float, *, minimum: float, maximum: float
) -> float:
    """A finite number setting within ``minimum``..``maximum`` (both inclusive)."""
    raw = _get(env, name)
    if raw is None:
        return default
    if not _FLOAT_RE.fullmatch(raw):
        raise ConfigError(name, f"must be a finite number, got {raw!r}")
    value = float(raw)
    if not math.isfinite(value):  # 1e400 overflows to inf
        raise ConfigError(name, f"must be a finite number, got {raw!r}")
    return _in_range(name, value, minimum, maximum)


def _in_range(name: str, value: _N, minimum: _N, maximum: _N) -> _N:
    if value < minimum:
        raise ConfigError(name, f"must be at least {_show(minimum)}, got {_show(value)}")
    if value > maximum:
        raise ConfigError(name, f"must be at most {_show(maximum)}, got {_show(value)}")
    return value


def _show(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def _admin_ids(env: Mapping[str, str]) -> frozenset[int]:
    raw = _get(env, "ADMIN_IDS")
    if raw is None:
        return frozenset()
    ids: set[int] = set()
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        if not re.fullmatch(r"[0-9]{1,19}", part) or int(part) > MAX_INT64:
            raise ConfigError(
                "ADMIN_IDS", f"must be comma-separated Telegram user ids, got {part!r}"
            )
        ids.add(int(part))
    return frozenset(ids)


MAX_INT64 = 2**63 - 1
# The largest daily quota that is not "unlimited" (-1).
MAX_DAILY_QUOTA = 1_000_000


def _limits(env: Mapping[str, str]) -> dict[str, Limits]:
    limits = default_limits()
    for tier in TIERS:
        current = limits[tier]
        daily = dict(current.daily)
        for kind in KINDS:
            name = f"QUOTA_{tier.upper()}_{kind.upper()}"
            daily[kind] = _int(env, name, daily[kind], minimum=-1, maximum=MAX_DAILY_QUOTA)
        per_minute = _int(
            env, f"RATE_{tier.upper()}_PER_MINUTE", current.per_minute, minimum=-1, maximum=100000
        )
        limits[tier] = Limits(daily=daily, per_minute=per_minute)
    return limits


def _parse(env: Mapping[str, str], *, require_bot_token: bool = True) -> Settings:
    token = _get(env, "BOT_TOKEN")
    if token is None:
        if require_bot_token:
            raise ConfigError("BOT_TOKEN", "is required (get one from @BotFather)")
        token = ""
    elif not _TOKEN_RE.match(token):
        raise ConfigError("BOT_TOKEN", "does not look like a token from @BotFather (id:secret)")

    channel = _get(env, "REQUIRED_CHANNEL")
    if channel is not None:
        if channel.startswith("https://t.me/"):
            channel = "@" + channel.removeprefix("https://t.me/")
        if not _CHANNEL_RE.match(channel):
            raise ConfigError(
                "REQUIRED_CHANNEL", f"must be @channelname or a -100… id, got {channel!r}"
            )

    nebula_key = _get(env, "NEBULA_API_KEY")
    default_chat = NEBULA_DEFAULT_CHAT_MODEL if nebula_key else VISIONCRAFT_DEFAULT_CHAT_MODEL

    webhook_url = _get(env, "WEBHOOK_URL")
    if webhook_url is not None:
        parts = urlsplit(webhook_url)
        if parts.scheme != "https" or not parts.netloc:
            raise ConfigError("WEBHOOK_URL", f"must be a public https:// URL, got {webhook_url!r}")
    secret = _get(env, "WEBHOOK_SECRET")
    if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
        raise ConfigError("WEBHOOK_SECRET", "may only contain A-Z, a-z, 0-9, _ and - (1-256)")

    port = _int(env, "PORT", 8080, minimum=1, maximum=65535)
    default_api_port = port if _get(env, "PORT") is not None else 8000

    log_level = (_get(env, "LOG_LEVEL") or "INFO").upper()
    if log_level not in _LOG_LEVELS:
        raise ConfigError("LOG_LEVEL", f"must be one of {', '.join(_LOG_LEVELS)}")

    proxies = _proxies(env)
    telegram_api_url = _url(env, "TELEGRAM_API_URL", "https://api.telegram.org")
    telegram_proxy = _telegram_proxy(env, proxies, telegram_api_url)
    return Settings(
        bot_token=token,
        telegram_api_url=telegram_api_url,
        telegram_proxy=telegram_proxy[1] if telegram_proxy else None,
        telegram_proxy_variable=telegram_proxy[0] if telegram_proxy else None,
        proxy_passwords=tuple(
            password
            for url in (*(url for _, url in proxies.values()), _get(env, "TELEGRAM_PROXY"))
            if url and (password := urlsplit(url).password)
        ),
        database_path=Path(_get(env, "DATABASE_PATH") or "data/bot.sqlite3"),
        database_url=_database_url(env),
        required_channel=channel,
        admin_ids=_admin_ids(env),
        visioncraft_api_url=_url(env, "VISIONCRAFT_API_URL", "https://visioncraft.top"),
        visioncraft_api_key=_get(env, "VISIONCRAFT_API_KEY"),
        nebula_api_url=_url(env, "NEBULA_API_URL", "https://inference.nebulablock.com/v1"),
        nebula_api_key=nebula_key,
        chat_model=_get(env, "CHAT_MODEL") or default_chat,
        vision_model=_get(env, "VISION_MODEL") or "llava-1.5-7b-hf",
        image_model=_get(env, "IMAGE_MODEL") or "sdxl-base",
        tier1_price_stars=_int(env, "TIER1_PRICE_STARS", 500, minimum=1, maximum=100000),
        tier2_price_stars=_int(env, "TIER2_PRICE_STARS", 1000, minimum=1, maximum=100000),
        trial_cooldown_days=_int(env, "TRIAL_COOLDOWN_DAYS", 7, minimum=0, maximum=3650),
        webhook_url=webhook_url,
        webhook_secret=secret,
        port=port,
        api_host=_api_host(env),
        api_port=_int(env, "API_PORT", default_api_port, minimum=1, maximum=65535),
        log_level=log_level,
        limits=_limits(env),
        shutdown_timeout=_float(env, "SHUTDOWN_TIMEOUT", 20.0, minimum=0.0, maximum=3600.0),
        # chat
        system_prompt=(_get(env, "SYSTEM_PROMPT") or DEFAULT_SYSTEM_PROMPT).replace("\\n", "\n"),
        chat_history_messages=_int(env, "CHAT_HISTORY_MESSAGES", 20, minimum=2, maximum=1000),
        chat_history_chars=_int(env, "CHAT_HISTORY_CHARS", 12_000, minimum=1000, maximum=1_000_000),
        chat_connect_timeout=_float(env, "CHAT_CONNECT_TIMEOUT", 10.0, minimum=0.1, maximum=600.0),
        chat_first_token_timeout=_float(
            env, "CHAT_FIRST_TOKEN_TIMEOUT", 60.0, minimum=0.1, maximum=3600.0
        ),
        chat_total_timeout=_float(env, "CHAT_TOTAL_TIMEOUT", 300.0, minimum=0.1, maximum=3600.0),
        # images and GIFs: how long one generation (and one wait in the queue) may take,
        # and how many generations run upstream at once (the rest wait in a FIFO queue)
        generation_timeout=_float(env, "GENERATION_TIMEOUT", 300.0, minimum=1.0, maximum=3600.0),
        generation_concurrency=_int(env, "GENERATION_CONCURRENCY", 4, minimum=1, maximum=1000),
        **_key_recheck(env),
        **_api(env),
        **_api_edge(env),
        # capacity
        max_concurrent_updates=_int(
            env, "MAX_CONCURRENT_UPDATES", 800, minimum=1, maximum=1_000_000
        ),
        chat_max_tokens=_max_tokens(env),
        retention_days=_int(env, "RETENTION_DAYS", 90, minimum=0, maximum=36500),
        document_max_chars=_int(env, "DOCUMENT_MAX_CHARS", 50_000, minimum=1000, maximum=1_000_000),
        **_operations(env),
        rich_messages=bool(_int(env, "RICH_MESSAGES", 1, minimum=0, maximum=1)),
        personas=_personas(env),
        **_redis(env),
    )


def _personas(env: Mapping[str, str]) -> tuple[Persona, ...]:
    system_prompt = (_get(env, "SYSTEM_PROMPT") or DEFAULT_SYSTEM_PROMPT).replace("\\n", "\n")
    try:
        return load_personas(_get(env, "PERSONAS_FILE"), system_prompt)
    except ValueError as exc:
        raise ConfigError("PERSONAS_FILE", str(exc)) from None


# API_HOST: an IP address or a host name (resolved when the gateway starts listening).
_HOSTNAME_RE = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(?:\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?")


def _api_host(env: Mapping[str, str]) -> str:
    host = _get(env, "API_HOST") or "0.0.0.0"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if len(host) > 253 or not _HOSTNAME_RE.fullmatch(host):
            raise ConfigError(
                "API_HOST", f"must be an IP address or a host name, got {host!r}"
            ) from None
    return host


# Answer length. VisionCraft's default max_tokens is 512 (its documented range: 128-100000),
# which cuts long answers short; the bot asks for more unless told 0 (the provider's default).
def _max_tokens(env: Mapping[str, str]) -> int:
    value = _int(env, "CHAT_MAX_TOKENS", 4096, minimum=0, maximum=100_000)
    if 0 < value < 128:
        raise ConfigError("CHAT_MAX_TOKENS", f"must be 0 or at least 128, got {value}")
    return value


# API keys: how fast and how often key owners' channel membership is re-checked. Telegram
# allows about 30 requests per second per bot in all, so the re-check keeps well below that.
MAX_KEY_RECHECK_PER_SECOND = 20.0


class _KeyRecheckSettings(TypedDict):
    key_recheck_per_second: float
    key_recheck_interval: int


def _key_recheck(env: Mapping[str, str]) -> _KeyRecheckSettings:
    per_second = _float(
        env, "KEY_RECHECK_PER_SECOND", 5.0, minimum=0.01, maximum=MAX_KEY_RECHECK_PER_SECOND
    )
    interval = _int(env, "KEY_RECHECK_INTERVAL", 6 * 3600, minimum=60, maximum=30 * 86400)
    return {"key_recheck_per_second": per_second, "key_recheck_interval": interval}


# HTTP API (python -m api): a per-key requests-per-second limit for each tier (negative:
# none), and the largest request body accepted (a LLaVA request carries a base64 image).
API_RATE_PER_SECOND: Mapping[str, float] = {"free": 1.0, "tier1": 5.0, "tier2": 20.0}


class _ApiSettings(TypedDict):
    api_rate_per_second: Mapping[str, float]
    api_max_body_bytes: int


def _api(env: Mapping[str, str]) -> _ApiSettings:
    rates: dict[str, float] = {}
    for tier in TIERS:
        name = f"API_RATE_{tier.upper()}_PER_SECOND"
        rate = _float(env, name, API_RATE_PER_SECOND[tier], minimum=-1.0, maximum=10_000.0)
        if 0 <= rate < 0.01:
            raise ConfigError(name, "must be at least 0.01 (or negative for no limit)")
        rates[tier] = rate
    max_body = _int(
        env, "API_MAX_BODY_BYTES", 8 * 1024 * 1024, minimum=1024, maximum=512 * 1024 * 1024
    )
    return {"api_rate_per_second": rates, "api_max_body_bytes": max_body}


# HTTP API: the seconds a client may take to send a request head or the next piece of a body
# (slow clients are disconnected), and the origins browsers may call it from.
_ORIGIN_RE = re.compile(r"https?://([a-z0-9.-]+|\[[0-9a-f:.]+\])(:[0-9]{1,5})?")


class _ApiEdgeSettings(TypedDict):
    api_client_timeout: float
    api_cors_origins: tuple[str, ...]


def _api_edge(env: Mapping[str, str]) -> _ApiEdgeSettings:
    timeout = _float(env, "API_CLIENT_TIMEOUT", 10.0, minimum=1.0, maximum=300.0)
    origins: tuple[str, ...] = ("*",)
    raw = _get(env, "API_CORS_ORIGINS")
    if raw is not None:
        items = tuple(dict.fromkeys(item.strip().rstrip("/").lower() for item in raw.split(",")))
        items = tuple(item for item in items if item)
        if not items:
            raise ConfigError("API_CORS_ORIGINS", "must be * or a comma-separated list of origins")
        for item in items:
            if item != "*" and not _ORIGIN_RE.fullmatch(item):
                raise ConfigError(
                    "API_CORS_ORIGINS",
                    f"{item!r} is not an origin like https://app.example.com (or *)",
                )
        origins = ("*",) if "*" in items else items
    return {"api_client_timeout": timeout, "api_cors_origins": origins}


# Operations: how log lines look, where the bot answers /health and /metrics, and who may
# read /metrics. A metrics token is compared with the Authorization header; it must be a
# plain header-safe string.
LOG_FORMATS = ("text", "json")
_METRICS_TOKEN_RE = re.compile(r"[A-Za-z0-9._~+/=-]{16,256}")


class _OperationsSettings(TypedDict):
    log_format: str
    bot_http_port: int | None
    metrics_token: str | None


def _operations(env: Mapping[str, str]) -> _OperationsSettings:
    log_format = (_get(env, "LOG_FORMAT") or "text").lower()
    if log_format not in LOG_FORMATS:
        raise ConfigError("LOG_FORMAT", f"must be one of {', '.join(LOG_FORMATS)}")
    port: int | None = None
    if _get(env, "BOT_HTTP_PORT") is not None:
        port = _int(env, "BOT_HTTP_PORT", 0, minimum=1, maximum=65535)
    token = _get(env, "METRICS_TOKEN")
    if token is not None and not _METRICS_TOKEN_RE.fullmatch(token):
        raise ConfigError(
            "METRICS_TOKEN", "must be 16-256 characters from A-Z a-z 0-9 . _ ~ + / = -"
        )
    return {"log_format": log_format, "bot_http_port": port, "metrics_token": token}


# REDIS_URL: where rate limits are shared by every process. The value is never repeated in an
# error: it may hold a password.
_REDIS_PREFIX_RE = re.compile(r"[A-Za-z0-9:_.-]{1,64}")
_REDIS_URL_HELP = "must be redis://[:password@]host[:port][/db], rediss://… or unix:///path"


class _RedisSettings(TypedDict):
    redis_url: str | None
    redis_key_prefix: str


def _redis(env: Mapping[str, str]) -> _RedisSettings:
    url = _get(env, "REDIS_URL")
    if url is not None:
        try:
            parts = urlsplit(url)
            port = parts.port  # raises ValueError when it is not a number in range
        except ValueError:
            raise ConfigError("REDIS_URL", _REDIS_URL_HELP) from None
        if parts.scheme in ("redis", "rediss"):
            db = parts.path.lstrip("/")
            if not parts.hostname or not (db == "" or db.isdigit()) or port == 0:
                raise ConfigError("REDIS_URL", _REDIS_URL_HELP)
        elif parts.scheme != "unix" or not parts.path:
            raise ConfigError("REDIS_URL", _REDIS_URL_HELP)
    prefix = _get(env, "REDIS_KEY_PREFIX") or "vcbot:"
    if not _REDIS_PREFIX_RE.fullmatch(prefix):
        raise ConfigError("REDIS_KEY_PREFIX", "must be 1-64 characters from A-Z a-z 0-9 : _ . -")
    return {"redis_url": url, "redis_key_prefix": prefix}
