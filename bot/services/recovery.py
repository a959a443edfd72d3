"""At start: give back what a killed run left spent, and tell the people it concerned.

A unit spent for an answer or a generation is held (``quota_holds``) until the work is
delivered or given back. A row still there when the bot starts belongs to work that died
with the previous process (``kill -9``, out of memory, power loss): its unit is refunded
and the user is asked to send the request again, in their language.
"""

from __future__ import annotations

import logging

from bot.services.messenger import DeliveryError, Messenger
from bot.services.quota import QuotaService
from bot.services.users import UserService
from bot.texts import Translator

logger = logging.getLogger(__name__)


async def give_back_interrupted(
    messenger: Messenger, quota_service: QuotaService, users: UserService
) -> int:
    """At start-up; returns how many requests were given back."""
    interrupted = await quota_service.recover()
    if not interrupted:
        return 0
    logger.warning(
        "%d request(s) were cut off by the last stop: units given back", len(interrupted)
    )
    told: set[tuple[int, str]] = set()
    for item in interrupted:
        chat_id = item.chat_id if item.chat_id is not None else item.user_id
        if (chat_id, item.kind) in told:
            continue
        told.add((chat_id, item.kind))
        user = await users.get(item.user_id)
        t = Translator.for_code(user.language_code if user else None)
        try:
            await messenger.send(chat_id, t("restart.interrupted", kind=t(f"kind.{item.kind}")))
        except DeliveryError as exc:
            logger.info("could not tell chat %s about an interrupted request: %s", chat_id, exc)
    return len(interrupted)
