"""The gateway against careless and hostile callers, served in-process: malformed JSON of any
shape is a 400, the body forwarded is the one checked, unknown models are a 404 before
anything is spent, CORS, and the small-body cap of /sd and /text2gif."""

from __future__ import annotations

import asyncio
import gzip
import json
from urllib.parse import urlsplit

import openai
import pytest

from api.app import GATEWAY
from api.budget import BodyBudget
from api.errors import ApiError
from api.validation import check_chat, encode_json, parse_json, upstream_body
from tests.conftest import wait_until
from tests.gateway_helpers import (
    VC_MODEL,
    http_client,
    running_gateway,
    sdk_client,
    seed_key,
    used_today,
)

MESSAGES = [{"role": "user", "content": "hi"}]
CHAT = "/v1/chat/completions"


@pytest.fixture
async def gw(tmp_path, upstream):
    async with running_gateway(tmp_path, upstream) as gateway:
        yield gateway


@pytest.fixture
async def http():
    async with http_client() as client:
        yield client


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


# -- malformed JSON is a 400, whatever its shape ------------------------------------------------

WRONG_VALUES = [None, True, 0, -1.5, "x", "", [], [1, "a"], {}, {"a": [{}]}]


def _mutations():
    """Every field of a valid chat body, replaced by every wrong JSON type."""
    base = {
        "model": VC_MODEL,
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            {"role": "assistant", "content": "x"},
        ],
        "max_tokens": 200,
        "stream": False,
    }
    paths = [
        ("model",),
        ("messages",),
        ("messages", 0),
        ("messages", 0, "role"),
        ("messages", 0, "content"),
        ("messages", 0, "content", 0),
        ("messages", 0, "content", 0, "type"),
        ("messages", 0, "content", 0, "text"),
        ("messages", 1, "role"),
        ("max_tokens",),
        ("max_completion_tokens",),
        ("temperature",),
        ("stream",),
        ("n",),
    ]
    for path in paths:
        for value in WRONG_VALUES:
            body = json.loads(json.dumps(base))
            target = body
            for step in path[:-1]:
                target = target[step]
            target[path[-1]] = value
            yield body


def test_any_wrong_type_anywhere_is_an_api_error_or_accepted():
    for body in _mutations():
        try:
            check_chat(body)
        except ApiError as exc:
            assert exc.status == 400
        # anything else raised fails the test: that was a 500


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "invalid_json"),
        (b'{"a": ' * 100_000 + b"1" + b"}" * 100_000, "invalid_json"),
        (b'{"model": "m", "temperature": NaN}', "invalid_json"),
        (b'{"model": "m", "temperature": Infinity}', "invalid_json"),
        (b'{"model": "m", "temperature": -Infinity}', "invalid_json"),
        (b'{"model": "m", "temperature": 1e400}', "invalid_json"),
        (b"\xff\xfe{}", "invalid_json"),
        (b'{"content": "\\ud800"}', "invalid_json"),  # an unpaired surrogate, escaped
        (b'{"content": "x\\udfff\\ud83d"}', "invalid_json"),  # a pair the wrong way round
        (b'{"content": "\xed\xa0\x80"}', "invalid_json"),  # a surrogate, encoded
        ('{"content": "hi"}'.encode("utf-16"), "invalid_json"),  # JSON is UTF-8
    ],
)
def test_unreadable_json_is_a_400(raw, code):
    with pytest.raises(ApiError) as caught:
        parse_json(raw)
    assert caught.value.status == 400 and caught.value.code == code


def test_a_utf8_bom_is_accepted_and_duplicates_resolve_to_the_last():
    body = parse_json(b'\xef\xbb\xbf{"max_tokens": 200000, "max_tokens": 200}')
    assert body == {"max_tokens": 200}
    assert encode_json(body).count(b"max_tokens") == 1


def test_a_surrogate_pair_escape_is_the_one_character_it_stands_for():
    body = parse_json(b'{"content": "\\ud83d\\ude00 and \\\\ud800"}')
    assert body == {"content": "\U0001f600 and \\ud800"}
    assert "\U0001f600".encode() in encode_json(body)


def test_max_completion_tokens_goes_upstream_as_max_tokens():
    assert upstream_body({"max_completion_tokens": 300, "x": 1}) == {"max_tokens": 300, "x": 1}
    body = {"max_tokens": 300}
    assert upstream_body(body) is body


