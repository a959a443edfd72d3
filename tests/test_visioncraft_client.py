"""The VisionCraft image client (on the production HTTP client) against scripted answers from a
server on 127.0.0.1: every answer is checked."""

import json
import logging

import httpx
import pytest

from bot.clients.visioncraft import ImageClient
from bot.services.errors import UpstreamBusy, UpstreamError, UpstreamUnavailable
from bot.services.image_errors import GenerationTimeout, UpstreamBadOutput, UpstreamRejected
from tests.media_samples import gif, mp4, png

KEY = "operator-secret-key-123"


@pytest.fixture
def client_for(scripted, http):
    """An image client on the production HTTP client; ``handler`` writes the answers."""

    def make(handler, *, key=KEY, max_bytes=50 * 1024 * 1024, timeout=60.0):
        scripted.responder = handler
        return ImageClient(http, scripted.url + "/", key, timeout=timeout, max_bytes=max_bytes)

    return make


async def test_generate_image_sends_the_token_and_returns_checked_bytes(client_for):
    seen = {}
    image = png(768, 1024)

    def handler(request: httpx.Request) -> httpx.Response:
        seen["url"] = str(request.url)
        seen["body"] = json.loads(request.content)
        return httpx.Response(200, content=image, headers={"content-type": "image/png"})

    media = await client_for(handler).generate_image({"model": "sdxl-base", "prompt": "a fox"})
    assert seen["url"].endswith("/sd")
    assert seen["body"] == {"model": "sdxl-base", "prompt": "a fox", "token": KEY}
    assert media.data == image
    assert (media.content_type, media.info.width, media.info.height) == ("image/png", 768, 1024)
    assert media.filename("image") == "image.png"


async def test_generate_gif_accepts_gif_and_mp4(client_for):
    bodies = iter([gif(), mp4()])

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/text2gif"
        assert json.loads(request.content) == {"prompt": "a cat", "token": KEY}
        return httpx.Response(200, content=next(bodies))

    client = client_for(handler)
    assert (await client.generate_gif("a cat")).content_type == "image/gif"
    assert (await client.generate_gif("a cat")).content_type == "video/mp4"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"error": "Invalid model"}', "application/json"),
        (b"<html><body>Cloudflare: 502 Bad Gateway</body></html>", "text/html"),
        (b"", "image/png"),  # empty, even if it claims to be an image
        (b"\x89PNG", "text/plain"),  # truncated signature
    ],
)
async def test_a_200_that_is_not_an_image_is_an_upstream_failure(
    client_for, body, content_type, caplog
):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": content_type})

    with (
        caplog.at_level(logging.ERROR, logger="bot.clients.visioncraft"),
        pytest.raises(UpstreamBadOutput),
    ):
        await client_for(handler).generate_image({"model": "m", "prompt": "p"})
    assert "instead of media" in caplog.text
    assert content_type in caplog.text


async def test_the_gif_endpoint_must_send_an_animation(client_for):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=png())

    with pytest.raises(UpstreamBadOutput):
        await client_for(handler).generate_gif("a cat")


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, UpstreamUnavailable),
        (403, UpstreamUnavailable),
        (400, UpstreamRejected),
        (422, UpstreamRejected),
        (500, UpstreamError),
        (502, UpstreamError),
    ],
)
async def test_status_codes(client_for, status, error):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"detail": "nope"})

    with pytest.raises(error):
        await client_for(handler).generate_image({"model": "m", "prompt": "p"})


async def test_429_carries_retry_after(client_for):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"retry-after": "17"}, text="slow down")

    with pytest.raises(UpstreamBusy) as caught:
        await client_for(handler).generate_image({"model": "m", "prompt": "p"})
    assert caught.value.params["retry_in"] == 17


async def test_timeouts_and_transport_errors(client_for):
    def read_timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(GenerationTimeout) as caught:
        await client_for(read_timeout, timeout=0.3).generate_image({"model": "m", "prompt": "p"})
    assert caught.value.params["minutes"] == 1

    def connect_timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("down", request=request)

    with pytest.raises(UpstreamError) as caught:
        await client_for(connect_timeout).generate_gif("p")
    assert not isinstance(caught.value, GenerationTimeout)

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(UpstreamError):
        await client_for(refused).generate_image({"model": "m", "prompt": "p"})


async def test_an_oversized_answer_is_refused(client_for):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=png() + b"\x00" * 5000)

    with pytest.raises(UpstreamBadOutput):
        await client_for(handler, max_bytes=1000).generate_image({"model": "m", "prompt": "p"})


async def test_without_a_key_nothing_is_sent(client_for, caplog):
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    client = client_for(handler, key=None)
    assert not client.configured
    with pytest.raises(UpstreamUnavailable):
        await client.generate_image({"model": "m", "prompt": "p"})
    assert "VISIONCRAFT_API_KEY" in caplog.text


async def test_lists(client_for):
    answers = {
        "/sd/models": httpx.Response(200, json=["sdxl-base", "deliberate_v2", "sdxl-base", " "]),
        "/sd/samplers": httpx.Response(200, json={"samplers": ["Euler a", "Euler"]}),
        "/sd/loras": httpx.Response(200, json=["add_detail", 5, None]),
    }

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.method == "GET"
        return answers[request.url.path]

    client = client_for(handler)
    assert await client.list_models() == ["sdxl-base", "deliberate_v2"]
    assert await client.list_samplers() == ["Euler a", "Euler"]
    assert await client.list_loras() == ["add_detail"]


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(500, text="boom"),
        httpx.Response(200, text="<html></html>"),
        httpx.Response(200, json={"a": [1], "b": [2]}),
        httpx.Response(200, json="sdxl-base"),
    ],
)
async def test_bad_lists_are_upstream_errors(client_for, response):
    def handler(request: httpx.Request) -> httpx.Response:
        return response

    with pytest.raises(UpstreamError):
        await client_for(handler).list_models()


async def test_list_transport_error(client_for):
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(UpstreamError):
        await client_for(handler).list_samplers()
