"""The gateway's /sd, /text2gif and option lists, with httpx as the client."""

from __future__ import annotations

import pytest

from tests.fakes.upstream import PNG_SIGNATURE
from tests.gateway_helpers import (
    OPERATOR_VC_KEY,
    http_client,
    running_gateway,
    seed_key,
    used_today,
)


@pytest.fixture
async def gw(tmp_path, upstream):
    async with running_gateway(tmp_path, upstream, REQUIRED_CHANNEL="@vc_channel") as gateway:
        yield gateway


@pytest.fixture
async def http():
    async with http_client() as client:
        yield client


def sd_body(key: str, **extra) -> dict:
    return {"token": key, "model": "sdxl-base", "prompt": "a red fox in snow", **extra}


async def test_sd_answers_the_image_bytes(gw, upstream, http):
    key = await seed_key(gw.db, 1)
    upstream.image_size = (96, 64)
    response = await http.post(
        f"{gw.url}/sd",
        json=sd_body(key, steps=30, width=512, height=512, cfg_scale=7, loras={"detail": 1}),
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(PNG_SIGNATURE)
    sent = upstream.requests_to("/sd")[-1].json_body
    assert sent["token"] == OPERATOR_VC_KEY  # the operator's key, never the user's
    assert sent["prompt"] == "a red fox in snow" and sent["steps"] == 30
    assert sent["loras"] == {"detail": 1}
    assert await used_today(gw.db, 1, "image") == 1
    assert await used_today(gw.db, 1, "chat") == 0


async def test_text2gif_answers_a_gif(gw, upstream, http):
    key = await seed_key(gw.db, 2)
    response = await http.post(f"{gw.url}/text2gif", json={"token": key, "prompt": "a cat"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/gif"
    assert response.content.startswith(b"GIF89a")
    sent = upstream.requests_to("/text2gif")[-1].json_body
    assert sent == {"prompt": "a cat", "token": OPERATOR_VC_KEY}
    assert await used_today(gw.db, 2, "gif") == 1


async def test_option_lists(gw, upstream, http):
    upstream.sd_models = ["sdxl-base", "deliberate_v2"]
    upstream.sd_samplers = ["Euler a", "DDIM"]
    upstream.sd_loras = ["add_detail"]
    for path, expected in (
        ("/sd/models", ["sdxl-base", "deliberate_v2"]),
        ("/sd/samplers", ["Euler a", "DDIM"]),
        ("/sd/loras", ["add_detail"]),
    ):
        response = await http.get(f"{gw.url}{path}")
        assert response.status_code == 200 and response.json() == expected


async def test_option_list_unavailable_is_502(gw, upstream, http):
    upstream.fail("/sd/models", 500)
    response = await http.get(f"{gw.url}/sd/models")
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_error"


async def test_key_in_the_token_field(gw, upstream, http):
    missing = await http.post(f"{gw.url}/sd", json={"model": "sdxl-base", "prompt": "x"})
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "missing_api_key"
    unknown = await http.post(f"{gw.url}/sd", json=sd_body("vc_" + "A" * 40))
    assert unknown.status_code == 401
    not_a_string = await http.post(f"{gw.url}/text2gif", json={"token": 5, "prompt": "x"})
    assert not_a_string.status_code == 401
    key = await seed_key(gw.db, 3, active=False, reason="left_channel")
    left = await http.post(f"{gw.url}/sd", json=sd_body(key))
    assert left.status_code == 403 and left.json()["error"]["code"] == "not_subscribed"
    assert upstream.requests == []


async def test_bad_sd_parameter_is_400_before_anything_is_spent(gw, upstream, http):
    key = await seed_key(gw.db, 4)
    response = await http.post(f"{gw.url}/sd", json=sd_body(key, width=1020))
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "width"
    response = await http.post(
        f"{gw.url}/sd", json=sd_body(key, loras={str(i): 1 for i in range(6)})
    )
    assert response.json()["error"]["param"] == "loras"
    assert upstream.requests == []
    assert await used_today(gw.db, 4, "image") == 0


async def test_image_quota_is_403_when_spent(tmp_path, upstream, http):
    async with running_gateway(tmp_path, upstream, QUOTA_FREE_IMAGE="1", QUOTA_FREE_GIF="0") as gw:
        key = await seed_key(gw.db, 5)
        assert (await http.post(f"{gw.url}/sd", json=sd_body(key))).status_code == 200
        spent = await http.post(f"{gw.url}/sd", json=sd_body(key))
        assert spent.status_code == 403
        assert spent.json()["error"]["code"] == "quota_exceeded"
        gif = await http.post(f"{gw.url}/text2gif", json={"token": key, "prompt": "x"})
        assert gif.status_code == 403
        assert len(upstream.requests_to("/sd")) == 1 and not upstream.requests_to("/text2gif")


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        ({"status": 500}, 502, "upstream_error"),
        ({"status": 401}, 502, "upstream_error"),
        ({"status": 429, "headers": {"Retry-After": "9"}}, 503, "upstream_busy"),
        ({"status": 400}, 400, "upstream_rejected"),
        ({"status": 200, "body": {"error": "model is loading"}}, 502, "upstream_error"),
    ],
)
async def test_upstream_failures_give_the_unit_back(gw, upstream, http, fault, status, code):
    key = await seed_key(gw.db, 6)
    upstream.fail("/sd", **fault)
    response = await http.post(f"{gw.url}/sd", json=sd_body(key))
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert OPERATOR_VC_KEY not in response.text
    if status == 503:
        assert response.headers["Retry-After"] == "9"
    assert await used_today(gw.db, 6, "image") == 0


async def test_generation_timeout_is_504(tmp_path, upstream, http):
    upstream.hang("/text2gif", 30)
    async with running_gateway(tmp_path, upstream, GENERATION_TIMEOUT="1") as gw:
        key = await seed_key(gw.db, 7)
        response = await http.post(f"{gw.url}/text2gif", json={"token": key, "prompt": "x"})
        assert response.status_code == 504
        assert response.json()["error"]["code"] == "upstream_timeout"
        assert await used_today(gw.db, 7, "gif") == 0