async def test_deep_nesting_and_wrong_types_are_400_through_the_gateway(gw, http, caplog):
    key = await seed_key(gw.db, 1)
    bodies = [
        b"[" * 100_000 + b"]" * 100_000,
        json.dumps({"model": VC_MODEL, "messages": [{"role": ["user"], "content": "x"}]}),
        json.dumps({"model": VC_MODEL, "messages": [{"role": "user", "content": {"a": 1}}]}),
        json.dumps({"model": VC_MODEL, "messages": MESSAGES, "max_tokens": "200"}),
        json.dumps({"model": VC_MODEL, "messages": [{"role": {"x": 1}, "content": "x"}]}),
    ]
    for body in bodies:
        response = await http.post(f"{gw.url}{CHAT}", headers=auth(key), content=body)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["type"] == "invalid_request_error"
    sd = await http.post(f"{gw.url}/sd", content=b"{" * 50_000)
    assert sd.status_code == 400
    assert "Traceback" not in caplog.text and "unhandled" not in caplog.text


async def test_the_checked_body_is_what_goes_upstream(gw, http, upstream):
    key = await seed_key(gw.db, 2)
    forwarder = gw.app[GATEWAY].chat
    sent: list[bytes] = []
    complete = forwarder.complete

    async def capture(route, body):
        sent.append(body)
        return await complete(route, body)

    forwarder.complete = capture
    raw = (
        f'\ufeff{{"model": "{VC_MODEL}", "messages": [{{"role": "user", "content": "hi"}}], '
        '"max_tokens": 200000, "max_tokens": 200}'
    ).encode()
    response = await http.post(f"{gw.url}{CHAT}", headers=auth(key), content=raw)
    assert response.status_code == 200, response.text
    assert sent[0].count(b'"max_tokens"') == 1
    assert json.loads(sent[0])["max_tokens"] == 200
    assert upstream.requests_to(CHAT)[-1].json_body["max_tokens"] == 200

    # The other way round the check refuses it, and nothing is sent.
    raw = raw.replace(b"200000, ", b"200, ").replace(b": 200}", b": 200000}")
    refused = await http.post(f"{gw.url}{CHAT}", headers=auth(key), content=raw)
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "max_tokens"
    assert len(sent) == 1


async def test_an_unpaired_surrogate_is_a_400_on_every_json_endpoint(gw, http, upstream):
    key = await seed_key(gw.db, 10)
    chat = f'{{"model": "{VC_MODEL}", "messages": [{{"role": "user", "content": "\\ud800"}}]}}'
    response = await http.post(f"{gw.url}{CHAT}", headers=auth(key), content=chat.encode())
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"
    assert "surrogate" in response.json()["error"]["message"]
    sd = f'{{"token": "{key}", "prompt": "\\udc00", "model": "sdxl-base"}}'
    response = await http.post(f"{gw.url}/sd", content=sd.encode())
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"
    assert upstream.requests == []
    assert await used_today(gw.db, 10, "chat") == 0 and await used_today(gw.db, 10, "image") == 0


async def test_a_compressed_chat_body_is_read_inflated_and_capped(tmp_path, upstream, http):
    limit = 64 * 1024
    async with running_gateway(tmp_path, upstream, API_MAX_BODY_BYTES=str(limit)) as gw:
        key = await seed_key(gw.db, 11)
        gzipped = {**auth(key), "Content-Encoding": "gzip"}
        body = json.dumps({"model": VC_MODEL, "messages": MESSAGES}).encode()
        ok = await http.post(f"{gw.url}{CHAT}", headers=gzipped, content=gzip.compress(body))
        assert ok.status_code == 200, ok.text
        assert upstream.requests_to(CHAT)[-1].json_body["messages"] == MESSAGES

        broken = await http.post(f"{gw.url}{CHAT}", headers=gzipped, content=b"not gzip at all")
        assert broken.status_code == 400
        assert broken.json()["error"]["code"] == "invalid_body"
        assert "gzip" in broken.json()["error"]["message"]

        # a few kB that inflate past the limit: refused once the inflated part passes it
        huge = {"model": VC_MODEL, "messages": [{"role": "user", "content": "a" * 10 * limit}]}
        bomb = gzip.compress(json.dumps(huge).encode())
        assert len(bomb) < limit
        refused = await http.post(f"{gw.url}{CHAT}", headers=gzipped, content=bomb)
        assert refused.status_code == 413
        assert len(upstream.requests_to(CHAT)) == 1
        assert await used_today(gw.db, 11, "chat") == 1


