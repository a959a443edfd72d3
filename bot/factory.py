"""Assembly: build the bot and the dispatcher, with no I/O.

Tests and ``__main__`` call the same two functions, so what is tested is what runs.
Long-lived objects go in as dispatcher workflow data; handlers receive them by name:
``settings``, ``db``, ``clients``, ``users``, ``quota_service``, ``inflight``; for chat
``model_catalog`` and ``chat_service`` (tests may pass their own as keyword arguments);
for images and GIFs ``cancels``, ``images``, ``generations``, ``results`` and
``image_flow``; for keys ``key_service`` and ``channel_gate`` (REQUIRED_CHANNEL's state,
None when not gated); for premium and admin ``payments``, ``admin_service``,
``broadcaster``, ``reminders``.
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode

from bot.clients import Clients, image_client
from bot.config import Settings
from bot.services.admin import AdminService
from bot.services.broadcast import Broadcaster
from bot.services.cancel import CancelRegistry
from bot.services.chat import ChatService
from bot.services.conversation import Conversation
from bot.services.documents import DocumentReader
from bot.services.generation import Generations, ResultStore
from bot.services.guest import GuestAnswers
from bot.services.image_flow import ImageFlow
from bot.services.images import Catalogue, ImageService
from bot.services.keys import KeyService
from bot.services.models import ModelCatalog
from bot.services.payments import PaymentService
from bot.services.quota import QuotaService, burst_limiter
from bot.services.reminders import Reminders
from bot.services.subscription import Channel
from bot.services.users import UserService
from handlers import get_routers
from handlers.adapters.session import ProxyFailures, TolerantAiohttpSession
from handlers.middlewares.ban import BanMiddleware
from handlers.middlewares.quota import QuotaMiddleware
from handlers.middlewares.response_types import KeepResponseTypes
from handlers.middlewares.retry import RetryAfterMiddleware
from handlers.middlewares.user import InFlight, UserMiddleware
from storage.db import Database


def create_bot(settings: Settings, session: BaseSession | None = None) -> Bot:
    """A Bot that talks to ``TELEGRAM_API_URL`` (API calls and file downloads), through the
    proxy of the environment when there is one (``Settings.telegram_proxy``)."""
    if session is None:
        session = TolerantAiohttpSession(
            api=TelegramAPIServer.from_base(settings.telegram_api_url),
            proxy=settings.telegram_proxy,
        )
    session.middleware(KeepResponseTypes())
    session.middleware(RetryAfterMiddleware())
    session.middleware(ProxyFailures())
    return Bot(
        token=settings.bot_token,
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )


def create_dispatcher(
    settings: Settings, db: Database, clients: Clients, **extra: Any
) -> Dispatcher:
    users = UserService(db)
    # shared_limits: REDIS_URL's limits (bot.shared_limits), kept in the workflow data too.
    quota_service = QuotaService(db, settings.limits, burst_limiter(extra.get("shared_limits")))
    inflight = InFlight()
    # chat
    model_catalog = extra.pop("model_catalog", None) or ModelCatalog(clients.http, settings, db)
    chat_service = extra.pop("chat_service", None) or ChatService(
        catalog=model_catalog,
        clients=clients.chat,
        conversation=Conversation(
            db,
            system_prompt=settings.system_prompt,
            max_messages=settings.chat_history_messages,
            max_chars=settings.chat_history_chars,
        ),
        max_tokens=settings.chat_max_tokens,
        documents=DocumentReader(max_chars=settings.document_max_chars),
        rich=settings.rich_messages,
        personas=settings.personas,
    )
    # images and GIFs
    if clients.images is None:
        clients.images = image_client(settings, clients.http)
    cancels = CancelRegistry()
    images = ImageService(db, Catalogue(clients.images), settings.image_model)
    generations = Generations(
        quota_service,
        cancels,
        concurrency=settings.generation_concurrency,
        timeout=settings.generation_timeout,
    )
    results = ResultStore()
    key_service = KeyService(db)
    channel_gate = Channel.from_setting(settings.required_channel)
    # Premium and admin services; tests may pass their own under the same names.
    services: dict[str, Any] = {
        "payments": PaymentService(db, settings),
        "admin_service": AdminService(db),
        "broadcaster": Broadcaster(db),
        "reminders": Reminders(db),
    }
    services.update(extra)
    dp = Dispatcher(
        # No handler uses aiogram's FSM (states live in SQLite); without it no update pays
        # for a state lookup. Remove this line before adding a handler with ``state``.
        disable_fsm=True,
        settings=settings,
        db=db,
        clients=clients,
        users=users,
        quota_service=quota_service,
        inflight=inflight,
        model_catalog=model_catalog,
        chat_service=chat_service,
        guest_answers=GuestAnswers(chat_service),
        cancels=cancels,
        images=images,
        generations=generations,
        results=results,
        image_flow=ImageFlow(generations, results),
        key_service=key_service,
        channel_gate=channel_gate,
        **services,
    )
    # Registered before bot.app's on_shutdown: waits still running at shutdown end now, their
    # units are given back and their users told, instead of being cut off later.
    dp.shutdown.register(_stop_long_waits)
    dp.update.outer_middleware(UserMiddleware(users, inflight))
    dp.update.outer_middleware(BanMiddleware(settings.admin_ids))
    quota_mw = QuotaMiddleware(quota_service, admit=chat_service.admit)
    dp.message.middleware(quota_mw)
    dp.callback_query.middleware(quota_mw)
    dp.guest_message.middleware(quota_mw)
    dp.include_routers(*get_routers())
    return dp


async def _stop_long_waits(cancels: CancelRegistry) -> None:
    cancels.cancel_all()
