"""The documented VisionCraft endpoints.

Every paid-for request goes the same way: the key (401/403) and requests per second (429) ->
the body, read in bounded pieces -> parameters (400) -> one unit of the same daily quota the
bot spends (403 when spent; 429 for the per-minute burst limit) -> upstream with the
operator's key. When the upstream fails, the unit is given back.

Chat callers send their key in a header, so it is checked before a byte of the (up to
``API_MAX_BODY_BYTES``) body is read. ``/sd`` and ``/text2gif`` carry the key in the body:
their bodies are small JSON, capped at ``SMALL_BODY_BYTES`` before anything else.

What goes upstream is the body as parsed and checked, serialized again: a key given twice
counts once (the last, as JSON parsers read it), with the value that was checked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from aiohttp.http import HttpProcessingError

from api.app import GATEWAY, USER_ID, Gateway, gateway_of
from api.auth import Caller, bearer_key
from api.errors import PERMISSION, RATE_LIMIT, SERVER, ApiError, ClientGone, bad_request
from api.ratelimit import RateLimiter
from api.upstream import Route, sse_event
from api.validation import (
    check_chat,
    check_gif,
    check_sd,
    encode_json,
    parse_json,
    require_object,
    too_large,
    upstream_body,
)
from bot.logs import log_user_id
from bot.ops_http import metrics_handler
from bot.services.errors import QuotaExceeded, RateLimited
from bot.services.quota import Ticket
from bot.tiers import CHAT, FREE, GIF, IMAGE, KINDS, TIER1, TIER2, TIERS, TRIAL_HOURS

logger = logging.getLogger("api")

TIER_NAMES = {FREE: "Free", TIER1: "Tier 1", TIER2: "Tier 2"}
SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}
HEALTH_TIMEOUT = 2.0
SMALL_BODY_BYTES = 64 * 1024  # /sd and /text2gif: a prompt and a few options
BODY_DEADLINE = 120.0  # the longest a whole body may take (each piece: API_CLIENT_TIMEOUT)


def setup(app: web.Application) -> None:
    router = app.router
    router.add_post("/v1/chat/completions", chat_completions)
    router.add_get("/models-llm", models_llm)
    router.add_get("/v1/models", openai_models)
    router.add_get("/v1/models/{model:.+}", openai_model)
    router.add_post("/sd", sd)
    for kind in ("models", "samplers", "loras"):
        router.add_get(f"/sd/{kind}", _sd_list(kind))
    router.add_post("/text2gif", text2gif)
    router.add_get("/limits", limits)
    router.add_get("/health", health)
    router.add_get("/metrics", metrics_handler(app[GATEWAY].settings.metrics_token))


# -- the pipeline -----------------------------------------------------------------------------


async def read_body(request: web.Request, limit: int) -> bytearray:
    """The whole body, at most ``limit`` bytes, each piece within API_CLIENT_TIMEOUT.

    A body announced bigger than ``limit`` is refused before reading it; a client that stops
    sending gets a 408 and is disconnected; one that goes away raises :class:`ClientGone`.
    """
    declared = request.content_length
    if declared is not None and declared > limit:
        raise too_large(limit)
    timeout = gateway_of(request).settings.api_client_timeout
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(BODY_DEADLINE, timeout)
    received = bytearray()
    content = request.content
    try:
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise _too_slow(f"the body did not arrive in {BODY_DEADLINE:g} s")
            try:
                async with asyncio.timeout(min(timeout, left)):
                    chunk = await content.readany()
            except TimeoutError:
                raise _too_slow(f"no part of the body came in {timeout:g} s") from None
            if not chunk:
                break
            if len(received) + len(chunk) > limit:
                raise too_large(limit)
            received += chunk
    except web.RequestPayloadError:  # a compressed body (Content-Encoding) that does not inflate
        raise bad_request(
            f"The request body could not be decoded as Content-Encoding: "
            f"{request.headers.get('Content-Encoding', '')[:40]}.",
            code="invalid_body",
        ) from None
    except (ConnectionError, HttpProcessingError) as exc:
        raise ClientGone(type(exc).__name__) from None
    if not received:
        raise bad_request("The request body is empty; send a JSON object.", code="invalid_json")
    return received


def _too_slow(why: str) -> ApiError:
    logger.info("gave up on a slow client: %s", why)
    return ApiError(
        408,
        f"The request body came too slowly: {why}.",
        code="request_timeout",
        headers={"Connection": "close"},
    )


@asynccontextmanager
async def body_room(request: web.Request, gateway: Gateway) -> AsyncIterator[None]:
    """Room in the body budget (``api.budget``) for this request's body, held until the
    request is done; a caller that waits longer than API_CLIENT_TIMEOUT gets a 503."""
    limit = gateway.settings.api_max_body_bytes
    size = request.content_length
    if size is None or request.headers.get("Content-Encoding", "identity").lower() != "identity":
        size = limit  # unknown, or compressed: it may inflate up to the limit
    size = min(size, limit)
    try:
        held = await gateway.bodies.acquire(size, gateway.settings.api_client_timeout)
    except TimeoutError:
        logger.info("no room for a %d-byte body in %g s", size, gateway.settings.api_client_timeout)
        raise ApiError(
            503,
            "The gateway is busy reading other requests; try again in a moment.",
            type=SERVER,
            code="server_busy",
            headers={"Retry-After": "1"},
        ) from None
    try:
        yield
    finally:
        gateway.bodies.release(held)


async def authenticate(request: web.Request, gateway: Gateway, key: Any) -> Caller:
    caller = await gateway.gatekeeper.check(key)
    request[USER_ID] = caller.user_id
    log_user_id.set(caller.user_id)  # reset by the request pipeline when the request ends
    wait = await gateway.limiter.take(caller.user_id, caller.tier)
    if wait is not None:
        rate = gateway.limiter.rates[caller.tier]
        raise ApiError(
            429,
            f"Rate limit reached: the {TIER_NAMES[caller.tier]} tier allows {rate:g} "
            "requests per second per key. Slow down, or raise it with /premium in the bot.",
            type=RATE_LIMIT,
            code="rate_limit_exceeded",
            headers={"Retry-After": RateLimiter.retry_after(wait)},
        )
    return caller


async def spend(gateway: Gateway, caller: Caller, kind: str) -> Ticket:
    try:
        return await gateway.quota.spend(caller.user_id, kind, tier=caller.tier)
    except QuotaExceeded as exc:
        tier = str(exc.params.get("tier") or caller.tier)
        limit = exc.params.get("limit")
        reset_in = int(exc.params.get("reset_in") or 0)
        hours, minutes = divmod(max(reset_in, 60) // 60, 60)
        raise ApiError(
            403,
            f"Today's {kind} quota is spent ({limit} a day on the {TIER_NAMES.get(tier, tier)} "
            f"tier). It resets at 00:00 UTC, in {hours} h {minutes} min; /premium in the bot "
            "raises it.",
            type=PERMISSION,
            code="quota_exceeded",
        ) from None
    except RateLimited as exc:
        retry_in = max(1, int(exc.params.get("retry_in") or 1))
        raise ApiError(
            429,
            f"Too many requests this minute for the {TIER_NAMES[caller.tier]} tier. "
            f"Try again in {retry_in} s.",
            type=RATE_LIMIT,
            code="rate_limit_exceeded",
            headers={"Retry-After": str(retry_in)},
        ) from None


async def _delivered(ticket: Ticket, work: Callable[[], Awaitable[Any]]) -> Any:
    """Run the upstream part; the unit goes back if it did not deliver."""
    try:
        return await work()
    except BaseException:
        await ticket.refund()
        raise


# -- chat ---------------------------------------------------------------------------------------


async def chat_completions(request: web.Request) -> web.StreamResponse:
    gateway = gateway_of(request)
    caller = await authenticate(request, gateway, bearer_key(request.headers.get("Authorization")))
    async with body_room(request, gateway):
        return await _chat(request, gateway, caller)


async def _chat(request: web.Request, gateway: Gateway, caller: Caller) -> web.StreamResponse:
    body = parse_json(await read_body(request, gateway.settings.api_max_body_bytes))
    chat = check_chat(body)
    raw = encode_json(upstream_body(body))
    del body  # only the bytes to forward stay in memory while the upstream answers
    if not await gateway.models.offers(chat.model):
        raise model_not_found(chat.model)
    route = gateway.models.route(chat.model)
    if chat.has_images and not gateway.models.accepts_images(chat.model):
        raise bad_request(
            f"The model '{chat.model}' does not take images; only the LLaVA model "
            f"({gateway.settings.vision_model}) does.",
            param="messages",
            code="images_not_supported",
        )
    ticket = await spend(gateway, caller, CHAT)
    if chat.stream:
        return await _stream(request, gateway, route, raw, ticket)
    answer = await _delivered(ticket, lambda: gateway.chat.complete(route, raw))
    return web.Response(body=answer, content_type="application/json")


async def _stream(
    request: web.Request, gateway: Gateway, route: Route, body: bytes, ticket: Ticket
) -> web.StreamResponse:
    """Pass the upstream's SSE stream on as it arrives. Failures before the first byte are
    ordinary JSON errors; a failure later ends the stream with an error event."""
    response = web.StreamResponse(headers=SSE_HEADERS)
    try:
        async with gateway.chat.stream(route, body) as stream:
            await response.prepare(request)
            async for chunk in stream.chunks():
                await response.write(chunk)
            if stream.failure is not None:
                await ticket.refund()
                await response.write(sse_event(stream.failure.body()))
            await response.write_eof()
    except ConnectionResetError:
        logger.info("the caller went away during a stream")
        if not response.prepared:
            await ticket.refund()
    except BaseException:
        if not response.prepared:
            await ticket.refund()
        raise
    return response


async def models_llm(request: web.Request) -> web.Response:
    listing = await gateway_of(request).models.listing()
    return web.json_response([name for name, _ in listing])


async def openai_models(request: web.Request) -> web.Response:
    listing = await gateway_of(request).models.listing()
    data = [_model_object(name, provider) for name, provider in listing]
    return web.json_response({"object": "list", "data": data})


async def openai_model(request: web.Request) -> web.Response:
    name = request.match_info["model"]
    for model, provider in await gateway_of(request).models.listing():
        if model == name:
            return web.json_response(_model_object(model, provider))
    raise model_not_found(name)


def _model_object(name: str, provider: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": provider}


def model_not_found(name: str) -> ApiError:
    shown = name if len(name) <= 200 else name[:200] + "…"
    return ApiError(
        404,
        f"The model '{shown}' does not exist on this server; GET /v1/models lists the "
        "models on offer.",
        param="model",
        code="model_not_found",
    )


# -- images and GIFs ----------------------------------------------------------------------------


async def sd(request: web.Request) -> web.Response:
    gateway = gateway_of(request)
    body = require_object(parse_json(await read_body(request, SMALL_BODY_BYTES)))
    caller = await authenticate(request, gateway, body.get("token"))
    params = check_sd(body)
    ticket = await spend(gateway, caller, IMAGE)
    data, content_type = await _delivered(ticket, lambda: gateway.images.image(params))
    return web.Response(body=data, content_type=content_type)


async def text2gif(request: web.Request) -> web.Response:
    gateway = gateway_of(request)
    body = require_object(parse_json(await read_body(request, SMALL_BODY_BYTES)))
    caller = await authenticate(request, gateway, body.get("token"))
    params = check_gif(body)
    ticket = await spend(gateway, caller, GIF)
    data, content_type = await _delivered(ticket, lambda: gateway.images.gif(params["prompt"]))
    return web.Response(body=data, content_type=content_type)


def _sd_list(kind: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response(await gateway_of(request).images.names(kind))

    handler.__name__ = f"sd_{kind}"
    return handler


# -- public information -------------------------------------------------------------------------


async def limits(request: web.Request) -> web.Response:
    settings = gateway_of(request).settings
    prices = {FREE: 0, TIER1: settings.tier1_price_stars, TIER2: settings.tier2_price_stars}
    tiers: dict[str, Any] = {}
    for tier in TIERS:
        tier_limits = settings.limits[tier]
        rate = settings.api_rate_per_second.get(tier, -1.0)
        tiers[tier] = {
            "name": TIER_NAMES[tier],
            "price_stars": prices[tier],
            "period_days": None if tier == FREE else 30,
            "daily": {
                kind: None if tier_limits.daily[kind] < 0 else tier_limits.daily[kind]
                for kind in KINDS
            },
            "requests_per_minute": None if tier_limits.per_minute < 0 else tier_limits.per_minute,
            "api_requests_per_second": None if rate < 0 else rate,
        }
    return web.json_response(
        {
            "tiers": tiers,
            "trial": {
                "tier": TIER1,
                "hours": TRIAL_HOURS,
                "every_days": settings.trial_cooldown_days,
            },
            "daily_reset": "00:00 UTC",
            "note": "null means no limit",
        }
    )


async def health(request: web.Request) -> web.Response:
    db = gateway_of(request).db
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT):
            await db.fetchval("SELECT 1")
    except Exception as exc:
        logger.warning("health: database unreachable (%s)", type(exc).__name__)
        return web.json_response({"status": "unavailable", "database": "unreachable"}, status=503)
    return web.json_response({"status": "ok", "database": "ok"})
