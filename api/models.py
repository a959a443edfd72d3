"""Chat models as the gateway sees them: which provider serves a model, with which key.

The catalogue and the providers are the bot's (``bot.services.models.ModelCatalog`` and the
chat clients' ``Provider`` records): Nebula Block serves its documented models, and only when
``NEBULA_API_KEY`` is set; VisionCraft serves everything else. Only the LLaVA model takes
images.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from api.errors import ApiError
from api.upstream import Route
from bot.clients import Clients
from bot.clients.openai_compat import NEBULA, Provider
from bot.config import Settings
from bot.services.models import ModelCatalog
from storage.db import Database


class Catalog(Protocol):
    """What the gateway needs of the bot's model catalogue."""

    def resolve(self, name: str) -> Any: ...  # -> ChatModel (.name, .provider)

    @property
    def list_known(self) -> bool: ...

    async def models(self) -> list[Any]: ...


class ChatModels:
    def __init__(
        self, settings: Settings, catalog: Catalog, providers: Mapping[str, Provider]
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.routes = {
            name: Route(p.name, p.label, p.chat_url, p.api_key) for name, p in providers.items()
        }

    @classmethod
    def create(cls, settings: Settings, db: Database, clients: Clients) -> ChatModels:
        chat = clients.chat
        providers = {name: client.provider for name, client in chat.items()}
        return cls(settings, ModelCatalog(clients.http, settings, db), providers)

    def route(self, model: str) -> Route:
        provider = self.catalog.resolve(model).provider
        route = self.routes.get(provider)
        if route is None or (provider == NEBULA and not self.settings.nebula_api_key):
            raise ApiError(
                404,
                f"The model '{model}' is not available on this server.",
                param="model",
                code="model_not_found",
            )
        return route

    def accepts_images(self, model: str) -> bool:
        return model == self.settings.vision_model or model.lower().startswith("llava")

    async def listing(self) -> list[tuple[str, str]]:
        """(name, provider) of every model on offer: the catalogue's, and the vision model."""
        found = [(m.name, m.provider) for m in await self.catalog.models()]
        vision = self.settings.vision_model
        if all(name != vision for name, _ in found):
            found.append((vision, self.catalog.resolve(vision).provider))
        return found

    async def offers(self, model: str) -> bool:
        """Whether ``model`` is one of :meth:`listing`'s (the gateway forwards no other).

        While VisionCraft's list has never been read (VisionCraft unreachable since the
        start), a VisionCraft model is given the benefit of the doubt: VisionCraft itself
        answers, rather than a 404 that would blame the caller's model name.
        """
        if any(name == model for name, _ in await self.listing()):
            return True
        return not self.catalog.list_known and self.catalog.resolve(model).provider != NEBULA
