"""The operator kit: /metrics and /health, JSON log lines, the /stats chart, and the settings
behind them. The processes' own behaviour is tested on ``python -m bot`` and ``python -m api``
as processes against the fakes on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys

import aiohttp
import pytest

from bot.config import ConfigError, Settings
from bot.logs import log_user_id, setup_logging
from bot.metrics import metrics_allowed, sql_operation
from bot.services import stats_chart
from storage.db import Database
from tests.conftest import TOKEN
from tests.e2e_helpers import (
    ROOT,
    Process,
    bot_env,
    free_port,
    start_api,
    start_bot,
    start_webhook_bot,
)
from tests.test_startup_refusals import assert_one_line, run_front

METRICS_TOKEN = "metrics-Token_0123456789abcdef"
ADMIN = 777
PNG = b"\x89PNG\r\n\x1a\n"


# -- who may read /metrics -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("authorization", "allowed"),
    [
        (f"Bearer {METRICS_TOKEN}", True),
        (f"bearer {METRICS_TOKEN}", True),
        (f"Bearer {METRICS_TOKEN}x", False),
        (f"Bearer {METRICS_TOKEN[:-1]}", False),
        (f"Basic {METRICS_TOKEN}", False),
        (METRICS_TOKEN, False),
        ("", False),
        (None, False),
    ],
)
def test_with_a_token_only_the_bearer_token_counts(authorization, allowed):
    # From loopback too: a token set means the token is required.
    assert metrics_allowed(METRICS_TOKEN, authorization, "127.0.0.1") is allowed


@pytest.mark.parametrize(
    ("remote", "allowed"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.5", False),
        ("192.168.1.2", False),
        ("::ffff:10.0.0.5", False),
        ("2001:db8::1", False),
        ("localhost", False),
        ("", False),
        (None, False),
    ],
)
def test_without_a_token_only_loopback_clients(remote, allowed):
    assert metrics_allowed(None, f"Bearer {METRICS_TOKEN}", remote) is allowed


def test_sql_operation_labels_are_a_closed_set():
    assert sql_operation("  SELECT 1") == "select"
    assert sql_operation("insert into x values (1)") == "insert"
    assert sql_operation("PRAGMA user_version") == "other"
    assert sql_operation("BEGIN IMMEDIATE") == "other"
    assert sql_operation("") == "other"
    assert sql_operation("DROP TABLE users; --" + "x" * 100) == "other"


# -- settings --------------------------------------------------------------------------------

_BASE = {"BOT_TOKEN": TOKEN}


def test_operation_settings_defaults_and_values():
    settings = Settings.from_env(_BASE)
    assert (settings.log_format, settings.bot_http_port, settings.metrics_token) == (
        "text",
        None,
        None,
    )
    settings = Settings.from_env(
        {**_BASE, "LOG_FORMAT": "JSON", "BOT_HTTP_PORT": "9100", "METRICS_TOKEN": METRICS_TOKEN}
    )
    assert (settings.log_format, settings.bot_http_port) == ("json", 9100)
    assert METRICS_TOKEN in settings.secrets  # redacted from logs like the other secrets
    assert METRICS_TOKEN not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LOG_FORMAT", "xml"),
        ("BOT_HTTP_PORT", "0"),
        ("BOT_HTTP_PORT", "65536"),
        ("BOT_HTTP_PORT", "http"),
        ("METRICS_TOKEN", "short"),
        ("METRICS_TOKEN", "has spaces in the middle of it"),
        ("METRICS_TOKEN", "x" * 257),
    ],
)
def test_bad_operation_settings_name_the_variable(name, value):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**_BASE, name: value})
    assert caught.value.variable == name


@pytest.mark.parametrize("front", ["bot", "api"])
@pytest.mark.parametrize(
    ("name", "value"), [("LOG_FORMAT", "yaml"), ("BOT_HTTP_PORT", "99999"), ("METRICS_TOKEN", "x")]
)
async def test_bad_operation_settings_stop_both_processes(tmp_path, front, name, value):
    code, lines = await run_front(front, tmp_path, **{name: value})
    assert_one_line(code, lines, name)


# -- JSON log lines --------------------------------------------------------------------------


def test_json_lines_are_redacted_escaped_and_carry_the_user(capsys):
    setup_logging("INFO", [TOKEN, "vk-operator-key"], fmt="json")
    log = logging.getLogger("test.json")
    token = log_user_id.set(4242)
    try:
        log.info("calling /bot%s/getMe with %s\nFAKE LINE \x1b[31m", TOKEN, "vk-operator-key")
        try:
            raise ValueError(f"bad {TOKEN}\nsecond line")
        except ValueError:
            log.exception("failed")
    finally:
        log_user_id.reset(token)
    log.warning("no user here")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3
    first, second, third = (json.loads(line) for line in lines)
    assert first["level"] == "INFO" and first["logger"] == "test.json"
    assert first["user_id"] == 4242
    assert TOKEN not in lines[0] and "vk-operator-key" not in lines[0]
    assert "\x1b" not in first["message"] and "\n" not in first["message"]
    assert first["message"].endswith("\\nFAKE LINE \\x1b[31m")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["time"])
    assert "Traceback" in second["exception"] and TOKEN not in second["exception"]
    assert "ValueError: bad ***\\nsecond line" in second["exception"]
    assert "user_id" not in third and "request_id" not in third


# -- /stats chart ----------------------------------------------------------------------------

NOW = 1_767_225_600 + 12 * 3600  # 2026-01-01 12:00 UTC


async def _seed_month(db: Database) -> None:
    async with db.transaction() as conn:
        for user in (1, 2, 3):
            await conn.execute(
                "INSERT INTO users (id, created_at, updated_at) VALUES (?, ?, ?)", (user, 0, 0)
            )
        rows = [
            (1, "2026-01-01", "chat", 5),
            (2, "2026-01-01", "chat", 2),
            (2, "2026-01-01", "image", 1),
            (3, "2025-12-31", "gif", 4),
            (3, "2025-11-01", "chat", 9),  # older than 30 days: not on the chart
            (1, "2025-12-30", "chat", 0),  # nothing spent: not an active user
        ]
        for row in rows:
            await conn.execute(
                "INSERT INTO usage_daily (user_id, day, kind, used) VALUES (?, ?, ?, ?)", row
            )
        payments = [
            ("c1", 1, 500, "credited", NOW - 3600),
            ("c2", 2, 1000, "received", NOW - 86400),
            ("c3", 2, 1000, "refunded", NOW - 7200),  # refunded: not earned
            ("c4", 3, 500, "credited", NOW - 40 * 86400),  # too old
        ]
        for charge, user, amount, status, created in payments:
            await conn.execute(
                "INSERT INTO payments (charge_id, user_id, tier, days, amount, currency, "
                "payload, status, created_at) VALUES (?, ?, 'tier1', 30, ?, 'XTR', 'p', ?, ?)",
                (charge, user, amount, status, created),
            )


async def test_the_chart_series_count_the_right_things(db):
    await _seed_month(db)
    series = stats_chart.read_series(db.path, NOW)
    assert len(series.days) == 30
    assert (series.days[0], series.days[-1]) == ("2025-12-03", "2026-01-01")
    by_day = dict(zip(series.days, series.active_users, strict=True))
    assert by_day["2026-01-01"] == 2 and by_day["2025-12-31"] == 1 and by_day["2025-12-30"] == 0
    assert series.requests["chat"][-1] == 7 and series.requests["image"][-1] == 1
    assert series.requests["gif"][-2] == 4
    assert sum(series.requests["chat"]) == 7  # the November row is left out
    stars = dict(zip(series.days, series.stars, strict=True))
    assert stars["2026-01-01"] == 500 and stars["2025-12-31"] == 1000
    assert sum(series.stars) == 1500


async def test_the_chart_is_a_png(db):
    await _seed_month(db)
    png = await stats_chart.chart_png(db.path, NOW)
    assert png.startswith(PNG) and len(png) > 10_000


def _loaded_after(statements: str, package: str) -> bool:
    """Whether ``package`` is in ``sys.modules`` of a fresh interpreter once ``statements``
    (Python, one line) ran there."""
    probe = (
        f"import sys; {statements}; print(any(m.split('.')[0] == {package!r} for m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return done.stdout.strip() == "True"


def test_without_redis_url_neither_process_loads_redis():
    both = "import bot.app, bot.factory, handlers, api.server, api.ratelimit, bot.services.quota"
    assert not _loaded_after(both, "redis")
    # ...and the probe would notice it: making a client loads it.
    client = "import bot.shared_limits as s; s.create_client('redis://127.0.0.1:1/0')"
    assert _loaded_after(f"{both}; {client}", "redis")


def test_importing_the_bot_and_the_api_does_not_load_matplotlib():
    both = (
        "import bot.app, bot.factory, handlers, handlers.admin, bot.services.stats_chart, "
        "api.server"
    )
    assert not _loaded_after(both, "matplotlib")
    # ...and the probe would notice it.
    assert _loaded_after(f"{both}, matplotlib", "matplotlib")


# -- through the processes -------------------------------------------------------------------


def _json_lines(stderr: str) -> list[dict[str, object]]:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines
    parsed = []
    for line in lines:
        entry = json.loads(line)  # every line is one JSON object
        assert isinstance(entry, dict)
        assert {"time", "level", "logger", "message"} <= set(entry)
        parsed.append(entry)
    return parsed


def _metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text, 0 when absent."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        sample_name, _, label_text = head.partition("{")
        if sample_name != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', label_text))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(value)
    return 0.0


async def test_bot_metrics_health_json_logs_and_the_stats_chart(telegram, tmp_path):
    port = free_port()
    proc = await start_bot(
        telegram,
        tmp_path,
        TOKEN,
        BOT_HTTP_PORT=str(port),
        METRICS_TOKEN=METRICS_TOKEN,
        LOG_FORMAT="json",
        ADMIN_IDS=str(ADMIN),
    )
    try:
        telegram.push_update(telegram.make_message(ADMIN, "/start"))
        await telegram.wait_for("sendMessage", lambda c: c["chat_id"] == ADMIN)
        telegram.push_update(telegram.make_message(ADMIN, "/stats"))
        photo = await telegram.wait_for("sendPhoto", lambda c: c["chat_id"] == ADMIN, timeout=60)
        upload = photo.upload("photo")
        assert upload is not None and upload.startswith(PNG)
        assert any("Statistics" in (c.text or "") for c in telegram.calls_of("sendMessage"))

        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/health") as resp:
                assert resp.status == 200
                assert (await resp.json())["status"] == "ok"
            async with http.get(f"{base}/metrics") as resp:
                assert resp.status == 404  # a token is set: loopback is not enough
            bad = {"Authorization": "Bearer wrong-token-0123456789"}
            async with http.get(f"{base}/metrics", headers=bad) as resp:
                assert resp.status == 404
            good = {"Authorization": f"Bearer {METRICS_TOKEN}"}
            async with http.get(f"{base}/metrics", headers=good) as resp:
                assert resp.status == 200
                assert resp.headers["Content-Type"].startswith("text/plain")
                text = await resp.text()
    finally:
        code = await proc.stop()
    assert code == 0
    assert _metric(text, "bot_updates_total", type="message") >= 2
    assert _metric(text, "db_statement_seconds_count", operation="select") > 0
    assert "bot_queue_length" in text and "upstream_request_seconds" in text
    assert "process_resident_memory_bytes" in text
    assert 'user_id="' not in text  # no per-user labels
    entries = _json_lines(proc.stderr)
    chart = [e for e in entries if str(e["message"]).startswith("/stats chart sent")]
    assert chart and chart[0]["user_id"] == ADMIN
    assert str(chart[0]["request_id"]).startswith("update-")
    assert any(e["message"] == "shutdown complete" for e in entries)
    assert TOKEN not in proc.stderr and METRICS_TOKEN not in proc.stderr


async def test_bot_without_bot_http_port_serves_nothing_extra(telegram, tmp_path):
    # BOT_HTTP_PORT unset: no listener appears (the port stays free).
    port = free_port()
    proc = await start_bot(telegram, tmp_path, TOKEN)
    try:
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.ClientConnectionError):
                await http.get(f"http://127.0.0.1:{port}/health")
    finally:
        assert await proc.stop() == 0


async def test_bot_http_port_in_use_is_one_line_and_exit_2(telegram, tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = bot_env(telegram.url, tmp_path, TOKEN, BOT_HTTP_PORT=str(port))
        proc = await Process("bot", env, tmp_path).start()
        code = await proc.wait(90)
    assert code == 2
    assert f"error: BOT_HTTP_PORT: cannot listen on {port}" in proc.stderr


async def test_webhook_server_answers_health_and_metrics(telegram, tmp_path):
    port = free_port()
    proc = await start_webhook_bot(telegram, tmp_path, TOKEN, port)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/health") as resp:
                assert resp.status == 200
            # No METRICS_TOKEN: a loopback client is let in.
            async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                assert resp.status == 200
                assert "bot_updates_total" in await resp.text()
    finally:
        assert await proc.stop() == 0


async def test_api_metrics_by_loopback_and_json_lines(tmp_path, upstream):
    proc, url = await start_api(tmp_path, upstream.url, LOG_FORMAT="json")
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/health") as resp:
                assert resp.status == 200
            async with http.get(f"{url}/v1/models/some/unknown") as resp:
                assert resp.status in (401, 404)
            async with http.get(f"{url}/metrics") as resp:
                assert resp.status == 200
                text = await resp.text()
    finally:
        assert await proc.stop() == 0
    assert _metric(text, "api_requests_total", route="/health", status="2xx") >= 1
    # The route's pattern, never the raw path.
    assert "/some/unknown" not in text
    assert _metric(text, "db_statement_seconds_count", operation="select") > 0
    entries = _json_lines(proc.stderr)
    access = [e for e in entries if e["logger"] == "api.access"]
    assert access and all(re.fullmatch(r"[0-9a-f]{32}", str(e["request_id"])) for e in access)


async def test_api_metrics_with_a_token(tmp_path, upstream):
    proc, url = await start_api(tmp_path, upstream.url, METRICS_TOKEN=METRICS_TOKEN)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/metrics") as resp:
                assert resp.status == 404
                assert "upstream_request_seconds" not in await resp.text()
            headers = {"Authorization": f"Bearer {METRICS_TOKEN}"}
            async with http.get(f"{url}/metrics", headers=headers) as resp:
                assert resp.status == 200
                assert "upstream_request_seconds" in await resp.text()
    finally:
        assert await proc.stop() == 0
    assert METRICS_TOKEN not in proc.stderr


def test_grafana_dashboard_uses_only_metrics_that_exist():
    from prometheus_client import REGISTRY

    import bot.metrics  # noqa: F401  (defines the metrics)

    names: set[str] = set()
    for family in REGISTRY.collect():  # a labelled metric has no sample before its first use
        names.update(family.name + suffix for suffix in ("", "_total", "_bucket", "_count"))
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "visioncraft-bot.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(exprs) >= 10
    for expr in exprs:
        used = set(re.findall(r"\b([a-z_]+_(?:total|seconds_bucket|length|bytes))\b", expr))
        assert used, expr
        assert used <= names, (expr, used - names)
