"""The gateway's plumbing: error format, parameter checks, body limit, unknown paths,
request ids, /limits, /health, and keys never reaching the logs."""

from __future__ import annotations

import logging

import httpx
import pytest

from tests.gateway_helpers import http_client, running_gateway, seed_key, used_today

MESSAGES = [{"role": "user", "content": "hi"}]


def user_parts(*parts: dict) -> dict:
    return {"role": "user", "content": list(parts)}


@pytest.fixture
async def gw(tmp_path, upstream):
    async with running_gateway(tmp_path, upstream, API_MAX_BODY_BYTES="4096") as gateway:
        yield gateway


@pytest.fixture
async def http():
    async with http_client() as client:
        yield client


def assert_error_shape(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    return error


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"max_tokens": 127}, "max_tokens"),
        ({"max_tokens": 100_001}, "max_tokens"),
        ({"max_tokens": "512"}, "max_tokens"),
        ({"max_tokens": 200.5}, "max_tokens"),
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": 100.5}, "temperature"),
        ({"top_p": 1.01}, "top_p"),
        ({"top_k": -1}, "top_k"),
        ({"top_k": 100_000}, "top_k"),
        ({"repetition_penalty": 0}, "repetition_penalty"),
        ({"repetition_penalty": 5.5}, "repetition_penalty"),
        ({"presence_penalty": -2.5}, "presence_penalty"),
        ({"frequency_penalty": 3}, "frequency_penalty"),
        ({"stream": "yes"}, "stream"),
        ({"n": 2}, "n"),
        ({"model": None}, "model"),
        ({"model": 5}, "model"),
        ({"messages": None}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": "hi"}, "messages"),
        ({"messages": [{"content": "hi"}]}, "messages[0].role"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
        ({"messages": [{"role": "user"}]}, "messages[0].content"),
        ({"messages": [user_parts({"type": "audio"})]}, "messages[0].content[0].type"),
        (
            {"messages": [user_parts({"type": "image_url", "image_url": {"url": "file:///x"}})]},
            "messages[0].content[0].image_url",
        ),
        ({"messages": [user_parts({"type": "text", "text": 5})]}, "messages[0].content[0].text"),
    ],
)
async def test_chat_parameters_are_checked_before_anything_is_spent(
    gw, upstream, http, extra, param
):
    key = await seed_key(gw.db, 1)
    body = {"model": "Llama-3.1-70B-Instruct", "messages": MESSAGES, **extra}
    body = {k: v for k, v in body.items() if v is not None}
    response = await http.post(
        f"{gw.url}/v1/chat/completions", headers={"Authorization": f"Bearer {key}"}, json=body
    )
    error = assert_error_shape(response, 400)
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"
    assert upstream.requests_to("/v1/chat/completions") == []
    assert await used_today(gw.db, 1, "chat") == 0


@pytest.mark.parametrize(
    "extra",
    [
        {"max_tokens": 128, "temperature": 0, "top_p": 1, "top_k": 99_999},
        {"max_tokens": 100_000, "temperature": 100, "top_p": 0, "top_k": 0},
        {"repetition_penalty": 0.01, "presence_penalty": -2, "frequency_penalty": 2},
        {"repetition_penalty": 5, "presence_penalty": 2, "frequency_penalty": -2, "n": 1},
        {"max_tokens": None, "stream": False},
    ],
)
async def test_edges_of_the_ranges_are_accepted(gw, upstream, http, extra):
    key = await seed_key(gw.db, 2)
    body = {"model": "Llama-3.1-70B-Instruct", "messages": MESSAGES, **extra}
    response = await http.post(
        f"{gw.url}/v1/chat/completions", headers={"Authorization": f"Bearer {key}"}, json=body
    )
    assert response.status_code == 200, response.text
    assert upstream.requests[-1].json_body == body


async def test_invalid_json_and_wrong_body_type_are_400(gw, http):
    key = await seed_key(gw.db, 3)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    url = f"{gw.url}/v1/chat/completions"
    for content in (b"{not json", b"", b"[1, 2]", b"\xff\xfe"):
        response = await http.post(url, headers=headers, content=content)
        error = assert_error_shape(response, 400)
        assert error["code"] == "invalid_json"


