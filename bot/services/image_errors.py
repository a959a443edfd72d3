"""Domain errors of image and GIF generation (texts in ``bot/texts/images.py``)."""

from __future__ import annotations

import html
from typing import Any

from bot.services.errors import DomainError, InvalidInput, UpstreamError
from bot.texts import Raw


class BadOption(InvalidInput):
    """One command-line option (or the prompt) is out of its documented range.

    ``text_key`` is chosen per option, e.g. ``images.bad.steps``; params: value (as typed).
    """

    def __init__(self, option: str, value: Any = "", **params: Any) -> None:
        super().__init__(f"bad --{option}", value=_clip(str(value)), **params)
        self.option = option
        self.text_key = f"images.bad.{option}"


class UnknownName(InvalidInput):
    """A model, sampler or lora the upstream does not offer.

    ``what`` is ``model``, ``sampler`` or ``lora``; text keys ``images.unknown.<what>`` (with
    the closest matches) and ``images.unknown.<what>_none`` (nothing close). params: name,
    matches (safe HTML: each name in <code>).
    """

    def __init__(self, what: str, name: str, matches: list[str]) -> None:
        listed = Raw(", ".join(f"<code>{html.escape(m, quote=False)}</code>" for m in matches))
        super().__init__(f"unknown {what}", name=_clip(name), matches=listed)
        self.what = what
        self.matches = matches
        self.text_key = f"images.unknown.{what}" if matches else f"images.unknown.{what}_none"


class GenerationBusy(DomainError):
    """The user already has a generation running."""

    text_key = "images.error.busy"


class GenerationTimeout(UpstreamError):
    """The upstream did not deliver within GENERATION_TIMEOUT. params: minutes."""

    text_key = "images.error.timeout"


class QueueTimeout(DomainError):
    """The request waited in the queue for longer than GENERATION_TIMEOUT. params: minutes."""

    text_key = "images.error.queue_timeout"


class UpstreamBadOutput(UpstreamError):
    """The upstream answered 200 with something that is not an image (JSON, HTML, empty)."""

    text_key = "images.error.bad_output"


class UpstreamRejected(UpstreamError):
    """The upstream refused the parameters (400/404/422)."""

    text_key = "images.error.rejected"


class CatalogueUnavailable(UpstreamError):
    """The model, sampler or lora list could not be fetched and none is cached."""

    text_key = "images.error.catalogue"


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
