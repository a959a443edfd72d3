"""End to end: ``python -m api`` as a process on 127.0.0.1 against FakeUpstream."""

from __future__ import annotations

import asyncio
import signal
import socket

import pytest

from storage.db import Database
from tests.conftest import wait_until
from tests.e2e_helpers import Process, api_env, bot_db_path, start_api
from tests.gateway_helpers import OPERATOR_VC_KEY, http_client, seed_key


async def test_runs_without_bot_token_and_stops_cleanly(tmp_path, upstream):
    proc, url = await start_api(tmp_path, upstream.url)
    try:
        async with http_client() as http:
            health = await http.get(f"{url}/health")
            limits = await http.get(f"{url}/limits")
            missing = await http.get(f"{url}/nowhere", headers={"X-Request-Id": "e2e-404"})
        assert health.json() == {"status": "ok", "database": "ok"}
        assert limits.status_code == 200 and "tier2" in limits.json()["tiers"]
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    finally:
        code = await proc.stop()
    assert code == 0
    assert "shutdown complete" in proc.stderr
    assert "[e2e-404]" in proc.stderr  # request ids are in the log lines
    assert "Traceback" not in proc.stderr


async def test_a_request_in_flight_finishes_on_sigterm(tmp_path, upstream):
    proc, url = await start_api(tmp_path, upstream.url)
    db = await Database(bot_db_path(tmp_path)).connect()
    try:
        key = await seed_key(db, 1)
        upstream.delay("/v1/chat/completions", 1.0)
        async with http_client() as http:
            request = asyncio.create_task(
                http.post(
                    f"{url}/v1/chat/completions",
                    headers={"Authorization": f"Bearer {key}"},
                    json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
                )
            )
            await wait_until(lambda: upstream.requests_to("/v1/chat/completions"))
            proc.proc.send_signal(signal.SIGTERM)
            response = await request
        assert response.status_code == 200
        assert response.json()["choices"][0]["message"]["content"]
        assert await proc.wait() == 0
        assert key not in proc.stderr and OPERATOR_VC_KEY not in proc.stderr
    finally:
        await proc.kill()
        await db.close()


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"API_PORT": "http"}, "API_PORT"),
        ({"BOT_TOKEN": "not-a-token"}, "BOT_TOKEN"),
        ({"API_RATE_FREE_PER_SECOND": "fast"}, "API_RATE_FREE_PER_SECOND"),
        ({"API_MAX_BODY_BYTES": "10"}, "API_MAX_BODY_BYTES"),
        ({"DATABASE_PATH": "/proc/visioncraft/bot.sqlite3"}, "DATABASE_PATH"),
        ({"HTTPS_PROXY": "socks5://user:hunter22@127.0.0.1:1080"}, "HTTPS_PROXY"),
        ({"http_proxy": "proxy.example.org:3128"}, "http_proxy"),
    ],
)
async def test_bad_configuration_is_one_line_and_exit_2(tmp_path, env, needle):
    proc = await Process("api", api_env(tmp_path, "http://127.0.0.1:9", 1, **env), tmp_path).start()
    assert await proc.wait() == 2
    lines = [line for line in proc.stderr_lines if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and needle in lines[0]
    assert "hunter22" not in proc.stderr  # a proxy's password is never repeated


async def test_port_in_use_is_one_line_and_exit_2(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = api_env(tmp_path, "http://127.0.0.1:9", port)
        proc = await Process("api", env, tmp_path).start()
        assert await proc.wait() == 2
    assert f"API_PORT: cannot listen on 127.0.0.1:{port}" in proc.stderr
    assert "Traceback" not in proc.stderr
