"""Logging setup with secret redaction and escaping.

Every record passes through :class:`RedactingFilter` on the root handler: the bot token,
the operator's upstream keys, user API keys (``vc_…``) and anything shaped like a bot token
in a URL are replaced before the line is written, and control characters (newlines, ANSI
escapes, …) in the message and in exception messages are escaped, so text taken from a request
(a path, a header, a field) can never start a line that looks like one of ours. A traceback
keeps its own line breaks.

``LOG_FORMAT=json`` swaps the line's layout, not what goes into it: the same filter runs first,
then :class:`JsonFormatter` writes one JSON object a line (a traceback becomes a field, so a
line stays a line). The request id and the user id come from context variables set by each
front while it handles a request or an update.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from types import TracebackType

# Who the current task works for: set by the bot's update middleware and the gateway's
# request pipeline, read by every log line written meanwhile (text lines leave them out).
log_user_id: ContextVar[int | None] = ContextVar("log_user_id", default=None)
log_request_id: ContextVar[str | None] = ContextVar("log_request_id", default=None)

_TOKEN_SHAPE = re.compile(r"\b\d{3,20}:[A-Za-z0-9_-]{30,}")
_USER_KEY_SHAPE = re.compile(r"\bvc_[A-Za-z0-9]{32,}")

# C0 and C1 controls, DEL and the Unicode line/paragraph separators: each becomes a visible
# escape (\n, \x1b, \u2028) instead of breaking or recolouring the line.
_CONTROLS = [*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029]
_ESCAPES = {code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" for code in _CONTROLS}
_ESCAPES |= {ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"}


def escape_controls(text: str) -> str:
    """``text`` with control characters written as escapes (one line, no terminal codes)."""
    return text.translate(_ESCAPES)


def format_exception(exc: BaseException, tb: TracebackType | None) -> str:
    """A traceback like the standard one, but with each exception's message escaped.

    Chained exceptions (``raise ... from``, or raised while handling another) come first,
    as Python prints them.
    """
    chain: list[tuple[BaseException, TracebackType | None, str]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    link = ""
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append((current, tb if current is exc else current.__traceback__, link))
        if current.__cause__ is not None:
            link = "\nThe above exception was the direct cause of the following exception:\n\n"
            current = current.__cause__
        elif current.__context__ is not None and not current.__suppress_context__:
            link = "\nDuring handling of the above exception, another exception occurred:\n\n"
            current = current.__context__
        else:
            current = None
    parts: list[str] = []
    for error, error_tb, link in reversed(chain):
        if error_tb is not None:
            parts.append("Traceback (most recent call last):\n")
            parts.extend(traceback.format_tb(error_tb))
        name = type(error).__qualname__
        module = type(error).__module__
        if module not in ("builtins", "__main__"):
            name = f"{module}.{name}"
        message = escape_controls(str(error)) if str(error) else ""
        parts.append(f"{name}: {message}\n" if message else f"{name}\n")
        for note in getattr(error, "__notes__", None) or ():
            parts.append(escape_controls(str(note)) + "\n")
        parts.append(link)
    return "".join(parts).rstrip("\n")


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = tuple(sorted({s for s in secrets if s and len(s) >= 6}, key=len)[::-1])

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "***")
        text = _TOKEN_SHAPE.sub("***", text)
        return _USER_KEY_SHAPE.sub("vc_***", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            _, error, tb = record.exc_info
            if error is not None:
                record.exc_text = format_exception(error, tb)
        clean = escape_controls(self.redact(message))
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ``time`` (UTC, ISO 8601 with milliseconds), ``level``,
    ``logger``, ``message``, and when known ``request_id``, ``user_id`` and ``exception``
    (the escaped traceback). ``json.dumps`` escapes every control character, so nothing in a
    message can end the line early."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        entry: dict[str, object] = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = log_request_id.get() or getattr(record, "request_id", None)
        if rid and rid != "-":
            entry["request_id"] = rid
        user = log_user_id.get()
        if user is not None:
            entry["user_id"] = user
        if record.exc_info and not record.exc_text:
            _, error, tb = record.exc_info
            if error is not None:
                record.exc_text = format_exception(error, tb)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


def setup_logging(level: str, secrets: Iterable[str] = (), *, fmt: str = "text") -> None:
    """Lines on stderr, redacted and escaped; ``fmt`` is ``text`` or ``json``."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"
            )
        )
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # aiogram logs every handled update at INFO and httpx every upstream request: noise (and
    # slow) at scale - with them the log was one line per update (bench/).
    quiet = max(logging.getLevelName(level), logging.WARNING)
    for name in ("aiogram.event", "httpx"):
        logging.getLogger(name).setLevel(quiet)