async def test_body_size_is_bounded(gw, upstream, http):
    key = await seed_key(gw.db, 4)
    big = [{"role": "user", "content": "x" * 5000}]
    response = await http.post(
        f"{gw.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "gpt-4o-mini", "messages": big},
    )
    error = assert_error_shape(response, 413)
    assert error["code"] == "request_too_large"
    assert upstream.requests_to("/v1/chat/completions") == []


async def test_unknown_path_is_404_json_and_wrong_method_405(gw, http):
    error = assert_error_shape(await http.get(f"{gw.url}/v2/nothing"), 404)
    assert error["code"] == "not_found"
    response = await http.get(f"{gw.url}/v1/chat/completions")
    error = assert_error_shape(response, 405)
    assert "POST" in response.headers["Allow"]


async def test_request_ids_are_echoed_or_made(gw, http):
    given = await http.get(f"{gw.url}/limits", headers={"X-Request-Id": "abc-123"})
    assert given.headers["X-Request-Id"] == "abc-123"
    made = await http.get(f"{gw.url}/limits", headers={"X-Request-Id": "bad id\twith spaces"})
    assert made.headers["X-Request-Id"] != "bad id\twith spaces"
    assert len(made.headers["X-Request-Id"]) == 32
    error = await http.get(f"{gw.url}/nope")
    assert error.headers["X-Request-Id"]


async def test_streams_carry_the_request_id(gw, http):
    key = await seed_key(gw.db, 5)
    async with http.stream(
        "POST",
        f"{gw.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}", "X-Request-Id": "stream-1"},
        json={"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True},
    ) as response:
        await response.aread()
    assert response.headers["X-Request-Id"] == "stream-1"


async def test_limits_lists_every_tier(tmp_path, upstream, http):
    async with running_gateway(
        tmp_path, upstream, QUOTA_FREE_IMAGE="3", API_RATE_TIER1_PER_SECOND="4"
    ) as gw:
        response = await http.get(f"{gw.url}/limits")
    assert response.status_code == 200
    data = response.json()
    assert set(data["tiers"]) == {"free", "tier1", "tier2"}
    assert data["tiers"]["free"]["daily"] == {"chat": 30, "image": 3, "gif": 2}
    assert data["tiers"]["tier2"]["daily"] == {"chat": None, "image": None, "gif": None}
    assert data["tiers"]["tier1"]["api_requests_per_second"] == 4
    assert data["tiers"]["tier1"]["price_stars"] == 500
    assert data["trial"] == {"tier": "tier1", "hours": 24, "every_days": 7}


async def test_health_reports_the_database(gw, http):
    response = await http.get(f"{gw.url}/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
    await gw.db.close()
    response = await http.get(f"{gw.url}/health")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


async def test_keys_never_reach_the_logs(gw, upstream, http, caplog):
    key = await seed_key(gw.db, 6)
    with caplog.at_level(logging.DEBUG):
        await http.post(
            f"{gw.url}/v1/chat/completions",
            headers={"Authorization": f"Bearer {key}"},
            json={"model": "gpt-4o-mini", "messages": MESSAGES},
        )
        await http.post(
            f"{gw.url}/v1/chat/completions",
            headers={"Authorization": f"Bearer {key}"},
            json={"model": "gpt-4o-mini", "messages": MESSAGES, "max_tokens": 1},
        )
        await http.post(
            f"{gw.url}/v1/chat/completions",
            headers={"Authorization": f"Bearer {key[:-1]}Z"},
            json={"model": "gpt-4o-mini", "messages": MESSAGES},
        )
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "/v1/chat/completions 200" in text and "user=6" in text
    assert key not in text and key[3:] not in text and key[:-1] not in text


async def test_unexpected_errors_are_a_json_500_without_details(tmp_path, upstream, http, caplog):
    class Broken:
        async def listing(self):
            raise RuntimeError("secret internals")

    async with running_gateway(tmp_path, upstream, app_kwargs={"models": Broken()}) as gw:
        response = await http.get(f"{gw.url}/models-llm")
    error = assert_error_shape(response, 500)
    assert "secret internals" not in response.text
    assert error["type"] == "server_error"
    assert any("secret internals" in (r.exc_text or "") for r in caplog.records)