async def test_a_compressed_body_reserves_room_for_all_it_may_inflate_to(tmp_path, upstream):
    limit = 4 * 1024 * 1024
    async with running_gateway(tmp_path, upstream, API_MAX_BODY_BYTES=str(limit)) as gw:
        key = await seed_key(gw.db, 12)
        bodies = gw.app[GATEWAY].bodies
        _reader, writer = await _raw(
            gw.url,
            f"POST {CHAT} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
            "Content-Type: application/json\r\nContent-Encoding: gzip\r\n"
            "Content-Length: 1000\r\n\r\n".encode(),
        )
        await wait_until(lambda: bodies.free < bodies.total)
        assert bodies.total - bodies.free == limit  # not the 1000 bytes announced
        writer.close()
        await wait_until(lambda: bodies.free == bodies.total)  # given back when it ends


async def test_nan_is_refused_through_the_gateway(gw, http):
    key = await seed_key(gw.db, 3)
    raw = (f'{{"model": "{VC_MODEL}", "messages": [], "temperature": NaN}}').encode()
    response = await http.post(f"{gw.url}{CHAT}", headers=auth(key), content=raw)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"


# -- OpenAI-compatible clients ------------------------------------------------------------------


async def test_max_completion_tokens_is_accepted_checked_and_renamed(gw, upstream):
    key = await seed_key(gw.db, 4)
    async with sdk_client(gw.url, key) as client:
        await client.chat.completions.create(
            model=VC_MODEL, messages=MESSAGES, max_completion_tokens=300
        )
        sent = upstream.requests_to(CHAT)[-1].json_body
        assert sent["max_tokens"] == 300 and "max_completion_tokens" not in sent
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(
                model=VC_MODEL, messages=MESSAGES, max_completion_tokens=10
            )
        assert caught.value.param == "max_completion_tokens"
        with pytest.raises(openai.BadRequestError):
            await client.chat.completions.create(
                model=VC_MODEL, messages=MESSAGES, max_completion_tokens=300, max_tokens=400
            )
    assert len(upstream.requests_to(CHAT)) == 1


async def test_models_can_be_retrieved_one_by_one(gw):
    async with sdk_client(gw.url, "unused") as client:
        model = await client.models.retrieve(VC_MODEL)
        assert model.id == VC_MODEL and model.object == "model"
        nebula = await client.models.retrieve("meta-llama/Llama-3.3-70B-Instruct")
        assert nebula.owned_by == "nebula"
        with pytest.raises(openai.NotFoundError) as caught:
            await client.models.retrieve("gpt-5-ultra")
    assert caught.value.code == "model_not_found"


async def test_a_model_not_on_offer_is_404_before_anything_is_spent(gw, upstream):
    key = await seed_key(gw.db, 5)
    async with sdk_client(gw.url, key) as client:
        with pytest.raises(openai.NotFoundError) as caught:
            await client.chat.completions.create(model="gpt-5-ultra", messages=MESSAGES)
    assert caught.value.code == "model_not_found" and caught.value.param == "model"
    assert upstream.requests_to(CHAT) == []
    assert await used_today(gw.db, 5, "chat") == 0


async def test_without_any_model_list_visioncraft_decides(tmp_path, upstream):
    # VisionCraft unreachable since the start: its list is unknown, so its answer (502)
    # stands instead of a 404 blaming the model name.
    async with running_gateway(tmp_path, upstream, VISIONCRAFT_API_URL="http://127.0.0.1:9") as gw:
        key = await seed_key(gw.db, 6)
        async with sdk_client(gw.url, key) as client:
            with pytest.raises(openai.InternalServerError) as caught:
                await client.chat.completions.create(model="anything", messages=MESSAGES)
    assert caught.value.status_code == 502


# -- CORS ---------------------------------------------------------------------------------------


