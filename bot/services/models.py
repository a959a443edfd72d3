"""The chat model catalogue: which models exist, and which provider serves each.

VisionCraft publishes its models at ``GET /models-llm``; Nebula Block's are the ones listed
in its documentation (``NEBULA_MODELS``), offered only when ``NEBULA_API_KEY`` is set. The
VisionCraft list is fetched at most once per ``ttl`` (one request at a time); when the fetch
fails the last good list is kept, and before any success the default model stands alone.

Answering never waits for the catalogue: the provider of a model is known from its name.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from bot.clients.openai_compat import LABELS, NEBULA, VISIONCRAFT
from bot.config import Settings
from bot.services import clock
from storage import chat as chat_repo
from storage.db import Database

logger = logging.getLogger(__name__)

# From the Nebula Block documentation (reference/nebula-block-models.md).
NEBULA_MODELS: tuple[str, ...] = (
    "deepseek-ai/DeepSeek-R1-Distill-Llama-70B",
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B",
    "meta-llama/Llama-3.3-70B-Instruct",
    "meta-llama/Llama-3.1-8B-Instruct",
    "Qwen/Qwen2.5-Coder-32B-Instruct",
)

_MAX_MODELS = 200
_MAX_NAME = 120


@dataclass(frozen=True, slots=True)
class ChatModel:
    name: str
    provider: str

    @property
    def key(self) -> str:
        """A short stable id for callback data (names can exceed Telegram's 64 bytes)."""
        return hashlib.sha256(f"{self.provider}:{self.name}".encode()).hexdigest()[:12]

    @property
    def label(self) -> str:
        return LABELS.get(self.provider, self.provider)


class ModelCatalog:
    def __init__(
        self,
        http: httpx.AsyncClient,
        settings: Settings,
        db: Database,
        *,
        ttl: float = 3600.0,
        retry_after_failure: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.http = http
        self.settings = settings
        self.db = db
        self.ttl = ttl
        self.retry_after_failure = retry_after_failure
        self._monotonic = monotonic
        self._visioncraft: list[str] | None = None
        self._next_fetch = 0.0
        self._lock = asyncio.Lock()

    @property
    def list_known(self) -> bool:
        """Whether VisionCraft's model list was ever fetched (until then it is unknown)."""
        return self._visioncraft is not None

    @property
    def nebula_enabled(self) -> bool:
        return bool(self.settings.nebula_api_key)

    def resolve(self, name: str) -> ChatModel:
        """The provider of ``name``: Nebula Block for its documented models, else VisionCraft."""
        if name in NEBULA_MODELS:
            return ChatModel(name, NEBULA)
        return ChatModel(name, VISIONCRAFT)

    @property
    def default(self) -> ChatModel:
        return self.resolve(self.settings.chat_model)

    @property
    def vision(self) -> ChatModel:
        return self.resolve(self.settings.vision_model)

    def for_user(self, stored: str | None) -> ChatModel:
        """The user's chosen model, or the default when none is stored or its provider is
        no longer configured."""
        if not stored:
            return self.default
        model = self.resolve(stored)
        if model.provider == NEBULA and not self.nebula_enabled:
            return self.default
        return model

    async def models(self) -> list[ChatModel]:
        """Every chat model on offer: the default first, then Nebula Block, then VisionCraft."""
        names = await self._visioncraft_names()
        found: list[ChatModel] = [self.default]
        if self.nebula_enabled:
            found += [ChatModel(name, NEBULA) for name in NEBULA_MODELS]
        found += [ChatModel(name, VISIONCRAFT) for name in names if name not in NEBULA_MODELS]
        unique: dict[str, ChatModel] = {}
        for model in found:
            unique.setdefault(model.name, model)
        return list(unique.values())

    async def find(self, key: str) -> ChatModel | None:
        for model in await self.models():
            if model.key == key:
                return model
        return None

    async def choose(self, user_id: int, model: ChatModel) -> None:
        """Store the user's choice (the default is stored as "no choice", so a new
        CHAT_MODEL reaches everyone who never picked another)."""
        name = None if model == self.default else model.name
        async with self.db.transaction() as conn:
            await chat_repo.set_chat_model(conn, user_id, name, now=clock.now())

    async def _visioncraft_names(self) -> list[str]:
        async with self._lock:
            if self._monotonic() >= self._next_fetch:
                fetched = await self._fetch()
                if fetched is not None:
                    self._visioncraft = fetched
                    self._next_fetch = self._monotonic() + self.ttl
                else:
                    self._next_fetch = self._monotonic() + self.retry_after_failure
            return list(self._visioncraft or [])

    async def _fetch(self) -> list[str] | None:
        url = f"{self.settings.visioncraft_api_url}/models-llm"
        headers = {}
        if self.settings.visioncraft_api_key:
            headers["Authorization"] = f"Bearer {self.settings.visioncraft_api_key}"
        try:
            response = await self.http.get(url, headers=headers, timeout=10.0)
            response.raise_for_status()
            payload = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            logger.warning("VisionCraft model list unavailable: %s", type(exc).__name__)
            return None
        if not isinstance(payload, list):
            logger.warning("VisionCraft model list is not a JSON list")
            return None
        names: list[str] = []
        for item in payload[:_MAX_MODELS]:
            name = item.get("id") or item.get("name") if isinstance(item, dict) else item
            if not isinstance(name, str):
                continue
            name = name.strip()
            # printable: no control characters or lone surrogates, which no button can carry
            if 0 < len(name) <= _MAX_NAME and name.isprintable():
                names.append(name)
        return names
