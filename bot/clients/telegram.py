"""The Bot API session: aiogram's aiohttp session, sending JSON bodies.

aiogram sends every call as a form: each field JSON-encoded on its own, then URL-quoted into
``application/x-www-form-urlencoded`` through aiohttp's ``FormData`` (which also builds a
multipart writer it does not use). Telegram accepts ``application/json`` for every method
without a file upload; one ``json.dumps`` of the whole call costs a fraction of that
(``bench/``: the form building was ~8 % of the bot's CPU in a chat burst). Calls that upload
files go the usual multipart way. ``getUpdates`` answers are read one update at a time (see
:meth:`JsonAiohttpSession.read_updates`).
"""

from __future__ import annotations

import logging
from typing import Any, cast

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import InputFile, Update
from aiohttp import ClientError
from pydantic import ValidationError

logger = logging.getLogger(__name__)

_JSON = {"Content-Type": "application/json"}


class JsonAiohttpSession(AiohttpSession):
    def build_json(self, bot: Bot, method: TelegramMethod[Any]) -> dict[str, Any] | None:
        """The call as one JSON object; ``None`` when it uploads a file."""
        files: dict[str, InputFile] = {}
        payload: dict[str, Any] = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=files, _dumps_json=False)
            if prepared is None or prepared == "":
                continue  # what the form encoding leaves out, too
            payload[key] = prepared
        return None if files else payload

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 - aiogram's signature
    ) -> TelegramType:
        payload = self.build_json(bot, method)
        if payload is None:
            return await super().make_request(bot, method, timeout)
        session = await self.create_session()
        url = self.api.api_url(token=bot.token, method=method.__api_method__)
        try:
            async with session.post(
                url,
                data=self.json_dumps(payload),
                headers=_JSON,
                timeout=self.timeout if timeout is None else timeout,
            ) as resp:
                raw_result = await resp.text()
        except TimeoutError as e:
            raise TelegramNetworkError(method=method, message="Request timeout error") from e
        except ClientError as e:
            raise TelegramNetworkError(method=method, message=f"{type(e).__name__}: {e}") from e
        if isinstance(method, GetUpdates) and resp.status == 200:
            updates = self.read_updates(bot, raw_result)
            if updates is not None:
                return cast(TelegramType, updates)
        response = self.check_response(
            bot=bot, method=method, status_code=resp.status, content=raw_result
        )
        return cast(TelegramType, response.result)

    def read_updates(self, bot: Bot, raw: str) -> list[Update] | None:
        """The updates of a ``getUpdates`` answer, one by one.

        aiogram validates the whole batch at once: one update it cannot read fails the
        batch, polling retries the same offset, gets the same batch - and the bot stops
        receiving anything. Here an unreadable update is logged and replaced by an empty one
        with its id (handled as an unknown type), so the offset moves past it. ``None``:
        not a successful answer; aiogram's own checks report it.
        """
        try:
            data = self.json_loads(raw)
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("ok") is not True:
            return None
        items = data.get("result")
        if not isinstance(items, list):
            return None
        updates: list[Update] = []
        for item in items:
            try:
                updates.append(Update.model_validate(item, context={"bot": bot}))
            except ValidationError as exc:
                update_id = item.get("update_id") if isinstance(item, dict) else None
                logger.warning(
                    "update %s could not be read and is skipped: %d problem(s), first: %s",
                    update_id,
                    exc.error_count(),
                    exc.errors()[0]["loc"] if exc.errors() else "?",
                )
                if isinstance(update_id, int):
                    updates.append(Update.model_validate({"update_id": update_id}))
        return updates
