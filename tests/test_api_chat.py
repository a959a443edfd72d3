"""The gateway's chat endpoints with the official openai SDK as the client, against the
gateway served on 127.0.0.1 and FakeUpstream playing VisionCraft and Nebula Block."""

from __future__ import annotations

import asyncio
import json
import logging

import openai
import pytest

from tests.fakes.upstream import FakeUpstream
from tests.gateway_helpers import (
    NEBULA_MODEL,
    OPERATOR_NEBULA_KEY,
    OPERATOR_VC_KEY,
    http_client,
    running_gateway,
    sdk_client,
    seed_key,
    set_key_state,
    used_today,
)

VC_MODEL = "Llama-3.1-70B-Instruct"
MESSAGES = [{"role": "user", "content": "Say hello"}]


@pytest.fixture
async def upstream():
    async with FakeUpstream() as server:
        server.reply = "Hello there, friend of the gateway!"
        yield server


@pytest.fixture
async def gw(tmp_path, upstream):
    async with running_gateway(tmp_path, upstream, REQUIRED_CHANNEL="@vc_channel") as gateway:
        yield gateway


def sdk(gw, key: str) -> openai.AsyncOpenAI:
    return sdk_client(gw.url, key)


async def test_plain_completion_goes_to_visioncraft_with_the_operators_key(gw, upstream):
    key = await seed_key(gw.db, 1)
    async with sdk(gw, key) as client:
        completion = await client.chat.completions.create(model=VC_MODEL, messages=MESSAGES)
    assert completion.choices[0].message.content == "Hello there, friend of the gateway!"
    sent = upstream.requests_to("/v1/chat/completions")[-1]
    assert sent.headers["Authorization"] == f"Bearer {OPERATOR_VC_KEY}"
    assert sent.json_body["model"] == VC_MODEL
    assert sent.json_body["messages"] == MESSAGES
    assert key not in json.dumps(sent.json_body) and key not in str(dict(sent.headers))
    assert await used_today(gw.db, 1, "chat") == 1


async def test_nebula_models_go_to_nebula_with_its_key(gw, upstream):
    key = await seed_key(gw.db, 2)
    async with sdk(gw, key) as client:
        await client.chat.completions.create(model=NEBULA_MODEL, messages=MESSAGES)
    sent = upstream.requests[-1]
    assert sent.path == "/v1/chat/completions"  # NEBULA_API_URL is {upstream}/v1
    assert sent.headers["Authorization"] == f"Bearer {OPERATOR_NEBULA_KEY}"


async def test_stream_passes_through_chunk_by_chunk(gw, upstream):
    upstream.stream_chunks = ["One", " two", " three"]
    key = await seed_key(gw.db, 3)
    async with sdk(gw, key) as client:
        stream = await client.chat.completions.create(
            model=VC_MODEL, messages=MESSAGES, stream=True
        )
        pieces = [chunk.choices[0].delta.content async for chunk in stream if chunk.choices]
    assert "".join(p for p in pieces if p) == "One two three"
    assert [p for p in pieces if p] == ["One", " two", " three"]
    assert upstream.requests[-1].json_body["stream"] is True
    assert await used_today(gw.db, 3, "chat") == 1


async def test_stream_chunks_arrive_while_the_upstream_is_still_writing(tmp_path, upstream):
    upstream.stream_chunks = ["first", " second"]
    upstream.stall_stream_after = 1  # sends "first", then waits until the test ends
    async with running_gateway(
        tmp_path, upstream, CHAT_FIRST_TOKEN_TIMEOUT="30", CHAT_TOTAL_TIMEOUT="60"
    ) as gw:
        key = await seed_key(gw.db, 27)
        async with sdk(gw, key) as client:
            stream = await client.chat.completions.create(
                model=VC_MODEL, messages=MESSAGES, stream=True
            )
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    assert chunk.choices[0].delta.content == "first"
                    break
            await stream.close()


