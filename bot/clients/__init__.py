"""Upstream clients, created once and closed at shutdown, for both fronts.

Every upstream call goes through one ``httpx.AsyncClient`` (aiohttp's pool underneath, see
:func:`bot.clients.upstream.new_http_client`). Tests point the clients at the fake upstream on
127.0.0.1 through the settings' URLs, or give ``Clients.create`` an httpx transport.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from bot.clients.openai_compat import ChatClient, chat_clients
from bot.clients.upstream import new_http_client
from bot.clients.visioncraft import ImageClient
from bot.config import Settings

# Upstream connections open at once (kept alive between requests): enough for the gateway's
# concurrent streams; a request past it waits for a free one up to its connect timeout.
MAX_CONNECTIONS = 256


@dataclass(slots=True)
class Clients:
    """Long-lived HTTP clients, created once and closed at shutdown."""

    http: httpx.AsyncClient
    chat: dict[str, ChatClient] = field(default_factory=dict)  # by provider
    images: ImageClient | None = None  # VisionCraft /sd and /text2gif

    @classmethod
    def create(
        cls, settings: Settings, transport: httpx.AsyncBaseTransport | None = None
    ) -> Clients:
        if transport is None:
            http = new_http_client(
                max_connections=MAX_CONNECTIONS, user_agent="visioncraft-bot/0.1"
            )
        else:  # tests: an in-process transport instead of the network
            http = httpx.AsyncClient(
                transport=transport,
                headers={"User-Agent": "visioncraft-bot/0.1"},
                follow_redirects=False,
            )
        return cls(
            http=http,
            chat=chat_clients(http, settings),
            images=image_client(settings, http),
        )

    async def close(self) -> None:
        await self.http.aclose()


def image_client(settings: Settings, http: httpx.AsyncClient) -> ImageClient:
    return ImageClient(
        http,
        settings.visioncraft_api_url,
        settings.visioncraft_api_key,
        timeout=settings.generation_timeout,
    )
