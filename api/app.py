"""The gateway's aiohttp application: assembly and the request pipeline, with no I/O.

``create_app(settings, db, clients)`` builds what ``python -m api`` serves, and tests serve
the very same object. Every request passes one middleware that gives it a request id, turns
any :class:`ApiError` (and aiohttp's own 404/405/413) into OpenAI-style JSON, hides anything
unexpected behind a logged 500, and writes one access line (never a key). It also answers
CORS preflights (``OPTIONS``) and tells the connection's head timer that the request arrived
(``api.connections``). An answer given without reading the body the client announced (a 401
before a 5 MB upload) closes the connection instead of reading and discarding the rest.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from api.auth import Gatekeeper
from api.budget import BodyBudget
from api.connections import HeadDeadlines
from api.errors import INVALID_REQUEST, SERVER, ApiError, ClientGone
from api.logs import new_request_id, request_id
from api.models import ChatModels
from api.ratelimit import RateLimiter, rate_limiter
from api.upstream import ChatForwarder, Timeouts
from bot.clients import Clients
from bot.config import Settings
from bot.logs import RedactingFilter, log_user_id
from bot.metrics import API_REQUESTS
from bot.services.quota import QuotaService, burst_limiter
from bot.shared_limits import SharedLimits
from storage.db import Database

if TYPE_CHECKING:
    from api.images import ImageBackend

logger = logging.getLogger("api")
access_logger = logging.getLogger("api.access")

USER_ID = web.RequestKey("user_id", int)

# Chat bodies held in memory at once, in bytes (see api.budget): four bodies of the default
# 8 MiB maximum, any number of ordinary small ones.
BODY_MEMORY = 32 * 1024 * 1024


@dataclass(slots=True)
class Gateway:
    """The long-lived services every handler uses (built once, no I/O)."""

    settings: Settings
    db: Database
    gatekeeper: Gatekeeper
    limiter: RateLimiter
    quota: QuotaService
    chat: ChatForwarder
    models: ChatModels
    images: ImageBackend
    bodies: BodyBudget


GATEWAY = web.AppKey("gateway", Gateway)
CONNECTIONS = web.AppKey("connections", HeadDeadlines)


def create_app(
    settings: Settings,
    db: Database,
    clients: Clients,
    *,
    models: ChatModels | None = None,
    images: ImageBackend | None = None,
    quota: QuotaService | None = None,
    timeouts: Timeouts | None = None,
    shared: SharedLimits | None = None,
) -> web.Application:
    """The gateway application. Tests may pass their own ``models``/``images``/``quota``.
    ``shared``: rate limits kept in Redis for every process (else in this one's memory)."""
    from api import routes

    if models is None:
        models = ChatModels.create(settings, db, clients)
    if timeouts is None:
        timeouts = Timeouts(
            connect=settings.chat_connect_timeout,
            first_byte=settings.chat_first_token_timeout,
            total=settings.chat_total_timeout,
        )
    if images is None:
        from api.images import ImageBackend

        images = ImageBackend.create(settings, clients)
    redactor = RedactingFilter(settings.secrets)
    gateway = Gateway(
        settings=settings,
        db=db,
        gatekeeper=Gatekeeper(db, channel=settings.required_channel),
        limiter=rate_limiter(settings.api_rate_per_second, shared),
        quota=quota or QuotaService(db, settings.limits, burst_limiter(shared)),
        chat=ChatForwarder(clients.http, timeouts=timeouts, redact=redactor.redact),
        models=models,
        images=images,
        bodies=BodyBudget(BODY_MEMORY),
    )
    app = web.Application(
        client_max_size=settings.api_max_body_bytes, middlewares=[request_middleware]
    )
    app[GATEWAY] = gateway
    app[CONNECTIONS] = HeadDeadlines(settings.api_client_timeout)
    app.on_response_prepare.append(_add_request_id)
    routes.setup(app)
    return app


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
REQUEST_ID = web.RequestKey("request_id", str)


@web.middleware
async def request_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    connections = request.app[CONNECTIONS]
    connections.request_started(request.transport)
    rid = new_request_id(request.headers.get("X-Request-Id"))
    request[REQUEST_ID] = rid
    token = request_id.set(rid)
    user_token = log_user_id.set(None)
    started = time.perf_counter()
    status = 500
    response: web.StreamResponse
    try:
        try:
            if request.method == "OPTIONS":
                response = _preflight(request)
            else:
                response = await handler(request)
        except ApiError as exc:
            response = exc.response()
        except ClientGone as exc:
            logger.info("the client went away while sending its request (%s)", exc)
            response = ApiError(
                400, "The request body is incomplete.", code="incomplete_body"
            ).response()
        except web.HTTPException as exc:
            response = _http_error(exc)
        except Exception:
            logger.exception("unhandled error in %s %s", request.method, request.path)
            response = ApiError(
                500,
                "The gateway failed unexpectedly; try again.",
                type=SERVER,
                code="internal_error",
            ).response()
        status = response.status
        if not response.prepared and request.body_exists and not request.content.is_eof():
            response.force_close()
        return response
    finally:
        connections.request_finished(request.transport)
        elapsed = (time.perf_counter() - started) * 1000
        if access_logger.isEnabledFor(logging.INFO):
            user = request.get(USER_ID)
            access_logger.info(
                "%s %s %d %.1fms%s",
                request.method,
                request.path,
                status,
                elapsed,
                f" user={user}" if user is not None else "",
            )
        API_REQUESTS.labels(_route_label(request), f"{status // 100}xx").inc()
        log_user_id.reset(user_token)
        request_id.reset(token)


def _route_label(request: web.Request) -> str:
    """The route's pattern (``/v1/models/{model}``), never the raw path: a bounded label."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def _http_error(exc: web.HTTPException) -> web.Response:
    status = exc.status
    if status == 404:
        error = ApiError(404, "Unknown path; see the API documentation.", code="not_found")
    elif status == 405:
        allowed = exc.headers.get("Allow", "")
        error = ApiError(
            405,
            f"Method not allowed here; use {allowed or 'another method'}.",
            code="method_not_allowed",
            headers={"Allow": allowed} if allowed else None,
        )
    elif status == 413:
        error = ApiError(413, "The request body is too large.", code="request_too_large")
    else:
        error = ApiError(status, exc.reason or "Request failed.", type=INVALID_REQUEST)
    return error.response()


async def _add_request_id(request: web.Request, response: web.StreamResponse) -> None:
    rid = request.get(REQUEST_ID)
    if rid is not None:
        response.headers["X-Request-Id"] = rid
    origin = allowed_origin(request)
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    if origin != "*":
        response.headers.add("Vary", "Origin")


# -- CORS: browsers may call the API from API_CORS_ORIGINS ("*": from anywhere). Keys travel
# in a header (or the body), never in cookies, so no credentials mode is offered.

ALLOWED_METHODS = "GET, POST, OPTIONS"
ALLOWED_HEADERS = ("Authorization", "Content-Type", "X-Request-Id")
EXPOSED_HEADERS = "X-Request-Id, Retry-After"
PREFLIGHT_MAX_AGE = "600"
_HEADER_NAME = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")


def allowed_origin(request: web.Request) -> str | None:
    """The Access-Control-Allow-Origin value for this request (None: the origin is not
    allowed, or none was given and only listed origins are)."""
    origins = request.app[GATEWAY].settings.api_cors_origins
    if "*" in origins:
        return "*"
    origin = request.headers.get("Origin", "").lower()
    return origin if origin in origins else None


def _preflight(request: web.Request) -> web.Response:
    """OPTIONS: what a browser asks before a cross-origin POST with a key header."""
    response = web.Response(status=204)
    if allowed_origin(request) is None:
        return response  # no Allow-Origin: the browser refuses the call
    # SDKs running in browsers add headers of their own (the openai SDK its x-stainless-*
    # ones); those asked for are allowed as long as they are plain header names.
    asked = request.headers.get("Access-Control-Request-Headers", "")
    extra = [
        name.strip()
        for name in asked.split(",")
        if name.strip() and set(name.strip().lower()) <= _HEADER_NAME
    ]
    names = dict.fromkeys([*ALLOWED_HEADERS, *extra[:32]])
    response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
    response.headers["Access-Control-Allow-Headers"] = ", ".join(names)
    response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
    return response


def gateway_of(request: web.Request) -> Gateway:
    return request.app[GATEWAY]


def json_response(payload: Any, status: int = 200) -> web.Response:
    return web.json_response(payload, status=status)
