"""Errors of the HTTP API, in OpenAI's shape.

Every failure a caller can see is one JSON object::

    {"error": {"message": "...", "type": "...", "param": "max_tokens" | null, "code": "..."}}

so the official ``openai`` SDK raises its usual exception types (``AuthenticationError`` for
401, ``PermissionDeniedError`` for 403, ``RateLimitError`` for 429, ``BadRequestError`` for
400) with our message. Messages never carry the operator's keys, an upstream's stack trace or
anything the caller did not send.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

INVALID_REQUEST = "invalid_request_error"
AUTHENTICATION = "authentication_error"
PERMISSION = "permission_error"
RATE_LIMIT = "rate_limit_error"
UPSTREAM = "upstream_error"
SERVER = "server_error"


class ApiError(Exception):
    """Raised anywhere in a request; the error middleware turns it into a JSON response."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = INVALID_REQUEST,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def response(self) -> web.Response:
        return web.Response(
            status=self.status,
            text=json.dumps(self.body(), ensure_ascii=False),
            content_type="application/json",
            headers=self.headers,
        )


class ClientGone(Exception):
    """The client closed the connection (or broke the body's framing) mid-upload: nobody is
    left to answer, so it is logged at INFO, not as a failure of ours."""


def bad_request(message: str, *, param: str | None = None, code: str = "invalid_value") -> ApiError:
    return ApiError(400, message, param=param, code=code)


def missing(param: str) -> ApiError:
    return ApiError(
        400,
        f"Missing required parameter: '{param}'.",
        param=param,
        code="missing_required_parameter",
    )
