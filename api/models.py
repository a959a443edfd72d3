"""Chat models as the gateway sees them: which provider serves a model, with which key.

The catalogue is the bot's (``bot.services.models.ModelCatalog``): Nebula Block serves its
documented models (only when ``NEBULA_API_KEY`` is set), VisionCraft everything else. Only
the LLaVA model takes images.
"""

from __future__ import annotations

from typing import Any, Protocol

from api.errors import ApiError
from api.upstream import Route
from bot.config import Settings

VISIONCRAFT = "visioncraft"
NEBULA = "nebula"
LABELS = {VISIONCRAFT: "VisionCraft", NEBULA: "Nebula Block"}


class Catalog(Protocol):
    """What the gateway needs of the bot's model catalogue."""

    def resolve(self, name: str) -> Any: ...  # .name, .provider

    async def models(self) -> list[Any]: ...


class ChatModels:
    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        self.settings = settings
        self.catalog = catalog
        self.routes = {
            VISIONCRAFT: Route(
                VISIONCRAFT,
                LABELS[VISIONCRAFT],
                f"{settings.visioncraft_api_url}/v1/chat/completions",
                settings.visioncraft_api_key,
            ),
            NEBULA: Route(
                NEBULA,
                LABELS[NEBULA],
                f"{settings.nebula_api_url}/chat/completions",
                settings.nebula_api_key,
            ),
        }

    @classmethod
    def create(cls, settings: Settings, db: Any, clients: Any) -> ChatModels:
        from bot.services.models import ModelCatalog

        return cls(settings, ModelCatalog(clients.http, settings, db))

    def route(self, model: str) -> Route:
        provider = self.catalog.resolve(model).provider
        if provider == NEBULA and not self.settings.nebula_api_key:
            raise ApiError(
                404,
                f"The model '{model}' is not available on this server.",
                param="model",
                code="model_not_found",
            )
        return self.routes[provider]

    def accepts_images(self, model: str) -> bool:
        return model == self.settings.vision_model or model.lower().startswith("llava")

    async def listing(self) -> list[tuple[str, str]]:
        """(name, provider) of every model on offer."""
        return [(m.name, m.provider) for m in await self.catalog.models()]
