"""Upstream clients. They take an ``httpx.AsyncClient`` and a base URL, so tests point them at
a local fake server or an ``httpx.MockTransport``."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from bot.clients.openai_compat import ChatClient, chat_clients
from bot.clients.visioncraft import ImageClient
from bot.config import Settings


@dataclass(slots=True)
class Clients:
    """Long-lived HTTP clients, created once and closed at shutdown."""

    http: httpx.AsyncClient
    chat: dict[str, ChatClient] = field(default_factory=dict)  # by provider (issue 3)
    images: ImageClient | None = None  # VisionCraft /sd and /text2gif

    @classmethod
    def create(cls, settings: Settings, transport: httpx.AsyncBaseTransport | None = None):
        http = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(connect=10.0, read=120.0, write=30.0, pool=30.0),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            headers={"User-Agent": "visioncraft-bot/0.1"},
            follow_redirects=False,
        )
        return cls(
            http=http, chat=chat_clients(http, settings), images=image_client(settings, http)
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
