"""Domain exceptions. Services raise them; the error router (handlers/errors.py) turns each
into a friendly message in the user's language, using ``text_key`` and ``params``."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A failure the user should hear about in plain words."""

    text_key: str = "error.generic"

    def __init__(self, message: str = "", **params: Any) -> None:
        super().__init__(message or self.__class__.__name__)
        self.params = params


class QuotaExceeded(DomainError):
    """Today's quota for a kind is spent. params: kind, limit, reset_in (seconds)."""

    text_key = "error.quota"


class RateLimited(DomainError):
    """Too many requests in a short time. params: retry_in (seconds)."""

    text_key = "error.rate"


class UserBanned(DomainError):
    text_key = "error.banned"


class NotSubscribed(DomainError):
    """The user must join REQUIRED_CHANNEL first. params: channel."""

    text_key = "error.not_subscribed"


class UpstreamError(DomainError):
    """An upstream API failed. params: provider, and retry_in for 429."""

    text_key = "error.upstream"


class UpstreamUnavailable(UpstreamError):
    """The operator's upstream credentials were refused (401/403)."""

    text_key = "error.upstream_unavailable"


class UpstreamBusy(UpstreamError):
    """The upstream answered 429. params: retry_in (seconds)."""

    text_key = "error.upstream_busy"


class InvalidInput(DomainError):
    """The user's input is not acceptable. params: detail (already localised or plain)."""

    text_key = "error.invalid_input"
