"""Request ids in the gateway's logs.

Each request gets an id (the caller's ``X-Request-Id`` when it is sane, else a fresh one),
kept in a context variable for the request's task, sent back as ``X-Request-Id`` and shown
in every log line written while the request runs.
"""

from __future__ import annotations

import logging
import re
import secrets
from contextvars import ContextVar

from bot.logs import JsonFormatter

request_id: ContextVar[str] = ContextVar("request_id", default="-")

_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def new_request_id(given: str | None) -> str:
    if given and _SANE_ID.fullmatch(given):
        return given
    return secrets.token_hex(16)


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` (``-`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


def add_request_ids() -> None:
    """Put the request id in every line of the root handlers (after ``setup_logging``).
    JSON lines keep their formatter, which writes the id as a field."""
    formatter = logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s", "%Y-%m-%d %H:%M:%S"
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(RequestIdFilter())
        if not isinstance(handler.formatter, JsonFormatter):
            handler.setFormatter(formatter)
