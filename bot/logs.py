"""Logging setup with secret redaction.

Every record passes through :class:`RedactingFilter` on the root handler: the bot token,
the operator's upstream keys, user API keys (``vc_…``) and anything shaped like a bot token
in a URL are replaced before the line is written.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable

_TOKEN_SHAPE = re.compile(r"\b\d{3,20}:[A-Za-z0-9_-]{30,}")
_USER_KEY_SHAPE = re.compile(r"\bvc_[A-Za-z0-9]{32,}")


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
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        clean = self.redact(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


def setup_logging(level: str, secrets: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
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