async def test_caller_going_away_mid_stream_is_not_an_error(gw, upstream, caplog):
    upstream.stream_chunks = ["one", "two", "three", "four", "five"]
    upstream.chunk_delay = 0.2
    key = await seed_key(gw.db, 28)
    with caplog.at_level(logging.INFO):
        async with (
            http_client() as http,
            http.stream(
                "POST",
                f"{gw.url}/v1/chat/completions",
                headers={"Authorization": f"Bearer {key}"},
                json={"model": VC_MODEL, "messages": MESSAGES, "stream": True},
            ) as response,
        ):
            async for chunk in response.aiter_raw():
                if b"one" in chunk:
                    break
        for _ in range(100):
            if any("went away" in r.getMessage() for r in caplog.records):
                break
            await asyncio.sleep(0.05)
    assert any("went away" in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    # The upstream delivered: the unit stays spent. The gateway goes on serving.
    assert await used_today(gw.db, 28, "chat") == 1
    async with sdk(gw, key) as client:
        await client.chat.completions.create(model=VC_MODEL, messages=MESSAGES)


async def test_stream_headers_are_server_sent_events(gw, upstream):
    key = await seed_key(gw.db, 4)
    async with (
        http_client() as http,
        http.stream(
            "POST",
            f"{gw.url}/v1/chat/completions",
            headers={"Authorization": f"Bearer {key}"},
            json={"model": VC_MODEL, "messages": MESSAGES, "stream": True},
        ) as response,
    ):
        body = b"".join([chunk async for chunk in response.aiter_raw()])
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert body.rstrip().endswith(b"data: [DONE]")


async def test_model_lists(gw, upstream):
    upstream.llm_models = ["Llama-3.1-70B-Instruct", "llava-1.5-7b-hf"]
    key = await seed_key(gw.db, 5)
    async with sdk(gw, key) as client:
        models = [m async for m in client.models.list()]
    ids = [m.id for m in models]
    assert "llava-1.5-7b-hf" in ids and NEBULA_MODEL in ids
    owners = {m.id: m.owned_by for m in models}
    assert owners[NEBULA_MODEL] == "nebula" and owners["llava-1.5-7b-hf"] == "visioncraft"
    async with http_client() as http:
        plain = (await http.get(f"{gw.url}/models-llm")).json()
    assert set(plain) == set(ids)


async def test_unknown_key_is_401(gw, upstream):
    async with sdk(gw, "vc_" + "x" * 40) as client:
        with pytest.raises(openai.AuthenticationError) as caught:
            await client.chat.completions.create(model=VC_MODEL, messages=MESSAGES)
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    assert upstream.requests_to("/v1/chat/completions") == []


async def test_missing_or_malformed_key_is_401(gw, upstream):
    async with http_client() as http:
        missing = await http.post(
            f"{gw.url}/v1/chat/completions", json={"model": VC_MODEL, "messages": MESSAGES}
        )
        malformed = await http.post(
            f"{gw.url}/v1/chat/completions",
            headers={"Authorization": "Bearer sk-not-ours"},
            json={"model": VC_MODEL, "messages": MESSAGES},
        )
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "missing_api_key"
    assert malformed.status_code == 401 and malformed.json()["error"]["code"] == "invalid_api_key"
    assert upstream.requests_to("/v1/chat/completions") == []


async def test_revoked_key_is_401(gw, upstream):
    key = await seed_key(gw.db, 6, active=False, reason="revoked")
    async with sdk(gw, key) as client:
        with pytest.raises(openai.AuthenticationError) as caught:
            await client.chat.completions.create(model=VC_MODEL, messages=MESSAGES)
    assert caught.value.code == "revoked_api_key"


async def test_left_the_channel_is_403_and_coming_back_works_again(gw, upstream):
    key = await seed_key(gw.db, 7)
    await set_key_state(gw.db, 7, active=False, reason="left_channel")
    async with sdk(gw, key) as client:
        with pytest.raises(openai.PermissionDeniedError) as caught:
            await client.chat.completions.create(model=VC_MODEL, messages=MESSAGES)
        assert caught.value.code == "not_subscribed"
        assert "@vc_channel" in caught.value.message
        await set_key_state(gw.db, 7, active=True, reason=None)
        completion = await client.chat.completions.create(model=VC_MODEL, messages=MESSAGES)
    assert completion.choices[0].message.content
    assert await used_today(gw.db, 7, "chat") == 1


async def test_banned_owner_is_403(gw, upstream):
    key = await seed_key(gw.db, 8, banned=True)
    async with sdk(gw, key) as client:
        with pytest.raises(openai.PermissionDeniedError) as caught:
            await client.chat.completions.create(model=VC_MODEL, messages=MESSAGES)
    assert caught.value.code == "banned"
    assert upstream.requests_to("/v1/chat/completions") == []


async def test_spent_quota_is_403_and_nothing_goes_upstream(tmp_path, upstream):
    async with running_gateway(tmp_path, upstream, QUOTA_FREE_CHAT="2") as gw:
        key = await seed_key(gw.db, 9)
        async with sdk(gw, key) as client:
            for _ in range(2):
                await client.chat.completions.create(model=VC_MODEL, messages=MESSAGES)
            with pytest.raises(openai.PermissionDeniedError) as caught:
                await client.chat.completions.create(model=VC_MODEL, messages=MESSAGES)
        assert caught.value.code == "quota_exceeded"
        assert "resets at 00:00 UTC" in caught.value.message
        assert len(upstream.requests_to("/v1/chat/completions")) == 2
        assert await used_today(gw.db, 9, "chat") == 2


async def test_paid_tier_gets_its_own_quota(tmp_path, upstream):
    async with running_gateway(tmp_path, upstream, QUOTA_FREE_CHAT="1", QUOTA_TIER1_CHAT="3") as gw:
        key = await seed_key(gw.db, 10, tier="tier1")
        async with sdk(gw, key) as client:
            for _ in range(3):
                await client.chat.completions.create(model=VC_MODEL, messages=MESSAGES)
        assert await used_today(gw.db, 10, "chat") == 3


async def test_requests_per_second_limit_is_429_with_retry_after(tmp_path, upstream):
    async with running_gateway(tmp_path, upstream, API_RATE_FREE_PER_SECOND="0.01") as gw:
        key = await seed_key(gw.db, 11)
        async with sdk(gw, key) as client:
            await client.chat.completions.create(model=VC_MODEL, messages=MESSAGES)
            with pytest.raises(openai.RateLimitError) as caught:
                await client.chat.completions.create(model=VC_MODEL, messages=MESSAGES)
        error = caught.value
        assert error.status_code == 429 and error.code == "rate_limit_exceeded"
        assert int(error.response.headers["Retry-After"]) >= 1
        assert len(upstream.requests_to("/v1/chat/completions")) == 1
        # The refused request spent nothing.
        assert await used_today(gw.db, 11, "chat") == 1


async def test_rate_limit_is_per_key(tmp_path, upstream):
    async with running_gateway(tmp_path, upstream, API_RATE_FREE_PER_SECOND="0.01") as gw:
        first, second = await seed_key(gw.db, 12), await seed_key(gw.db, 13)
        for key in (first, second):
            async with sdk(gw, key) as client:
                await client.chat.completions.create(model=VC_MODEL, messages=MESSAGES)


async def test_bad_parameter_is_400_naming_it(gw, upstream):
    key = await seed_key(gw.db, 14)
    async with sdk(gw, key) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(model=VC_MODEL, messages=MESSAGES, max_tokens=50)
    assert caught.value.param == "max_tokens"
    assert "128" in caught.value.message
    assert upstream.requests_to("/v1/chat/completions") == []
    assert await used_today(gw.db, 14, "chat") == 0


async def test_images_only_for_llava(gw, upstream):
    key = await seed_key(gw.db, 15)
    image = {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is in it?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        ],
    }
    async with sdk(gw, key) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(model=VC_MODEL, messages=[image])
        assert caught.value.code == "images_not_supported"
        assert caught.value.param == "messages"
        await client.chat.completions.create(model="llava-1.5-7b-hf", messages=[image])
    assert upstream.requests[-1].json_body["messages"] == [image]


