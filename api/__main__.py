"""``python -m api``: read settings, then serve the HTTP API (``api.server``).

The same settings as the bot (``bot.config.Settings``) except that BOT_TOKEN is not needed:
the gateway never talks to Telegram. Configuration problems are one line on stderr and exit
code 2, before anything heavy loads.
"""

from __future__ import annotations

import sys

from dotenv import find_dotenv, load_dotenv

from bot.config import ConfigError, Settings


def fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def main() -> int:
    load_dotenv(find_dotenv(usecwd=True), override=False)
    try:
        settings = Settings.from_env(require_bot_token=False)
    except ConfigError as exc:
        return fail(str(exc))

    from api.logs import add_request_ids
    from api.server import StartupError, serve
    from bot.logs import setup_logging
    from bot.loop import run

    setup_logging(settings.log_level, settings.secrets)
    add_request_ids()
    try:
        run(serve(settings))
    except StartupError as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
