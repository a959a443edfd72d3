"""``python -m api``: read settings, then serve the HTTP API (``api.server``).

The same settings as the bot (``bot.config.Settings``) except that BOT_TOKEN is not needed:
the gateway never talks to Telegram. Configuration problems are one line on stderr and exit
code 2, before anything heavy loads.
"""

from __future__ import annotations

import sys

from dotenv import find_dotenv, load_dotenv

from bot.config import ConfigError, Settings
from bot.loop import fail, run_front


def main() -> int:
    load_dotenv(find_dotenv(usecwd=True), override=False)
    try:
        settings = Settings.from_env(require_bot_token=False)
    except ConfigError as exc:
        return fail(str(exc))

    from api.logs import add_request_ids
    from api.server import serve
    from bot.logs import setup_logging

    setup_logging(settings.log_level, settings.secrets, fmt=settings.log_format)
    add_request_ids()
    return run_front(serve(settings))


if __name__ == "__main__":
    sys.exit(main())