async def test_upstream_failure_is_502_and_the_unit_is_given_back(gw, upstream, caplog):
    key = await seed_key(gw.db, 16)
    upstream.fail("/v1/chat/completions", 500, body="Traceback (most recent call last): boom")
    async with sdk(gw, key) as client:
        with pytest.raises(openai.InternalServerError) as caught:
            await client.chat.completions.create(model=VC_MODEL, messages=MESSAGES)
    assert caught.value.status_code == 502
    assert "Traceback" not in caught.value.response.text
    assert await used_today(gw.db, 16, "chat") == 0


async def test_operator_credentials_refused_is_502_without_the_key(gw, upstream, caplog):
    key = await seed_key(gw.db, 17)
    upstream.fail(
        "/v1/chat/completions",
        401,
        body={"error": {"message": f"Incorrect API key provided: {OPERATOR_VC_KEY}"}},
    )
    with caplog.at_level(logging.INFO):
        async with http_client() as http:
            response = await http.post(
                f"{gw.url}/v1/chat/completions",
                headers={"Authorization": f"Bearer {key}"},
                json={"model": VC_MODEL, "messages": MESSAGES},
            )
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_error"
    assert OPERATOR_VC_KEY not in response.text
    assert await used_today(gw.db, 17, "chat") == 0
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors and "credentials" in errors[0].getMessage()
    assert all(OPERATOR_VC_KEY not in r.getMessage() for r in caplog.records)
    assert all(key not in r.getMessage() for r in caplog.records)


