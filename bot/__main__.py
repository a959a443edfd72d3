"""``python -m bot``: read settings, then run the bot (``bot.app``).

Configuration problems are one line on stderr and exit code 2, before anything heavy loads.
"""

from __future__ import annotations

import secrets
import sys
from dataclasses import replace

from dotenv import find_dotenv, load_dotenv

from bot.config import ConfigError, Settings
from bot.loop import fail, run_front


def main() -> int:
    load_dotenv(find_dotenv(usecwd=True), override=False)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        return fail(str(exc))
    if settings.webhook_url and not settings.webhook_secret:
        settings = replace(settings, webhook_secret=secrets.token_urlsafe(32))

    from bot.app import amain
    from bot.logs import setup_logging

    setup_logging(settings.log_level, settings.secrets, fmt=settings.log_format)
    return run_front(amain(settings))


if __name__ == "__main__":
    sys.exit(main())
