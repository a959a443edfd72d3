"""Upstream clients. They take an HTTP client and a base URL, so tests point them at a local
fake server or an ``httpx.MockTransport``.

Chat requests (the hot path, in both fronts) go through :class:`bot.clients.http1.Pool`;
everything else through one shared ``httpx.AsyncClient``. Given a ``transport`` (tests),
chat goes through that httpx client too (:class:`bot.clients.http1.HttpxPool`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from bot.clients import http1
from bot.clients.openai_compat import ChatClient, chat_clients
from bot.clients.transport import AiohttpTransport
from bot.clients.visioncraft import ImageClient
from bot.config import Settings


@dataclass(slots=True)
class Clients:
    """Long-lived HTTP clients, created once and closed at shutdown."""

    http: httpx.AsyncClient
    chat: dict[str, ChatClient] = field(default_factory=dict)  # by provider (issue 3)
    images: ImageClient | None = None  # VisionCraft /sd and /text2gif
    chat_http: http1.Pool | http1.HttpxPool | None = None

    @classmethod
    def create(cls, settings: Settings, transport: httpx.AsyncBaseTransport | None = None):
        http = httpx.AsyncClient(
            # aiohttp underneath (see bot.clients.transport): up to 200 connections, kept alive.
            transport=transport or AiohttpTransport(limit=200),
            timeout=httpx.Timeout(connect=10.0, read=120.0, write=30.0, pool=30.0),
            headers={"User-Agent": "visioncraft-bot/0.1"},
            follow_redirects=False,
        )
        chat_http: http1.Pool | http1.HttpxPool
        if transport is not None:
            chat_http = http1.HttpxPool(
                http,
                connect_timeout=settings.chat_connect_timeout,
                read_timeout=settings.chat_first_token_timeout,
            )
        else:
            chat_http = http1.Pool(
                connect_timeout=settings.chat_connect_timeout,
                read_timeout=settings.chat_first_token_timeout,
                limit=200,
                headers={"User-Agent": "visioncraft-bot/0.1"},
            )
        return cls(
            http=http,
            chat=chat_clients(chat_http, settings),
            images=image_client(settings, http),
            chat_http=chat_http,
        )

    async def close(self) -> None:
        if isinstance(self.chat_http, http1.Pool):
            await self.chat_http.close()
        await self.http.aclose()


def image_client(settings: Settings, http: httpx.AsyncClient) -> ImageClient:
    return ImageClient(
        http,
        settings.visioncraft_api_url,
        settings.visioncraft_api_key,
        timeout=settings.generation_timeout,
    )
