"""The gateway's aiohttp application: assembly and the request pipeline, with no I/O.

``create_app(settings, db, clients)`` builds what ``python -m api`` serves, and tests serve
the very same object. Every request passes one middleware that gives it a request id, turns
any :class:`ApiError` (and aiohttp's own 404/405/413) into OpenAI-style JSON, hides anything
unexpected behind a logged 500, and writes one access line (never a key).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from api.auth import Gatekeeper
from api.errors import INVALID_REQUEST, SERVER, ApiError
from api.logs import new_request_id, request_id
from api.models import ChatModels
from api.ratelimit import RateLimiter
from api.upstream import ChatForwarder, Timeouts
from bot.clients import Clients
from bot.config import Settings
from bot.logs import RedactingFilter
from bot.services.quota import QuotaService
from storage.db import Database

if TYPE_CHECKING:
    from api.images import ImageBackend

logger = logging.getLogger("api")
access_logger = logging.getLogger("api.access")

USER_ID = web.RequestKey("user_id", int)


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


GATEWAY = web.AppKey("gateway", Gateway)


def create_app(
    settings: Settings,
    db: Database,
    clients: Clients,
    *,
    models: ChatModels | None = None,
    images: ImageBackend | None = None,
    quota: QuotaService | None = None,
    timeouts: Timeouts | None = None,
) -> web.Application:
    """The gateway application. Tests may pass their own ``models``/``images``/``quota``."""
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
        limiter=RateLimiter(settings.api_rate_per_second),
        quota=quota or QuotaService(db, settings.limits),
        chat=ChatForwarder(clients.http, timeouts=timeouts, redact=redactor.redact),
        models=models,
        images=images,
    )
    app = web.Application(
        client_max_size=settings.api_max_body_bytes, middlewares=[request_middleware]
    )
    app[GATEWAY] = gateway
    app.on_response_prepare.append(_add_request_id)
    routes.setup(app)
    return app


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
REQUEST_ID = web.RequestKey("request_id", str)


@web.middleware
async def request_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    rid = new_request_id(request.headers.get("X-Request-Id"))
    request[REQUEST_ID] = rid
    token = request_id.set(rid)
    started = time.perf_counter()
    status = 500
    try:
        try:
            response = await handler(request)
        except ApiError as exc:
            response = exc.response()
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
        return response
    finally:
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
        request_id.reset(token)


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


def gateway_of(request: web.Request) -> Gateway:
    return request.app[GATEWAY]


def json_response(payload: Any, status: int = 200) -> web.Response:
    return web.json_response(payload, status=status)
