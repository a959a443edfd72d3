"""Images and GIFs for the gateway, through the bot's VisionCraft client.

The client (``bot.clients.visioncraft.ImageClient``) adds the operator's key, checks that the
answer really is an image (magic bytes) and raises the domain errors; the option lists come
from the bot's cached ``Catalogue``. This module turns those errors into API errors.
"""

from __future__ import annotations

from typing import Any

from api.errors import INVALID_REQUEST, UPSTREAM, ApiError
from bot.clients import Clients, image_client
from bot.clients.upstream import whole_seconds
from bot.clients.visioncraft import PROVIDER, ImageClient
from bot.config import Settings
from bot.services.errors import UpstreamBusy, UpstreamError, UpstreamUnavailable
from bot.services.image_errors import GenerationTimeout, UpstreamRejected
from bot.services.images import Catalogue

KINDS = ("models", "samplers", "loras")


class ImageBackend:
    def __init__(self, client: ImageClient, catalogue: Catalogue) -> None:
        self.client = client
        self.catalogue = catalogue

    @classmethod
    def create(cls, settings: Settings, clients: Clients) -> ImageBackend:
        client = clients.images or image_client(settings, clients.http)
        return cls(client, Catalogue(client))

    async def image(self, params: dict[str, Any]) -> tuple[bytes, str]:
        try:
            media = await self.client.generate_image(params)
        except UpstreamError as exc:
            raise _api_error(exc) from None
        return media.data, media.content_type

    async def gif(self, prompt: str) -> tuple[bytes, str]:
        try:
            media = await self.client.generate_gif(prompt)
        except UpstreamError as exc:
            raise _api_error(exc) from None
        return media.data, media.content_type

    async def names(self, kind: str) -> list[str]:
        try:
            return list(await self.catalogue.get(kind))
        except UpstreamError as exc:
            raise _api_error(exc) from None


def _api_error(exc: UpstreamError) -> ApiError:
    if isinstance(exc, UpstreamBusy):
        retry_in = whole_seconds(exc.params.get("retry_in"))
        return ApiError(
            503,
            f"The {PROVIDER} service is busy. Try again in {retry_in} s.",
            type=UPSTREAM,
            code="upstream_busy",
            headers={"Retry-After": str(retry_in)},
        )
    if isinstance(exc, GenerationTimeout):
        return ApiError(
            504,
            f"The {PROVIDER} service did not deliver in time. Try again later.",
            type=UPSTREAM,
            code="upstream_timeout",
        )
    if isinstance(exc, UpstreamRejected):
        return ApiError(
            400,
            f"The {PROVIDER} service rejected these parameters (check the model, sampler "
            "and loras against /sd/models, /sd/samplers and /sd/loras).",
            type=INVALID_REQUEST,
            code="upstream_rejected",
        )
    why = "is not available" if isinstance(exc, UpstreamUnavailable) else "failed"
    return ApiError(
        502,
        f"The {PROVIDER} service {why}. Try again later.",
        type=UPSTREAM,
        code="upstream_error",
    )