async def test_cors_preflight_and_headers_with_any_origin(gw, http):
    preflight = await http.options(
        f"{gw.url}{CHAT}",
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, x-stainless-os",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    allowed = preflight.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    assert "x-stainless-os" in allowed
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    for response in (
        await http.get(f"{gw.url}/v1/models", headers={"Origin": "https://a.example"}),
        await http.post(f"{gw.url}{CHAT}", json={}),  # a 401
        await http.get(f"{gw.url}/nowhere"),
    ):
        assert response.headers["Access-Control-Allow-Origin"] == "*"


async def test_cors_with_listed_origins(tmp_path, upstream, http):
    origins = "https://app.example.com, http://localhost:3000"
    async with running_gateway(tmp_path, upstream, API_CORS_ORIGINS=origins) as gw:
        ok = await http.options(
            f"{gw.url}{CHAT}",
            headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"},
        )
        other = await http.options(
            f"{gw.url}{CHAT}",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        listed = await http.get(f"{gw.url}/limits", headers={"Origin": "https://app.example.com"})
        unlisted = await http.get(f"{gw.url}/limits", headers={"Origin": "https://evil.example"})
    assert ok.status_code == 204
    assert ok.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert "Access-Control-Allow-Origin" not in other.headers
    assert listed.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "Origin" in listed.headers["Vary"]
    assert "Access-Control-Allow-Origin" not in unlisted.headers


# -- bodies -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/sd", "/text2gif"])
async def test_small_json_endpoints_cap_their_body_at_64_kib(gw, http, upstream, path):
    key = await seed_key(gw.db, 7)
    body = json.dumps({"token": key, "model": "sdxl-base", "prompt": "x" * 70_000})
    response = await http.post(f"{gw.url}{path}", content=body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"

    async def chunked():
        yield body.encode()

    streamed = await http.post(f"{gw.url}{path}", content=chunked())
    assert streamed.status_code == 413
    assert upstream.requests_to(path) == []
    assert await used_today(gw.db, 7, "image") == 0


async def test_a_bad_key_is_401_before_the_chat_body_is_read(gw, http):
    response = await http.post(
        f"{gw.url}{CHAT}",
        headers={"Authorization": "Bearer vc_wrong"},
        content=b"x" * 100_000,  # not even JSON: never looked at
    )
    assert response.status_code == 401


async def _raw(url: str, head: bytes):
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(head)
    await writer.drain()
    return reader, writer


async def test_a_chat_body_that_stalls_is_a_408(tmp_path, upstream):
    async with running_gateway(tmp_path, upstream, API_CLIENT_TIMEOUT="1") as gw:
        key = await seed_key(gw.db, 8)
        reader, writer = await _raw(
            gw.url,
            f"POST {CHAT} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{".encode(),
        )
        answer = await reader.read()  # the server closes after answering
        writer.close()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"request_timeout" in answer


async def test_waiting_too_long_for_room_in_the_body_budget_is_a_503(tmp_path, upstream):
    # A slow upload announcing 40 MB holds the whole body budget; the next caller waits
    # API_CLIENT_TIMEOUT, then is told to retry.
    env = {"API_CLIENT_TIMEOUT": "1", "API_MAX_BODY_BYTES": str(64 * 1024 * 1024)}
    async with running_gateway(tmp_path, upstream, **env) as gw:
        key = await seed_key(gw.db, 9)
        _reader, writer = await _raw(
            gw.url,
            f"POST {CHAT} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
            "Content-Type: application/json\r\nContent-Length: 40000000\r\n\r\n{".encode(),
        )
        bodies = gw.app[GATEWAY].bodies
        await wait_until(lambda: not bodies.free)  # the slow upload has its room: all of it

        async def trickle():  # a byte well within each API_CLIENT_TIMEOUT: the slot stays held
            for _ in range(20):
                await asyncio.sleep(0.3)
                writer.write(b" ")

        slow = asyncio.create_task(trickle())
        async with http_client() as http:
            busy = await http.post(
                f"{gw.url}{CHAT}",
                headers=auth(key),
                json={"model": VC_MODEL, "messages": MESSAGES},
            )
        slow.cancel()
        writer.close()
    assert busy.status_code == 503
    assert busy.json()["error"]["code"] == "server_busy"
    assert busy.headers["Retry-After"] == "1"
    assert upstream.requests_to(CHAT) == []


async def test_the_body_budget_serves_in_order_and_gives_back_on_timeout():
    budget = BodyBudget(100)
    first = await budget.acquire(80, 1)
    assert first == 80 and budget.free == 20
    with pytest.raises(TimeoutError):
        await budget.acquire(50, 0.05)
    assert budget.free == 20  # the one that gave up holds nothing
    big = asyncio.create_task(budget.acquire(500, 5))  # capped at the whole budget
    await asyncio.sleep(0)
    small = asyncio.create_task(budget.acquire(10, 5))  # waits behind the big one
    await asyncio.sleep(0.01)
    assert not big.done() and not small.done()
    budget.release(first)
    assert await big == 100
    assert not small.done()
    budget.release(100)
    assert await small == 10
    budget.release(10)
    assert budget.free == 100
