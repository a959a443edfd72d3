"""``FakeBotAPI``: a local HTTP server speaking the Telegram Bot API (127.0.0.1, random port).

Point aiogram at it with::

    api = FakeBotAPI(token="123:ABC")
    async with api:
        session = AiohttpSession(api=TelegramAPIServer.from_base(api.url))
        bot = Bot("123:ABC", session=session)

All Telegram behaviour (validation, message building, chat members, files, failures, update
builders) comes from :class:`tests.fakes.emulator.TelegramEmulator`; this module adds HTTP,
call recording, long polling and webhook delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from .emulator import (
    NotEmulatedError,
    TelegramEmulator,
    Upload,
    canonical_method,
    error_payload,
    method_key,
)

__all__ = ["Call", "FakeBotAPI"]

_TEXT_KEYS = frozenset(
    {
        "text",
        "caption",
        "title",
        "description",
        "payload",
        "error_message",
        "start_parameter",
        "secret_token",
        "url",
        "query",
        "currency",
        "provider_token",
        "name",
        "short_description",
        "emoji",
        "action",
        "parse_mode",
        "language_code",
        "data",
        "file_id",
        "guest_query_id",
        "callback_query_id",
        "pre_checkout_query_id",
        "inline_message_id",
        "telegram_payment_charge_id",
        "photo",
        "animation",
        "document",
        "video",
        "audio",
        "voice",
        "sticker",
    }
)
_INT_KEYS = frozenset(
    {
        "chat_id",
        "from_chat_id",
        "user_id",
        "message_id",
        "message_thread_id",
        "direct_messages_topic_id",
        "draft_id",
        "offset",
        "limit",
        "timeout",
        "cache_time",
        "max_connections",
        "duration",
        "width",
        "height",
        "reply_to_message_id",
        "until_date",
        "total_amount",
        "star_count",
        "subscription_period",
    }
)
_FLOAT_KEYS = frozenset({"latitude", "longitude", "horizontal_accuracy"})

WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
POLLING_CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)


def decode_param(key: str, value: Any) -> Any:
    """Turn a form/query string value into what Telegram would understand it as."""
    if not isinstance(value, str) or key in _TEXT_KEYS:
        return value
    if value in ("true", "false"):
        return value == "true"
    if value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if key in _INT_KEYS:
        try:
            return int(value)
        except ValueError:
            return value
    if key in _FLOAT_KEYS:
        try:
            return float(value)
        except ValueError:
            return value
    return value


@dataclass
class Call:
    """One recorded Bot API request.

    ``params`` are decoded (ints, bools, nested JSON -> dict/list); ``files`` maps multipart
    field names to uploaded bytes (aiogram uses random field names referenced by
    ``"attach://<name>"`` - use :meth:`upload`).  ``time`` is ``time.monotonic()``.
    """

    method: str
    params: dict[str, Any]
    files: dict[str, bytes]
    token: str
    time: float
    failed: bool = False
    status: int = 200
    response: dict[str, Any] | None = None
    filenames: dict[str, str] = field(default_factory=dict)
    via: str = "http"

    def __getitem__(self, key: str) -> Any:
        return self.params[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.params.get(key, default)

    @property
    def text(self) -> str | None:
        return self.params.get("text")

    @property
    def result(self) -> Any:
        return (self.response or {}).get("result")

    @property
    def description(self) -> str | None:
        return (self.response or {}).get("description")

    def upload(self, param: str) -> bytes | None:
        """Bytes uploaded for ``param`` (resolves ``attach://`` references)."""
        value = self.params.get(param)
        if isinstance(value, str) and value.startswith("attach://"):
            return self.files.get(value[len("attach://") :])
        return self.files.get(param)


class FakeBotAPI(TelegramEmulator):
    """Fake Telegram Bot API server.  See module docstring and ``TelegramEmulator``.

    :param token: accepted bot token (others get 401 Unauthorized); ``None`` accepts any.
        The numeric prefix becomes the bot id returned by getMe.
    :param max_poll_timeout: optional extra cap (seconds) on getUpdates long polling.
    """

    def __init__(
        self,
        token: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        bot_username: str = "test_bot",
        bot_first_name: str = "Test Bot",
        bot_id: int | None = None,
        max_poll_timeout: float | None = None,
    ) -> None:
        if bot_id is None:
            prefix = (token or "").split(":", 1)[0]
            bot_id = int(prefix) if prefix.isdigit() else 42
        super().__init__(
            bot_id=bot_id,
            bot_username=bot_username,
            bot_first_name=bot_first_name,
            strict_file_ids=True,
        )
        self.token = token
        self.host = host
        self.port = port
        self.max_poll_timeout = max_poll_timeout
        self.calls: list[Call] = []
        self.pending_updates: list[dict[str, Any]] = []
        self.downloads: list[str] = []
        self.not_emulated: list[str] = []
        self.webhook_deliveries: list[tuple[dict[str, Any], int]] = []
        # True: every answer closes its connection (the client's next call opens a new one)
        self.close_connections = False
        self._runner: web.AppRunner | None = None
        self._closing = False
        self._update_event = asyncio.Event()
        self._call_event = asyncio.Event()
        self._poll_generation = 0

    # ------------------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (use with TelegramAPIServer.from_base)."""
        if self._runner is None:
            raise RuntimeError("FakeBotAPI is not started")
        return f"http://{self.host}:{self.port}"

    async def start(self) -> FakeBotAPI:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        address = self._runner.addresses[0]
        self.port = int(address[1])
        self._closing = False
        return self

    async def stop(self) -> None:
        self._closing = True
        self._wake_pollers()
        self._wake_waiters()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotAPI:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------------------- updates
    def push_update(self, update: dict[str, Any]) -> int:
        """Queue an update for getUpdates; assigns ``update_id`` if missing; returns it."""
        update = dict(update)
        if "update_id" not in update:
            update["update_id"] = self._next_update_id()
        self._last_update_id = max(self._last_update_id, int(update["update_id"]))
        self.pending_updates.append(update)
        self._wake_pollers()
        return int(update["update_id"])

    def _drop_pending_updates(self) -> None:
        self.pending_updates.clear()

    def _pending_update_count(self) -> int:
        return len(self.pending_updates)

    def _wake_pollers(self) -> None:
        self._update_event.set()
        self._update_event = asyncio.Event()

    def _wake_waiters(self) -> None:
        self._call_event.set()
        self._call_event = asyncio.Event()

    async def _get_updates(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.webhook:
            return 409, error_payload(409, WEBHOOK_CONFLICT)
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        if self.max_poll_timeout is not None:
            timeout = min(timeout, self.max_poll_timeout)
        self._poll_generation += 1
        generation = self._poll_generation
        self._wake_pollers()  # an older long poll gets "terminated by other getUpdates"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if offset > 0:
                self.pending_updates[:] = [
                    u for u in self.pending_updates if u["update_id"] >= offset
                ]
            elif offset < 0:
                self.pending_updates[:] = self.pending_updates[offset:]
            ready = self.pending_updates[:limit]
            remaining = deadline - loop.time()
            if ready or self._closing or remaining <= 0:
                return 200, {"ok": True, "result": ready}
            event = self._update_event
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)
            if generation != self._poll_generation:
                return 409, error_payload(409, POLLING_CONFLICT)

    # ------------------------------------------------------------------------------- recording
    def _record(self, call: Call) -> None:
        self.calls.append(call)
        self._wake_waiters()

    def calls_of(self, method: Any = None, *, include_failed: bool = False) -> list[Call]:
        """Recorded calls of ``method`` (name in any case or aiogram class; None = all)."""
        key = None if method is None else method_key(method)
        return [
            call
            for call in self.calls
            if (key is None or call.method.lower() == key) and (include_failed or not call.failed)
        ]

    def last(self, method: Any = None, *, include_failed: bool = False) -> Call:
        found = self.calls_of(method, include_failed=include_failed)
        if not found:
            names = [c.method for c in self.calls]
            raise AssertionError(f"no {method!r} call recorded; calls so far: {names}")
        return found[-1]

    def sent_texts(self, *, include_failed: bool = False) -> list[str]:
        """Raw texts of sendMessage / editMessageText calls, in order."""
        return [
            call.params["text"]
            for call in self.calls_of(None, include_failed=include_failed)
            if call.method.lower() in ("sendmessage", "editmessagetext") and "text" in call.params
        ]

    async def wait_for(
        self,
        method: Any = None,
        predicate: Callable[[Call], bool] | None = None,
        timeout: float = 10,  # noqa: ASYNC109 - the documented API
        count: int = 1,
        *,
        include_failed: bool = False,
    ) -> Any:
        """Wait until ``count`` matching calls were recorded (earlier calls count too).

        Returns the Call when ``count == 1``, else a list of the first ``count`` matches.
        Raises ``TimeoutError`` listing the recorded calls.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            matches = [
                c
                for c in self.calls_of(method, include_failed=include_failed)
                if predicate is None or predicate(c)
            ]
            if len(matches) >= count:
                return matches[0] if count == 1 else matches[:count]
            remaining = deadline - loop.time()
            if remaining <= 0 or self._closing:
                recorded = [(c.method, c.status) for c in self.calls if c.method != "getUpdates"]
                raise TimeoutError(
                    f"wait_for({method!r}, count={count}) timed out after {timeout}s with "
                    f"{len(matches)} match(es); recorded calls: {recorded}"
                )
            event = self._call_event
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    # -------------------------------------------------------------------------------- HTTP
    def _token_ok(self, token: str) -> bool:
        return self.token is None or token == self.token

    async def _read_request(
        self, request: web.Request
    ) -> tuple[dict[str, Any], dict[str, bytes], dict[str, str], dict[str, Upload]]:
        raw: dict[str, Any] = dict(request.query)
        files: dict[str, bytes] = {}
        filenames: dict[str, str] = {}
        uploads: dict[str, Upload] = {}
        if request.body_exists:
            content_type = request.content_type
            if content_type == "application/json":
                body = await request.json()
                if isinstance(body, dict):
                    raw.update(body)
            elif content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        data = value.file.read()
                        files[key] = data
                        filenames[key] = value.filename
                        uploads[key] = Upload(data, value.filename, value.content_type)
                    else:
                        raw[key] = value
        params = {key: decode_param(key, value) for key, value in raw.items()}
        return params, files, filenames, uploads

    def _answer(
        self, name: str, params: dict[str, Any], uploads: dict[str, Upload]
    ) -> tuple[int, dict[str, Any]]:
        override = None
        for key in (canonical_method(name), name, name.lower()):
            if key in self.responses:
                value = self.responses[key]
                override = (lambda v=value: v(params)) if callable(value) else (lambda v=value: v)
                break
        try:
            status, payload = self.emulate(name, params, uploads, override=override)
        except NotEmulatedError as exc:
            self.not_emulated.append(canonical_method(name))
            return 400, error_payload(400, f"Bad Request: {exc}")
        result = payload.get("result")
        if hasattr(result, "model_dump"):
            payload["result"] = result.model_dump(mode="json", by_alias=True, exclude_none=True)
        return status, payload

    async def _handle_method(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        name = request.match_info["method"]
        params, files, filenames, uploads = await self._read_request(request)
        call = Call(
            method=canonical_method(name),
            params=params,
            files=files,
            token=token,
            time=time.monotonic(),
            filenames=filenames,
        )
        if not self._token_ok(token):
            status, payload = 401, error_payload(401, "Unauthorized")
        elif name.lower() == "getupdates":
            failure = self._take_failure("getupdates")
            if failure is not None:
                status, payload = failure.status, failure.payload()
            else:
                status, payload = await self._get_updates(params)
        else:
            status, payload = self._answer(name, params, uploads)
        call.status = status
        call.failed = status != 200
        call.response = payload
        self._record(call)
        response = web.json_response(payload, status=status)
        if self.close_connections:
            response.force_close()
        return response

    async def _handle_file(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        path = request.match_info["path"]
        if not self._token_ok(token):
            return web.json_response(error_payload(401, "Unauthorized"), status=401)
        self.downloads.append(path)
        data = self.files.get(path)
        if data is None:
            return web.json_response(error_payload(404, "Not Found: file not found"), status=404)
        return web.Response(body=data, content_type="application/octet-stream")

    # ------------------------------------------------------------------------------- webhook
    async def deliver_webhook(
        self,
        update: dict[str, Any],
        *,
        timeout: float = 10,  # noqa: ASYNC109
    ) -> int:
        """POST ``update`` to the URL registered by setWebhook, like Telegram does.

        Sends ``X-Telegram-Bot-Api-Secret-Token`` when a secret was set.  A method returned in
        the webhook response body is executed and recorded (``Call.via == "webhook"``).
        Returns the HTTP status of the bot's answer.
        """
        if not self.webhook:
            raise RuntimeError("no webhook set (call setWebhook first)")
        if "update_id" not in update:
            update = {**update, "update_id": self._next_update_id()}
        headers = {"Content-Type": "application/json"}
        if self.webhook.get("secret_token"):
            headers["X-Telegram-Bot-Api-Secret-Token"] = str(self.webhook["secret_token"])
        client_timeout = aiohttp.ClientTimeout(total=timeout)
        async with (
            aiohttp.ClientSession(timeout=client_timeout) as client,
            client.post(self.webhook["url"], data=json.dumps(update), headers=headers) as resp,
        ):
            status = resp.status
            raw, files, filenames, uploads = await self._read_webhook_reply(resp)
        self.webhook_deliveries.append((update, status))
        if "method" in raw:
            name = str(raw.pop("method"))
            params = {key: decode_param(key, value) for key, value in raw.items()}
            call = Call(
                method=canonical_method(name),
                params=params,
                files=files,
                token=self.token or "",
                time=time.monotonic(),
                filenames=filenames,
                via="webhook",
            )
            call.status, call.response = self._answer(name, params, uploads)
            call.failed = call.status != 200
            self._record(call)
        return status

    @staticmethod
    async def _read_webhook_reply(
        resp: aiohttp.ClientResponse,
    ) -> tuple[dict[str, Any], dict[str, bytes], dict[str, str], dict[str, Upload]]:
        raw: dict[str, Any] = {}
        files: dict[str, bytes] = {}
        filenames: dict[str, str] = {}
        uploads: dict[str, Upload] = {}
        if resp.content_type == "application/json":
            body = await resp.json()
            if isinstance(body, dict):
                raw.update(body)
        elif resp.content_type == "multipart/form-data":
            reader = aiohttp.MultipartReader.from_response(resp)
            while True:
                part = await reader.next()
                if part is None:
                    break
                if not isinstance(part, aiohttp.BodyPartReader) or part.name is None:
                    continue
                if part.filename:
                    data = await part.read()
                    files[part.name] = bytes(data)
                    filenames[part.name] = part.filename
                    uploads[part.name] = Upload(bytes(data), part.filename)
                else:
                    raw[part.name] = await part.text()
        else:
            await resp.read()
        return raw, files, filenames, uploads