async def test_upstream_busy_is_503_with_retry_after(gw, upstream):
    key = await seed_key(gw.db, 18)
    upstream.fail("/v1/chat/completions", 429, headers={"Retry-After": "7"})
    async with http_client() as http:
        response = await http.post(
            f"{gw.url}/v1/chat/completions",
            headers={"Authorization": f"Bearer {key}"},
            json={"model": VC_MODEL, "messages": MESSAGES},
        )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "7"
    assert response.json()["error"]["code"] == "upstream_busy"
    assert await used_today(gw.db, 18, "chat") == 0


async def test_upstream_rejecting_the_request_is_400(gw, upstream):
    key = await seed_key(gw.db, 19)
    upstream.fail("/v1/chat/completions", 400, body={"error": {"message": "unknown model x"}})
    async with sdk(gw, key) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(model=VC_MODEL, messages=MESSAGES)
    assert "unknown model x" in caught.value.message
    assert await used_today(gw.db, 19, "chat") == 0


async def test_html_page_with_200_is_502(gw, upstream):
    key = await seed_key(gw.db, 20)
    upstream.fail("/v1/chat/completions", 200, body="<html>maintenance</html>")
    async with sdk(gw, key) as client:
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(model=VC_MODEL, messages=MESSAGES)
    assert await used_today(gw.db, 20, "chat") == 0


async def test_upstream_timeout_is_504(tmp_path, upstream):
    upstream.hang("/v1/chat/completions", 30)
    async with running_gateway(
        tmp_path, upstream, CHAT_FIRST_TOKEN_TIMEOUT="0.3", CHAT_TOTAL_TIMEOUT="1"
    ) as gw:
        key = await seed_key(gw.db, 21)
        async with sdk(gw, key) as client:
            with pytest.raises(openai.APIStatusError) as caught:
                await client.chat.completions.create(model=VC_MODEL, messages=MESSAGES)
        assert caught.value.status_code == 504
        assert caught.value.code == "upstream_timeout"
        assert await used_today(gw.db, 21, "chat") == 0


async def test_unreachable_upstream_is_502(tmp_path, upstream):
    async with running_gateway(tmp_path, upstream, VISIONCRAFT_API_URL="http://127.0.0.1:9") as gw:
        key = await seed_key(gw.db, 22)
        async with sdk(gw, key) as client:
            with pytest.raises(openai.InternalServerError) as caught:
                await client.chat.completions.create(model=VC_MODEL, messages=MESSAGES)
        assert caught.value.status_code == 502
        assert await used_today(gw.db, 22, "chat") == 0


