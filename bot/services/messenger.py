"""What the services need from a chat front to reach a user, with no Telegram types.

The Telegram front implements :class:`Messenger` (``handlers/adapters/messenger.py``) and
turns the Bot API's errors into the :class:`DeliveryError` kinds below, so broadcasts,
reminders, key notices and restart notices decide what to do without knowing aiogram.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.texts import Translator


class DeliveryError(Exception):
    """A message did not reach its recipient. ``reason``: the front's description."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RecipientGone(DeliveryError):
    """The user blocked the bot, or the chat is gone: don't try them again."""


class TextRefused(DeliveryError):
    """The message itself was refused (bad markup, too long, unknown chat...)."""


class FloodWait(DeliveryError):
    """Flood control outlasted the front's own bounded waiting."""

    def __init__(self, reason: str, retry_after: float) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class Unreachable(DeliveryError):
    """The front's service failed or could not be reached. ``server``: it answered with
    an error of its own (a repeat might deliver twice); otherwise a network failure."""

    def __init__(self, reason: str, *, server: bool) -> None:
        super().__init__(reason)
        self.server = server


@dataclass(frozen=True, slots=True)
class PremiumOffer:
    """A button under the message that opens the premium screen."""

    t: Translator


Keyboard = PremiumOffer


class Messenger(Protocol):
    async def send(self, chat_id: int, text: str, *, keyboard: Keyboard | None = None) -> int:
        """Send ``text`` (HTML); returns the message id. Raises :class:`DeliveryError`."""
        ...

    async def edit(self, chat_id: int, message_id: int, text: str) -> None:
        """Replace a sent message's text. Raises :class:`DeliveryError`."""
        ...