async def test_stream_broken_midway_ends_with_an_error_event_and_a_refund(gw, upstream):
    upstream.stream_chunks = ["a", "b", "c", "d"]
    upstream.break_stream_after = 2
    key = await seed_key(gw.db, 23)
    pieces = []
    async with sdk(gw, key) as client:
        stream = await client.chat.completions.create(
            model=VC_MODEL, messages=MESSAGES, stream=True
        )
        with pytest.raises(openai.APIError) as caught:
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    pieces.append(chunk.choices[0].delta.content)
    assert pieces == ["a", "b"]
    assert "stream" in caught.value.message
    assert await used_today(gw.db, 23, "chat") == 0


async def test_stream_that_stalls_ends_with_a_timeout_event(tmp_path, upstream):
    upstream.stream_chunks = ["a", "b", "c"]
    upstream.stall_stream_after = 1
    async with running_gateway(
        tmp_path, upstream, CHAT_FIRST_TOKEN_TIMEOUT="0.3", CHAT_TOTAL_TIMEOUT="5"
    ) as gw:
        key = await seed_key(gw.db, 26)
        async with sdk(gw, key) as client:
            stream = await client.chat.completions.create(
                model=VC_MODEL, messages=MESSAGES, stream=True
            )
            with pytest.raises(openai.APIError) as caught:
                async for _ in stream:
                    pass
        assert "did not answer in time" in caught.value.message
        assert await used_today(gw.db, 26, "chat") == 0


async def test_stream_error_before_the_first_byte_is_a_json_error(gw, upstream):
    upstream.fail("/v1/chat/completions", 503)
    key = await seed_key(gw.db, 24)
    async with sdk(gw, key) as client:
        with pytest.raises(openai.InternalServerError) as caught:
            await client.chat.completions.create(model=VC_MODEL, messages=MESSAGES, stream=True)
    assert caught.value.status_code == 502
    assert await used_today(gw.db, 24, "chat") == 0


async def test_nebula_model_without_nebula_key_is_404(tmp_path, upstream):
    async with running_gateway(tmp_path, upstream, NEBULA_API_KEY="") as gw:
        key = await seed_key(gw.db, 25)
        async with sdk(gw, key) as client:
            with pytest.raises(openai.NotFoundError) as caught:
                await client.chat.completions.create(model=NEBULA_MODEL, messages=MESSAGES)
        assert caught.value.param == "model"
        assert upstream.requests_to("/v1/chat/completions") == []


async def test_per_minute_burst_limit_is_429_with_retry_after(tmp_path, upstream):
    async with running_gateway(tmp_path, upstream, RATE_FREE_PER_MINUTE="1") as gw:
        key = await seed_key(gw.db, 29)
        async with sdk(gw, key) as client:
            await client.chat.completions.create(model=VC_MODEL, messages=MESSAGES)
            with pytest.raises(openai.RateLimitError) as caught:
                await client.chat.completions.create(model=VC_MODEL, messages=MESSAGES)
        assert caught.value.code == "rate_limit_exceeded"
        assert 1 <= int(caught.value.response.headers["Retry-After"]) <= 60
        assert await used_today(gw.db, 29, "chat") == 1
        assert len(upstream.requests_to("/v1/chat/completions")) == 1


async def test_an_expired_tier_counts_as_free(tmp_path, upstream):
    async with running_gateway(tmp_path, upstream, QUOTA_FREE_CHAT="1", QUOTA_TIER1_CHAT="5") as gw:
        key = await seed_key(gw.db, 30, tier="tier1", expires_at=1000)
        async with sdk(gw, key) as client:
            await client.chat.completions.create(model=VC_MODEL, messages=MESSAGES)
            with pytest.raises(openai.PermissionDeniedError) as caught:
                await client.chat.completions.create(model=VC_MODEL, messages=MESSAGES)
        assert "Free tier" in caught.value.message
