"""Shared in-memory Telegram state used by both ``RecordingSession`` and ``FakeBotAPI``.

``TelegramEmulator.emulate(name, params, uploads)`` takes a Bot API call in *wire form*
(method name in any case, params with nested objects already decoded to dicts/lists) and
returns ``(http_status, json_payload)`` exactly as Telegram would answer.  Both fakes mix
this class in, so chat members, files, injected failures, update builders, etc. behave the
same in-process and over HTTP.
"""

from __future__ import annotations

import copy
import itertools
import json
import mimetypes
import re
import struct
import time
import types
import typing
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiogram.methods as _aiogram_methods
import aiogram.types as _aiogram_types
from aiogram.types import Message

from . import telegram_rules as rules

# --------------------------------------------------------------------------------------------
# aiogram method registry: lowercase name -> (canonical name, return type)
# --------------------------------------------------------------------------------------------


def _collect_methods() -> dict[str, tuple[str, Any]]:
    found: dict[str, tuple[str, Any]] = {}
    for attr in dir(_aiogram_methods):
        cls = getattr(_aiogram_methods, attr)
        api_name = getattr(cls, "__api_method__", None) if isinstance(cls, type) else None
        if isinstance(api_name, str):
            found[api_name.lower()] = (api_name, cls.__returning__)
    return found


KNOWN_METHODS: dict[str, tuple[str, Any]] = _collect_methods()


def canonical_method(name: str) -> str:
    """``"SENDMESSAGE"`` -> ``"sendMessage"`` (unknown names are returned unchanged)."""
    return KNOWN_METHODS.get(name.lower(), (name, None))[0]


def method_key(method: Any) -> str:
    """Lowercase API name for a method name, a TelegramMethod class or instance."""
    if isinstance(method, str):
        return method.lower()
    api_name = getattr(method, "__api_method__", None)
    if isinstance(api_name, str):
        return api_name.lower()
    raise TypeError(f"expected a method name or aiogram method class, got {method!r}")


def _return_kind(returning: Any) -> str:
    if returning is bool:
        return "bool"
    if returning is Message:
        return "message"
    origin = typing.get_origin(returning)
    args = typing.get_args(returning)
    if origin in (types.UnionType, typing.Union) and Message in args:
        return "message_or_bool"
    if origin is list and args and args[0] is Message:
        return "messages"
    return "other"


# --------------------------------------------------------------------------------------------
# errors / helpers
# --------------------------------------------------------------------------------------------

DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: injected failure",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: (
        "Conflict: terminated by other getUpdates request; "
        "make sure that only one bot instance is running"
    ),
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
METHOD_NOT_FOUND = "Not Found: method not found"
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
MAX_DOWNLOAD_SIZE = 20 * 1024 * 1024


class TelegramError(Exception):
    """Internal: an API-level refusal (converted to a JSON error payload)."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


class NotEmulatedError(NotImplementedError):
    """A real Bot API method the fake has no canned answer for (set ``responses[...]``)."""


def error_payload(status: int, description: str, retry_after: int | None = None) -> dict:
    return TelegramError(status, description, retry_after).payload()


@dataclass
class Upload:
    """A file part of a multipart request (or an aiogram InputFile in the session)."""

    data: bytes
    filename: str | None = None
    content_type: str | None = None


@dataclass
class InjectedFailure:
    status: int
    description: str
    retry_after: int | None
    remaining: int


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    return None


def _as_int(value: Any) -> Any:
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        return int(value)
    return value


def _markup(value: Any) -> dict | None:
    if isinstance(value, dict) and "inline_keyboard" in value:
        return value
    return None


_CAPTION_METHODS = frozenset(
    {
        "sendphoto",
        "sendanimation",
        "senddocument",
        "sendvideo",
        "sendaudio",
        "sendvoice",
        "sendpaidmedia",
        "editmessagecaption",
        "copymessage",
    }
)
_CHAT_BOUND_PREFIXES = ("send", "edit", "copy", "forward")

_MEDIA_FIELDS = {
    "sendphoto": "photo",
    "sendanimation": "animation",
    "senddocument": "document",
    "sendvideo": "video",
    "sendaudio": "audio",
    "sendvoice": "voice",
    "sendsticker": "sticker",
    "sendvideonote": "video_note",
}
_MEDIA_FOLDERS = {
    "photo": ("photos", ".jpg"),
    "animation": ("animations", ".mp4"),
    "document": ("documents", ""),
    "video": ("videos", ".mp4"),
    "audio": ("music", ".mp3"),
    "voice": ("voice", ".oga"),
    "sticker": ("stickers", ".webp"),
    "video_note": ("video_notes", ".mp4"),
}

_MEMBER_CLASSES = {
    "creator": _aiogram_types.ChatMemberOwner,
    "administrator": _aiogram_types.ChatMemberAdministrator,
    "member": _aiogram_types.ChatMemberMember,
    "restricted": _aiogram_types.ChatMemberRestricted,
    "left": _aiogram_types.ChatMemberLeft,
    "kicked": _aiogram_types.ChatMemberBanned,
}


def member_dict(status: str, user: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A complete ChatMember JSON object for ``status`` (all required flags filled in)."""
    if status not in _MEMBER_CLASSES:
        raise ValueError(f"unknown chat member status {status!r}")
    member: dict[str, Any] = {"status": status, "user": user}
    cls = _MEMBER_CLASSES[status]
    for name, info in cls.model_fields.items():
        if name in member or name in fields or not info.is_required():
            continue
        if name == "until_date":
            member[name] = 0
        elif name == "is_member":
            member[name] = True
        elif name in ("is_anonymous", "can_be_edited", "can_promote_members"):
            member[name] = False
        elif name.startswith("can_"):
            member[name] = status == "administrator"
        else:  # pragma: no cover - future aiogram fields
            member[name] = False
    member.update(fields)
    return member


# --------------------------------------------------------------------------------------------
# the emulator
# --------------------------------------------------------------------------------------------


class TelegramEmulator:
    """State + behaviour of a fake Telegram Bot API.  Mixed into both fakes.

    Public attributes (all plain dicts/sets, mutate them freely in tests):

    * ``bot_user`` – the bot's User dict returned by getMe / used as ``from`` of bot messages.
    * ``chat_members[(chat_id, user_id)] = "member" | {"status": ..., ...}``
      (chat_id may be an int or an ``"@name"`` string); default status ``"left"``.
    * ``chat_member_errors[chat_id] = "Bad Request: member list is inaccessible"`` – getChatMember
      in that chat fails (status 403 if the description starts with "Forbidden", else 400).
    * ``chats[chat_id] = {...}`` – overrides merged into getChat results and message chats.
    * ``users[user_id] = {...}`` – User dicts (filled by the update builders).
    * ``files[file_path] = bytes`` and ``file_ids[file_id] = file_path`` (see ``add_file``).
    * ``messages[(chat_id, message_id)]`` – every message sent by / built for the bot.
    * ``blocked_chats`` – set of chat ids; sending there -> 403 "bot was blocked by the user".
    * ``commands[(scope_json, language_code)]`` – stored by setMyCommands.
    * ``refunded_charges`` – telegram_payment_charge_ids already refunded.
    * ``invoice_links[url]`` – what createInvoiceLink was given (payload, currency, amount,
      subscription_period).
    * ``star_subscriptions[charge_id] = {"user_id", "payload", "canceled_by"}`` – Stars
      subscriptions, registered by a first recurring payment (``make_successful_payment``
      with ``is_first_recurring=True``); ``canceled_by`` is None, "user" or "bot".
    * ``webhook`` – ``None`` or ``{"url", "secret_token", ...}`` stored by setWebhook.
    * ``responses[method] = value | callable`` – canned results for methods the emulator does
      not know (keys: aiogram method class or API method name).
    """

    def __init__(
        self,
        *,
        bot_id: int = 42,
        bot_username: str = "test_bot",
        bot_first_name: str = "Test Bot",
        strict_file_ids: bool = True,
    ) -> None:
        self.bot_user: dict[str, Any] = {
            "id": bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "supports_guest_queries": True,
        }
        self.strict_file_ids = strict_file_ids
        self.chat_members: dict[tuple[Any, int], Any] = {}
        self.chat_member_errors: dict[Any, str] = {}
        self.chats: dict[Any, dict[str, Any]] = {}
        self.users: dict[int, dict[str, Any]] = {}
        self.files: dict[str, bytes] = {}
        self.file_ids: dict[str, str] = {}
        self.file_sizes: dict[str, int] = {}
        self.file_unique_ids: dict[str, str] = {}
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.deleted_messages: set[tuple[int, int]] = set()
        self.blocked_chats: set[Any] = set()
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.refunded_charges: set[str] = set()
        # guest_query_id -> the result it was answered with (None: not answered yet)
        self.guest_queries: dict[str, dict[str, Any] | None] = {}
        self.invoice_links: dict[str, dict[str, Any]] = {}
        self.star_subscriptions: dict[str, dict[str, Any]] = {}
        self.webhook: dict[str, Any] | None = None
        # Topics of private chats (``bot_user["has_topics_enabled"] = True`` turns them on):
        # (chat_id, message_thread_id) -> {"name", "deleted"}; see ``make_topic``.
        self.topics: dict[tuple[int, int], dict[str, Any]] = {}
        self._topic_counter = itertools.count(1000)
        # sendRichMessageDraft calls accepted, in order (chat_id, draft_id, rich_message)
        self.rich_drafts: list[dict[str, Any]] = []
        self.responses: dict[Any, Any] = {}
        self._failures: dict[str, deque[InjectedFailure]] = {}
        self._message_ids: dict[int, int] = {}
        self._username_ids: dict[str, int] = {}
        self._last_update_id = 0
        self._file_counter = itertools.count(1)
        self._query_counter = itertools.count(1)
        self._invoice_counter = itertools.count(1)

    # ---------------------------------------------------------------------------- configuration
    @property
    def bot_id(self) -> int:
        return int(self.bot_user["id"])

    def add_file(
        self,
        file_id: str,
        data: bytes,
        file_path: str | None = None,
        *,
        file_size: int | None = None,
    ) -> str:
        """Register downloadable bytes for getFile + file download; returns the file_path.

        ``file_size`` overrides the size reported by getFile (e.g. to test the 20 MB limit).
        """
        if file_path is None:
            file_path = f"photos/{file_id}.jpg"
        self.files[file_path] = data
        self.file_ids[file_id] = file_path
        if file_size is not None:
            self.file_sizes[file_id] = file_size
        return file_path

    def fail_next(
        self,
        method: Any,
        times: int = 1,
        retry_after: int | None = None,
        *,
        status: int | None = None,
        description: str | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail.

        ``method`` is an API name (any case), an aiogram method class, or ``"*"`` for any
        method.  ``retry_after`` -> 429 "Too Many Requests: retry after N" with
        ``parameters.retry_after``; otherwise ``status`` (default 400) with ``description``
        (a Telegram-like default per status).  Queued failures are consumed in order.
        """
        if retry_after is not None:
            status = status or 429
            description = description or f"Too Many Requests: retry after {retry_after}"
        else:
            status = status or 400
            if status == 429:
                retry_after = 1
                description = description or "Too Many Requests: retry after 1"
            description = description or DEFAULT_DESCRIPTIONS.get(status, f"Error {status}")
        key = "*" if method == "*" else method_key(method)
        failure = InjectedFailure(status, description, retry_after, times)
        self._failures.setdefault(key, deque()).append(failure)

    def clear_failures(self) -> None:
        self._failures.clear()

    def _take_failure(self, key: str) -> TelegramError | None:
        for candidate in (key, "*"):
            queue = self._failures.get(candidate)
            if not queue:
                continue
            failure = queue[0]
            failure.remaining -= 1
            if failure.remaining <= 0:
                queue.popleft()
            return TelegramError(failure.status, failure.description, failure.retry_after)
        return None

    # ------------------------------------------------------------------------------- chat utils
    def _chat_key(self, chat_id: Any) -> Any:
        chat_id = _as_int(chat_id)
        return chat_id

    def resolve_chat_id(self, chat_id: Any) -> int:
        """Numeric id for a chat id or ``"@name"`` (stable fake id for usernames)."""
        key = self._chat_key(chat_id)
        if isinstance(key, int):
            return key
        override = self.chats.get(key)
        if override and isinstance(override.get("id"), int):
            return override["id"]
        if key not in self._username_ids:
            self._username_ids[key] = -1001000000000 - len(self._username_ids) - 1
        return self._username_ids[key]

    def chat_object(self, chat_id: Any, chat_type: str | None = None) -> dict[str, Any]:
        """A Chat JSON object (private for positive ids, supergroup for negative)."""
        key = self._chat_key(chat_id)
        numeric = self.resolve_chat_id(key)
        chat: dict[str, Any]
        if isinstance(key, str):
            name = key.lstrip("@")
            chat = {"id": numeric, "type": "supergroup", "title": name, "username": name}
        elif numeric > 0 and chat_type in (None, "private"):
            user = self.users.get(numeric, {})
            chat = {"id": numeric, "type": "private", "first_name": user.get("first_name", "User")}
            for field in ("last_name", "username"):
                if user.get(field):
                    chat[field] = user[field]
        else:
            chat = {"id": numeric, "type": chat_type or "supergroup", "title": "Test Group"}
        override = self.chats.get(key) or self.chats.get(numeric) or {}
        for field in ("type", "title", "username", "first_name", "last_name", "is_forum"):
            if field in override:
                chat[field] = override[field]
        return chat

    def next_message_id(self, chat_id: Any) -> int:
        numeric = self.resolve_chat_id(chat_id)
        value = self._message_ids.get(numeric, 0) + 1
        self._message_ids[numeric] = value
        return value

    def _bump_message_id(self, chat_id: int, message_id: int) -> None:
        if message_id > self._message_ids.get(chat_id, 0):
            self._message_ids[chat_id] = message_id

    def _new_file_id(self, kind: str) -> tuple[str, str]:
        number = next(self._file_counter)
        return f"fake-{kind}-{number:05d}", f"fu{kind[:2]}{number:05d}"

    def _store_upload(self, kind: str, upload: Upload) -> tuple[str, str, str]:
        file_id, unique_id = self._new_file_id(kind)
        folder, ext = _MEDIA_FOLDERS.get(kind, ("documents", ""))
        if upload.filename and "." in upload.filename and kind == "document":
            ext = "." + upload.filename.rsplit(".", 1)[1]
        path = f"{folder}/file_{file_id.rsplit('-', 1)[1]}{ext}"
        self.files[path] = upload.data
        self.file_ids[file_id] = path
        self.file_unique_ids[file_id] = unique_id
        return file_id, unique_id, path

    # ------------------------------------------------------------------------------- validation
    def validate(self, key: str, params: dict[str, Any]) -> TelegramError | None:
        """Telegram-side input validation shared by all fakes (no state changes)."""
        if key.startswith(_CHAT_BOUND_PREFIXES) or key == "sendchataction":
            chat_id = self._chat_key(params.get("chat_id"))
            if chat_id is not None and chat_id in self.blocked_chats:
                return TelegramError(403, "Forbidden: bot was blocked by the user")
        problem: str | None = None
        thread = params.get("message_thread_id")
        if thread and key.startswith(("send", "edit")) and key != "sendchataction":
            problem = self._check_thread(params.get("chat_id"), thread)
            if problem is not None:
                return TelegramError(400, problem)
        if key in ("sendrichmessage", "sendrichmessagedraft") or (
            key == "editmessagetext" and params.get("rich_message") is not None
        ):
            problem = rules.check_rich_message(
                params.get("rich_message"), draft=key == "sendrichmessagedraft"
            )
        elif key in ("sendmessage", "editmessagetext", "sendmessagedraft"):
            mode = None if params.get("entities") else params.get("parse_mode")
            problem = rules.check_text(
                params.get("text"), mode, allow_empty=key == "sendmessagedraft"
            )
        elif key in _CAPTION_METHODS:
            mode = None if params.get("caption_entities") else params.get("parse_mode")
            problem = rules.check_caption(params.get("caption"), mode)
        elif key == "sendmediagroup":
            for item in params.get("media") or []:
                if isinstance(item, dict):
                    mode = None if item.get("caption_entities") else item.get("parse_mode")
                    problem = problem or rules.check_caption(item.get("caption"), mode)
        elif key == "sendchataction":
            if params.get("action") not in CHAT_ACTIONS:
                problem = "Bad Request: wrong parameter action in request"
        elif key == "answerguestquery":
            problem = rules.check_guest_answer(params.get("result"))
        elif key == "setmycommands":
            problem = rules.check_bot_commands(params.get("commands"))
        elif key == "setwebhook":
            secret = params.get("secret_token")
            if secret and not _SECRET_RE.match(str(secret)):
                problem = "Bad Request: secret token contains unallowed characters"
        if problem is None and "reply_markup" in params:
            problem = rules.check_reply_markup(params.get("reply_markup"))
        if problem is not None:
            return TelegramError(400, problem)
        return None

    def _check_thread(self, chat_id: Any, thread: Any) -> str | None:
        """A private chat's topic must exist (groups' threads are not emulated)."""
        chat = self._chat_key(chat_id)
        if not isinstance(chat, int) or chat < 0:
            return None
        topic = self.topics.get((chat, int(thread)))
        if topic is None or topic["deleted"]:
            return "Bad Request: message thread not found"
        return None

    def make_topic(self, chat_id: int, name: str) -> int:
        """A topic of a private chat (created by the user or the bot): its thread id."""
        thread = next(self._topic_counter)
        self.topics[(chat_id, thread)] = {"name": name, "deleted": False}
        return thread

    def delete_topic(self, chat_id: int, thread: int) -> None:
        """The user deleted the topic: sends into it fail from now on."""
        self.topics[(chat_id, thread)]["deleted"] = True

    def _h_create_forum_topic(self, key: str, params: dict, uploads: dict) -> Any:
        chat = self.resolve_chat_id(params.get("chat_id"))
        name = str(params.get("name") or "")
        if chat > 0 and not self.bot_user.get("has_topics_enabled"):
            raise TelegramError(400, "Bad Request: the chat is not a forum")
        if not 1 <= len(name) <= 128:
            raise TelegramError(400, "Bad Request: TOPIC_TITLE_INVALID")
        thread = self.make_topic(chat, name)
        return {"message_thread_id": thread, "name": name, "icon_color": 7322096}

    def _h_edit_forum_topic(self, key: str, params: dict, uploads: dict) -> Any:
        chat = self.resolve_chat_id(params.get("chat_id"))
        thread = int(_as_int(params.get("message_thread_id") or 0))
        topic = self.topics.get((chat, thread))
        if topic is None or topic["deleted"]:
            raise TelegramError(400, "Bad Request: message thread not found")
        name = params.get("name")
        if name is not None:
            if not 1 <= len(str(name)) <= 128:
                raise TelegramError(400, "Bad Request: TOPIC_TITLE_INVALID")
            if str(name) == topic["name"]:
                raise TelegramError(400, "Bad Request: TOPIC_NOT_MODIFIED")
            topic["name"] = str(name)
        return True

    def _h_delete_forum_topic(self, key: str, params: dict, uploads: dict) -> Any:
        chat = self.resolve_chat_id(params.get("chat_id"))
        thread = int(_as_int(params.get("message_thread_id") or 0))
        if (chat, thread) not in self.topics:
            raise TelegramError(400, "Bad Request: message thread not found")
        self.delete_topic(chat, thread)
        return True

    def _h_send_rich_draft(self, key: str, params: dict, uploads: dict) -> Any:
        self.rich_drafts.append(dict(params))
        return True

    # -------------------------------------------------------------------------------- dispatch
    def emulate(
        self,
        name: str,
        params: dict[str, Any],
        uploads: dict[str, Upload] | None = None,
        *,
        override: Callable[[], Any] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """Answer one API call: ``(http_status, {"ok": ..., ...})``.

        ``override``: zero-arg callable producing a canned result (used for
        ``responses[...]``); it is consulted after failure injection and validation.
        """
        key = name.lower()
        uploads = uploads or {}
        try:
            failure = self._take_failure(key)
            if failure is not None:
                raise failure
            if key not in KNOWN_METHODS and key not in self._HANDLERS and override is None:
                raise TelegramError(404, METHOD_NOT_FOUND)
            problem = self.validate(key, params)
            if problem is not None:
                raise problem
            if override is not None:
                return 200, {"ok": True, "result": override()}
            handler = self._HANDLERS.get(key)
            if handler is not None:
                result = handler(self, key, params, uploads)
            else:
                result = self._generic(key, params, uploads)
        except TelegramError as exc:
            return exc.status, exc.payload()
        return 200, {"ok": True, "result": result}

    def _generic(self, key: str, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        canonical, returning = KNOWN_METHODS[key]
        kind = _return_kind(returning)
        if kind == "bool":
            return True
        if kind == "message" or (kind == "message_or_bool" and not params.get("inline_message_id")):
            if key.startswith("edit"):
                return self._edit(key, params, uploads)
            return self._send(key, params, uploads)
        if kind == "message_or_bool":
            return True
        raise NotEmulatedError(
            f"{canonical} is not emulated by the fake Telegram; set "
            f"responses[{canonical!r}] (or responses[<aiogram method class>]) to a result value "
            "or a callable"
        )

    # ----------------------------------------------------------------------- message building
    def _base_message(self, chat_id: Any, message_id: int | None = None) -> dict[str, Any]:
        chat = self.chat_object(chat_id)
        if message_id is None:
            message_id = self.next_message_id(chat["id"])
        else:
            self._bump_message_id(chat["id"], message_id)
        message: dict[str, Any] = {"message_id": message_id, "date": int(time.time())}
        if chat["type"] == "channel":
            message["sender_chat"] = chat
        else:
            message["from"] = dict(self.bot_user)
        message["chat"] = chat
        return message

    def _media_object(
        self, kind: str, params: dict[str, Any], uploads: dict[str, Upload]
    ) -> dict[str, Any] | list[dict[str, Any]] | None:
        value = params.get(kind)
        upload: Upload | None = None
        if isinstance(value, str) and value.startswith("attach://"):
            upload = uploads.get(value[len("attach://") :])
        elif kind in uploads and not isinstance(value, str):
            upload = uploads[kind]
        if upload is None and not isinstance(value, str):
            return None
        if upload is not None:
            file_id, unique_id, _path = self._store_upload(kind, upload)
            size = len(upload.data)
            filename = upload.filename
            dims = _png_size(upload.data)
        else:
            file_id = str(value)
            if file_id.startswith(("http://", "https://")):
                file_id, unique_id = self._new_file_id(kind)
            else:
                unique_id = "fu" + re.sub(r"[^A-Za-z0-9]", "", file_id)[-12:]
            path = self.file_ids.get(file_id)
            size = len(self.files.get(path, b"")) if path else 2048
            filename = None
            dims = None
        width, height = dims or (640, 480)
        if kind == "photo":
            big = max(width, height)
            scales = [scale for scale in (90, 320) if scale < big] + [big]
            sizes = []
            for index, scale in enumerate(scales):
                factor = scale / big
                last = index == len(scales) - 1
                size_id = file_id if last else f"{file_id}-s{index}"
                if not last and file_id in self.file_ids:
                    self.file_ids.setdefault(size_id, self.file_ids[file_id])
                sizes.append(
                    {
                        "file_id": size_id,
                        "file_unique_id": unique_id if last else f"{unique_id}s{index}",
                        "width": max(1, round(width * factor)),
                        "height": max(1, round(height * factor)),
                        "file_size": size if last else max(1, round(size * factor * factor)),
                    }
                )
            return sizes
        media: dict[str, Any] = {"file_id": file_id, "file_unique_id": unique_id}
        if size:
            media["file_size"] = size
        if kind in ("animation", "video", "video_note"):
            media.update({"width": width, "height": height, "duration": params.get("duration", 3)})
            if kind == "video_note":
                media = {k: v for k, v in media.items() if k not in ("width", "height")}
                media["length"] = width
        if kind in ("audio", "voice"):
            media["duration"] = params.get("duration", 3)
        if kind == "sticker":
            media.update(
                {
                    "type": "regular",
                    "width": 512,
                    "height": 512,
                    "is_animated": False,
                    "is_video": False,
                }
            )
        if kind in ("animation", "document", "video", "audio"):
            name = filename or f"{kind}{_MEDIA_FOLDERS[kind][1] or '.bin'}"
            media["file_name"] = name
            media["mime_type"] = (
                "video/mp4"
                if kind in ("animation", "video")
                else (mimetypes.guess_type(name)[0] or "application/octet-stream")
            )
        return media

    def _apply_text(
        self, message: dict[str, Any], params: dict[str, Any], field: str, entities_field: str
    ) -> None:
        raw = params.get(field)
        message.pop(field, None)
        message.pop(entities_field, None)
        if raw is None or raw == "":
            return
        explicit = params.get(entities_field)
        parsed = rules.parse_text(str(raw), None if explicit else params.get("parse_mode"))
        message[field] = parsed.text
        entities = explicit or parsed.entities
        if entities:
            message[entities_field] = entities

    def _auto_entities(self, message: dict[str, Any]) -> None:
        text = message.get("text")
        if not text or "entities" in message:
            return
        entities = []
        for match in re.finditer(r"(?:(?<=\s)|^)/[A-Za-z0-9_]+(?:@[A-Za-z0-9_]+)?", text):
            if match.start() == 0:
                entities.append(
                    {
                        "type": "bot_command",
                        "offset": 0,
                        "length": rules.utf16_len(match.group(0)),
                    }
                )
        if entities:
            message["entities"] = entities

    def _attach_reply(self, message: dict[str, Any], params: dict[str, Any]) -> None:
        reply_to = params.get("reply_to_message_id")
        reply_parameters = params.get("reply_parameters")
        if isinstance(reply_parameters, dict):
            reply_to = reply_parameters.get("message_id", reply_to)
        if reply_to is None:
            return
        original = self.messages.get((message["chat"]["id"], int(reply_to)))
        if original is not None:
            reply = {k: v for k, v in original.items() if k != "reply_to_message"}
            message["reply_to_message"] = reply

    def _send(self, key: str, params: dict[str, Any], uploads: dict[str, Upload]) -> dict:
        message = self._base_message(params.get("chat_id"))
        if params.get("message_thread_id"):
            message["message_thread_id"] = params["message_thread_id"]
            message["is_topic_message"] = True
        if key == "sendmessage":
            self._apply_text(message, params, "text", "entities")
        if key == "sendrichmessage":
            message["rich_message"] = {
                "blocks": copy.deepcopy(params["rich_message"].get("blocks") or [])
            }
        if "caption" in params:
            self._apply_text(message, params, "caption", "caption_entities")
        kind = _MEDIA_FIELDS.get(key)
        if kind is not None:
            media = self._media_object(kind, params, uploads)
            if media is not None:
                message[kind] = media
                if kind == "animation":
                    message["document"] = {
                        k: v
                        for k, v in media.items()  # type: ignore[union-attr]
                        if k in ("file_id", "file_unique_id", "file_name", "mime_type", "file_size")
                    }
        if key == "sendinvoice":
            prices = params.get("prices") or []
            message["invoice"] = {
                "title": params.get("title", ""),
                "description": params.get("description", ""),
                "start_parameter": params.get("start_parameter", ""),
                "currency": params.get("currency", "XTR"),
                "total_amount": sum(int(p.get("amount", 0)) for p in prices),
            }
        if key == "senddice":
            message["dice"] = {"emoji": params.get("emoji", "🎲"), "value": 1}
        if key == "sendlocation":
            message["location"] = {
                "latitude": float(params.get("latitude", 0)),
                "longitude": float(params.get("longitude", 0)),
            }
        markup = _markup(params.get("reply_markup"))
        if markup is not None:
            message["reply_markup"] = markup
        self._attach_reply(message, params)
        self.messages[(message["chat"]["id"], message["message_id"])] = message
        return copy.deepcopy(message)

    def _edit(self, key: str, params: dict[str, Any], uploads: dict[str, Upload]) -> dict:
        chat_id = self.resolve_chat_id(params.get("chat_id"))
        message_id = int(_as_int(params.get("message_id") or 0))
        if not message_id:
            raise TelegramError(400, "Bad Request: message identifier is not specified")
        if (chat_id, message_id) in self.deleted_messages:
            raise TelegramError(400, "Bad Request: message to edit not found")
        old = self.messages.get((chat_id, message_id))
        if old is not None and "from" in old and old["from"].get("id") != self.bot_id:
            raise TelegramError(400, "Bad Request: message can't be edited")
        if old is None:
            message = self._base_message(params.get("chat_id"), message_id)
        else:
            message = copy.deepcopy(old)
        if key == "editmessagetext" and params.get("rich_message") is not None:
            if old is not None and "rich_message" not in old:
                raise TelegramError(400, "Bad Request: there is no rich message to edit")
            message["rich_message"] = {
                "blocks": copy.deepcopy(params["rich_message"].get("blocks") or [])
            }
            if (
                old is not None
                and old.get("rich_message") == message["rich_message"]
                and old.get("reply_markup") == _markup(params.get("reply_markup"))
            ):
                raise TelegramError(400, NOT_MODIFIED)
        elif key == "editmessagetext":
            if old is not None and "text" not in old:
                raise TelegramError(400, "Bad Request: there is no text in the message to edit")
            self._apply_text(message, params, "text", "entities")
        elif key == "editmessagecaption":
            if old is not None and "text" in old:
                raise TelegramError(400, "Bad Request: there is no caption in the message to edit")
            self._apply_text(message, params, "caption", "caption_entities")
        elif key == "editmessagemedia":
            media = params.get("media") or {}
            if isinstance(media, dict) and media.get("type"):
                kind = str(media["type"])
                obj = self._media_object(kind, {kind: media.get("media")}, uploads)
                if obj is not None:
                    for field in _MEDIA_FOLDERS:
                        message.pop(field, None)
                    message[kind] = obj
                self._apply_text(message, media, "caption", "caption_entities")
        markup = _markup(params.get("reply_markup"))
        message.pop("reply_markup", None)
        if markup is not None:
            message["reply_markup"] = markup
        if old is not None and key != "editmessagemedia":
            fields = (
                "text",
                "entities",
                "caption",
                "caption_entities",
                "reply_markup",
                "rich_message",
            )
            if all(old.get(f) == message.get(f) for f in fields):
                raise TelegramError(400, NOT_MODIFIED)
        message["edit_date"] = int(time.time())
        self.messages[(chat_id, message_id)] = message
        return copy.deepcopy(message)

    # -------------------------------------------------------------------------------- handlers
    def _h_get_me(self, key: str, params: dict, uploads: dict) -> Any:
        return dict(self.bot_user)

    def _h_get_updates(self, key: str, params: dict, uploads: dict) -> Any:
        return []

    def _h_set_webhook(self, key: str, params: dict, uploads: dict) -> Any:
        url = params.get("url") or ""
        if not url:
            self.webhook = None
        else:
            self.webhook = {
                "url": url,
                "secret_token": params.get("secret_token"),
                "allowed_updates": params.get("allowed_updates"),
                "max_connections": params.get("max_connections", 40),
                "ip_address": params.get("ip_address"),
                "drop_pending_updates": bool(params.get("drop_pending_updates")),
            }
        if params.get("drop_pending_updates"):
            self._drop_pending_updates()
        return True

    def _h_delete_webhook(self, key: str, params: dict, uploads: dict) -> Any:
        self.webhook = None
        if params.get("drop_pending_updates"):
            self._drop_pending_updates()
        return True

    def _h_get_webhook_info(self, key: str, params: dict, uploads: dict) -> Any:
        info: dict[str, Any] = {
            "url": (self.webhook or {}).get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": self._pending_update_count(),
        }
        if self.webhook:
            info["max_connections"] = self.webhook.get("max_connections") or 40
            if self.webhook.get("allowed_updates"):
                info["allowed_updates"] = self.webhook["allowed_updates"]
        return info

    def _drop_pending_updates(self) -> None:
        """Overridden by FakeBotAPI (which owns an update queue)."""

    def _pending_update_count(self) -> int:
        return 0

    def _h_send(self, key: str, params: dict, uploads: dict) -> Any:
        return self._send(key, params, uploads)

    def _h_edit(self, key: str, params: dict, uploads: dict) -> Any:
        if params.get("inline_message_id"):
            return True
        return self._edit(key, params, uploads)

    def _h_send_media_group(self, key: str, params: dict, uploads: dict) -> Any:
        media = params.get("media") or []
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise TelegramError(400, "Bad Request: wrong number of media items")
        group_id = str(next(self._file_counter) + 10_000_000)
        result = []
        for item in media:
            kind = str(item.get("type", "photo"))
            item_params = {**item, "chat_id": params.get("chat_id"), kind: item.get("media")}
            send_key = {v: k for k, v in _MEDIA_FIELDS.items()}.get(kind, "sendphoto")
            message = self._send(send_key, item_params, uploads)
            message["media_group_id"] = group_id
            self.messages[(message["chat"]["id"], message["message_id"])]["media_group_id"] = (
                group_id
            )
            result.append(message)
        return result

    def _h_copy_message(self, key: str, params: dict, uploads: dict) -> Any:
        source = self.messages.get(
            (
                self.resolve_chat_id(params.get("from_chat_id")),
                int(_as_int(params.get("message_id") or 0)),
            )
        )
        message = self._base_message(params.get("chat_id"))
        if source is not None:
            for field in ("text", "entities", "caption", "caption_entities", *_MEDIA_FOLDERS):
                if field in source:
                    message[field] = copy.deepcopy(source[field])
        if "caption" in params:
            self._apply_text(message, params, "caption", "caption_entities")
        self.messages[(message["chat"]["id"], message["message_id"])] = message
        return {"message_id": message["message_id"]}

    def _h_delete_message(self, key: str, params: dict, uploads: dict) -> Any:
        chat_id = self.resolve_chat_id(params.get("chat_id"))
        ids = params.get("message_ids") if key == "deletemessages" else [params.get("message_id")]
        for raw in ids or []:
            message_key = (chat_id, int(_as_int(raw)))
            if message_key in self.deleted_messages and key == "deletemessage":
                raise TelegramError(400, "Bad Request: message to delete not found")
            self.messages.pop(message_key, None)
            self.deleted_messages.add(message_key)
        return True

    def _h_get_chat_member(self, key: str, params: dict, uploads: dict) -> Any:
        raw_chat = self._chat_key(params.get("chat_id"))
        user_id = int(_as_int(params.get("user_id") or 0))
        numeric = self.resolve_chat_id(raw_chat)
        for chat_key in (raw_chat, numeric):
            if chat_key in self.chat_member_errors:
                description = self.chat_member_errors[chat_key]
                status = 403 if description.startswith("Forbidden") else 400
                raise TelegramError(status, description)
        configured: Any = None
        for chat_key in (raw_chat, numeric):
            if (chat_key, user_id) in self.chat_members:
                configured = self.chat_members[(chat_key, user_id)]
                break
        if configured is None:
            configured = {"status": "left"}
        elif isinstance(configured, str):
            configured = {"status": configured}
        fields = dict(configured)
        status = fields.pop("status", "left")
        user = fields.pop("user", None) or self.user_dict(user_id)
        return member_dict(status, user, **fields)

    def _h_get_chat(self, key: str, params: dict, uploads: dict) -> Any:
        raw_chat = self._chat_key(params.get("chat_id"))
        chat = self.chat_object(raw_chat)
        info: dict[str, Any] = {
            **chat,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": True,
                "limited_gifts": True,
                "unique_gifts": True,
                "premium_subscription": True,
                "gifts_from_channels": True,
            },
        }
        info.update(self.chats.get(raw_chat) or self.chats.get(chat["id"]) or {})
        info["id"] = chat["id"]
        return info

    def _h_get_file(self, key: str, params: dict, uploads: dict) -> Any:
        file_id = str(params.get("file_id") or "")
        path = self.file_ids.get(file_id)
        if path is None:
            if self.strict_file_ids or not file_id:
                raise TelegramError(400, "Bad Request: invalid file_id")
            path = f"photos/{file_id}.jpg"
        size = self.file_sizes.get(file_id)
        if size is None:
            size = len(self.files[path]) if path in self.files else 1024
        if size > MAX_DOWNLOAD_SIZE:
            raise TelegramError(400, "Bad Request: file is too big")
        unique = self.file_unique_ids.get(file_id) or (
            "fu" + re.sub(r"[^A-Za-z0-9]", "", file_id)[-12:]
        )
        return {"file_id": file_id, "file_unique_id": unique, "file_size": size, "file_path": path}

    def _h_create_invoice_link(self, key: str, params: dict, uploads: dict) -> Any:
        # Telegram's rules for Stars invoices and subscriptions (Bot API: createInvoiceLink).
        # The descriptions are close to Telegram's own; the exact words are not documented.
        currency = str(params.get("currency") or "")
        prices = params.get("prices") or []
        period = params.get("subscription_period")
        if not params.get("title") or not params.get("payload"):
            raise TelegramError(400, "Bad Request: invoice title and payload must be non-empty")
        if not isinstance(prices, list) or not prices:
            raise TelegramError(400, "Bad Request: CURRENCY_TOTAL_AMOUNT_INVALID")
        if currency == "XTR":
            if len(prices) != 1:
                raise TelegramError(400, "Bad Request: STARS_INVOICE_INVALID")
            if params.get("provider_token"):
                raise TelegramError(400, "Bad Request: PROVIDER_TOKEN_INVALID")
        if period is not None:
            if currency != "XTR":
                raise TelegramError(400, "Bad Request: SUBSCRIPTION_PERIOD_INVALID")
            if period != 2592000:
                raise TelegramError(400, "Bad Request: SUBSCRIPTION_PERIOD_INVALID")
            if not 1 <= int(prices[0].get("amount", 0)) <= 10000:
                raise TelegramError(400, "Bad Request: STARS_INVOICE_INVALID")
        url = f"https://t.me/$FakeInvoice{next(self._invoice_counter):04d}"
        self.invoice_links[url] = {
            "payload": params.get("payload"),
            "currency": currency,
            "amount": sum(int(p.get("amount", 0)) for p in prices),
            "subscription_period": period,
        }
        return url

    def _h_edit_user_star_subscription(self, key: str, params: dict, uploads: dict) -> Any:
        # The bot may cancel a subscription's renewal, and re-enable only one it cancelled.
        charge = str(params.get("telegram_payment_charge_id") or "")
        sub = self.star_subscriptions.get(charge)
        if sub is None or sub["user_id"] != _as_int(params.get("user_id")):
            raise TelegramError(400, "Bad Request: CHARGE_ID_INVALID")
        if params.get("is_canceled") is True:
            if sub["canceled_by"] is None:
                sub["canceled_by"] = "bot"
            return True
        if params.get("is_canceled") is False:
            if sub["canceled_by"] == "user":
                raise TelegramError(400, "Bad Request: SUBSCRIPTION_NOT_CANCELED_BY_BOT")
            sub["canceled_by"] = None
            return True
        raise TelegramError(400, "Bad Request: parameter is_canceled is required")

    def _h_refund(self, key: str, params: dict, uploads: dict) -> Any:
        charge = str(params.get("telegram_payment_charge_id") or "")
        if not charge:
            raise TelegramError(400, "Bad Request: telegram_payment_charge_id is empty")
        if charge in self.refunded_charges:
            raise TelegramError(400, "Bad Request: CHARGE_ALREADY_REFUNDED")
        self.refunded_charges.add(charge)
        return True

    @staticmethod
    def _commands_key(params: dict) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    def _h_set_my_commands(self, key: str, params: dict, uploads: dict) -> Any:
        self.commands[self._commands_key(params)] = list(params.get("commands") or [])
        return True

    def _h_delete_my_commands(self, key: str, params: dict, uploads: dict) -> Any:
        self.commands.pop(self._commands_key(params), None)
        return True

    def _h_get_my_commands(self, key: str, params: dict, uploads: dict) -> Any:
        return self.commands.get(self._commands_key(params), [])

    def _h_answer_guest_query(self, key: str, params: dict, uploads: dict) -> Any:
        query_id = str(params.get("guest_query_id") or "")
        if query_id not in self.guest_queries or self.guest_queries[query_id] is not None:
            # Unknown, or answered already: Telegram takes one answer per guest query.
            raise TelegramError(400, rules.GUEST_QUERY_INVALID)
        self.guest_queries[query_id] = params["result"]
        return {"inline_message_id": f"guest-{query_id}"}

    def _h_true(self, key: str, params: dict, uploads: dict) -> Any:
        return True

    _HANDLERS: typing.ClassVar[dict[str, Callable[..., Any]]] = {
        "getme": _h_get_me,
        "getupdates": _h_get_updates,
        "setwebhook": _h_set_webhook,
        "deletewebhook": _h_delete_webhook,
        "getwebhookinfo": _h_get_webhook_info,
        "sendmessage": _h_send,
        "sendphoto": _h_send,
        "sendanimation": _h_send,
        "senddocument": _h_send,
        "sendvideo": _h_send,
        "sendaudio": _h_send,
        "sendvoice": _h_send,
        "sendsticker": _h_send,
        "sendinvoice": _h_send,
        "senddice": _h_send,
        "sendlocation": _h_send,
        "sendmediagroup": _h_send_media_group,
        "copymessage": _h_copy_message,
        "editmessagetext": _h_edit,
        "editmessagecaption": _h_edit,
        "editmessagereplymarkup": _h_edit,
        "editmessagemedia": _h_edit,
        "deletemessage": _h_delete_message,
        "deletemessages": _h_delete_message,
        "getchatmember": _h_get_chat_member,
        "getchat": _h_get_chat,
        "getfile": _h_get_file,
        "answerguestquery": _h_answer_guest_query,
        "createinvoicelink": _h_create_invoice_link,
        "refundstarpayment": _h_refund,
        "edituserstarsubscription": _h_edit_user_star_subscription,
        "setmycommands": _h_set_my_commands,
        "deletemycommands": _h_delete_my_commands,
        "getmycommands": _h_get_my_commands,
        "sendmessagedraft": _h_true,
        "sendrichmessagedraft": _h_send_rich_draft,
        "sendrichmessage": _h_send,
        "createforumtopic": _h_create_forum_topic,
        "editforumtopic": _h_edit_forum_topic,
        "deleteforumtopic": _h_delete_forum_topic,
        "sendchataction": _h_true,
        "answercallbackquery": _h_true,
        "answerprecheckoutquery": _h_true,
    }

    # -------------------------------------------------------------------------- update builders
    def _next_update_id(self) -> int:
        self._last_update_id += 1
        return self._last_update_id

    def user_dict(
        self,
        user_id: int,
        *,
        username: str | None = None,
        language_code: str | None = None,
        first_name: str | None = None,
    ) -> dict[str, Any]:
        """User JSON; remembers the user (so private chats get the right first_name)."""
        known = self.users.get(user_id, {})
        user: dict[str, Any] = {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name or known.get("first_name") or f"User{user_id}",
        }
        if username or known.get("username"):
            user["username"] = username or known["username"]
        if language_code or known.get("language_code"):
            user["language_code"] = language_code or known["language_code"]
        self.users[user_id] = user
        return dict(user)

    def _user_message(
        self,
        user_id: int,
        chat_id: Any,
        chat_type: str,
        language_code: str | None,
        username: str | None,
        first_name: str | None = None,
    ) -> dict[str, Any]:
        user = self.user_dict(
            user_id, username=username, language_code=language_code, first_name=first_name
        )
        if chat_id is None:
            chat_id = user_id if chat_type == "private" else -1001000000001
        chat = self.chat_object(chat_id, chat_type)
        return {
            "message_id": self.next_message_id(chat["id"]),
            "from": user,
            "chat": chat,
            "date": int(time.time()),
        }

    def _store(self, message: dict[str, Any]) -> None:
        self.messages[(message["chat"]["id"], message["message_id"])] = copy.deepcopy(message)

    def make_message(
        self,
        user_id: int,
        text: str,
        chat_id: Any = None,
        chat_type: str = "private",
        language_code: str | None = "en",
        username: str | None = None,
        entities: list[dict[str, Any]] | None = None,
        *,
        first_name: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Update dict with a text message from ``user_id`` (``/command`` entities added)."""
        message = self._user_message(
            user_id, chat_id, chat_type, language_code, username, first_name
        )
        message["text"] = text
        if entities is not None:
            message["entities"] = entities
        else:
            self._auto_entities(message)
        message.update(extra)
        self._store(message)
        return {"update_id": self._next_update_id(), "message": message}

    def make_photo(
        self,
        user_id: int,
        file_id: str,
        caption: str | None = None,
        sizes: tuple[tuple[int, int], ...] = ((90, 90), (320, 320), (1280, 1280)),
        chat_id: Any = None,
        chat_type: str = "private",
        language_code: str | None = "en",
        username: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Update with a photo message; the largest size has exactly ``file_id``.

        Smaller sizes get ``f"{file_id}-s{i}"`` ids, aliased to the same registered file.
        """
        message = self._user_message(user_id, chat_id, chat_type, language_code, username)
        path = self.file_ids.get(file_id)
        total = len(self.files.get(path, b"")) if path else 50_000
        photo = []
        for index, (width, height) in enumerate(sizes):
            last = index == len(sizes) - 1
            size_id = file_id if last else f"{file_id}-s{index}"
            if path and not last:
                self.file_ids.setdefault(size_id, path)
            photo.append(
                {
                    "file_id": size_id,
                    "file_unique_id": f"fu{index}{abs(hash(file_id)) % 10**8}",
                    "width": width,
                    "height": height,
                    "file_size": total if last else max(1, total // (len(sizes) - index + 1)),
                }
            )
        message["photo"] = photo
        if caption is not None:
            message["caption"] = caption
        message.update(extra)
        self._store(message)
        return {"update_id": self._next_update_id(), "message": message}

    def make_document(
        self,
        user_id: int,
        file_id: str,
        file_name: str | None = "file.txt",
        caption: str | None = None,
        mime_type: str | None = None,
        file_size: int | None = None,
        chat_id: Any = None,
        chat_type: str = "private",
        language_code: str | None = "en",
        username: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Update with a document message. ``file_size`` defaults to the registered bytes'
        length (see ``add_file``); give it to claim another size, as a client may."""
        message = self._user_message(user_id, chat_id, chat_type, language_code, username)
        path = self.file_ids.get(file_id)
        if file_size is None:
            file_size = len(self.files[path]) if path in self.files else 1000
        document: dict[str, Any] = {
            "file_id": file_id,
            "file_unique_id": f"fud{abs(hash(file_id)) % 10**8}",
            "file_size": file_size,
        }
        if file_name is not None:
            document["file_name"] = file_name
        if mime_type is None and file_name:
            mime_type = mimetypes.guess_type(file_name)[0]
        if mime_type is not None:
            document["mime_type"] = mime_type
        message["document"] = document
        if caption is not None:
            message["caption"] = caption
        message.update(extra)
        self._store(message)
        return {"update_id": self._next_update_id(), "message": message}

    def make_guest_message(
        self,
        user_id: int,
        text: str,
        chat_id: int = -1009000000001,
        chat_type: str = "supergroup",
        language_code: str | None = "en",
        reply_to: dict[str, Any] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """A ``guest_message`` update: ``user_id`` mentions the bot in a chat it is not a
        member of. Its ``guest_query_id`` is registered for one ``answerGuestQuery``."""
        message = self._user_message(user_id, chat_id, chat_type, language_code, None)
        message["text"] = text
        mention = f"@{self.bot_user['username']}"
        at = text.find(mention)
        if at >= 0:
            offset = rules.utf16_len(text[:at])
            message["entities"] = [{"type": "mention", "offset": offset, "length": len(mention)}]
        query_id = f"gq{next(self._query_counter)}"
        self.guest_queries[query_id] = None
        message["guest_query_id"] = query_id
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        message.update(extra)
        return {"update_id": self._next_update_id(), "guest_message": message}

    def make_callback(
        self,
        user_id: int,
        data: str,
        message_id: int | None = None,
        chat_id: Any = None,
        *,
        message_text: str = "Choose an option:",
        chat_type: str = "private",
        language_code: str | None = "en",
        username: str | None = None,
        inline_message_id: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Update with a callback_query pressed on a bot message.

        ``message_id=None`` -> the last bot message in that chat (or a new one).  A known
        message is embedded as stored (so later edits can report "message is not modified").
        """
        user = self.user_dict(user_id, username=username, language_code=language_code)
        if chat_id is None:
            chat_id = user_id if chat_type == "private" else -1001000000001
        numeric = self.resolve_chat_id(chat_id)
        query: dict[str, Any] = {
            "id": str(next(self._query_counter) + 4_000_000_000_000),
            "from": user,
            "chat_instance": str(-numeric if numeric < 0 else numeric * 7 + 1),
            "data": data,
        }
        if inline_message_id is not None:
            query["inline_message_id"] = inline_message_id
        else:
            message = None
            if message_id is None:
                own = [
                    m
                    for (cid, _mid), m in self.messages.items()
                    if cid == numeric and m.get("from", {}).get("id") == self.bot_id
                ]
                if own:
                    message = own[-1]
            else:
                message = self.messages.get((numeric, message_id))
            if message is None:
                message = self._base_message(chat_id, message_id)
                message["chat"] = self.chat_object(chat_id, chat_type)
                message["text"] = message_text
                self._store(message)
            query["message"] = copy.deepcopy(message)
        query.update(extra)
        return {"update_id": self._next_update_id(), "callback_query": query}

    def make_pre_checkout(
        self,
        user_id: int,
        payload: str,
        total_amount: int,
        currency: str = "XTR",
        *,
        language_code: str | None = "en",
        username: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Update with a pre_checkout_query."""
        query = {
            "id": str(next(self._query_counter) + 5_000_000_000_000),
            "from": self.user_dict(user_id, username=username, language_code=language_code),
            "currency": currency,
            "total_amount": total_amount,
            "invoice_payload": payload,
            **extra,
        }
        return {"update_id": self._next_update_id(), "pre_checkout_query": query}

    def make_successful_payment(
        self,
        user_id: int,
        payload: str,
        total_amount: int,
        charge_id: str,
        currency: str = "XTR",
        *,
        chat_id: Any = None,
        language_code: str | None = "en",
        username: str | None = None,
        provider_charge_id: str = "",
        subscription_expiration_date: int | None = None,
        is_first_recurring: bool = False,
        renews: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Update with a service message carrying ``successful_payment``.

        A subscription's payment: ``subscription_expiration_date`` with
        ``is_first_recurring=True`` (the first one: the subscription is registered under
        ``charge_id``) or ``renews=<first charge id>`` (a renewal, which Telegram does not
        make for a subscription whose renewal was cancelled)."""
        message = self._user_message(user_id, chat_id, "private", language_code, username)
        paid: dict[str, Any] = {
            "currency": currency,
            "total_amount": total_amount,
            "invoice_payload": payload,
            "telegram_payment_charge_id": charge_id,
            "provider_payment_charge_id": provider_charge_id,
        }
        if subscription_expiration_date is not None:
            paid["subscription_expiration_date"] = subscription_expiration_date
            paid["is_recurring"] = True
            if is_first_recurring:
                paid["is_first_recurring"] = True
                self.star_subscriptions[charge_id] = {
                    "user_id": user_id,
                    "payload": payload,
                    "canceled_by": None,
                }
            elif renews is not None:
                sub = self.star_subscriptions[renews]
                if sub["canceled_by"] is not None:
                    raise AssertionError(f"Telegram renews no cancelled subscription ({renews})")
        message["successful_payment"] = paid
        message.update(extra)
        self._store(message)
        return {"update_id": self._next_update_id(), "message": message}

    def make_subscription_update(
        self, user_id: int, payload: str, state: str, *, language_code: str | None = "en"
    ) -> dict[str, Any]:
        """``subscription`` update (Bot API 10.2): "canceled" by the user in Telegram,
        "active" re-enabled by the user, or "failed" (a renewal could not be charged)."""
        if state not in ("canceled", "active", "failed"):
            raise ValueError(f"Telegram sends no subscription state {state!r}")
        for sub in self.star_subscriptions.values():
            if sub["user_id"] == user_id and sub["payload"] == payload:
                if state == "canceled":
                    sub["canceled_by"] = sub["canceled_by"] or "user"
                elif state == "active":
                    sub["canceled_by"] = None
        body = {
            "user": self.user_dict(user_id, language_code=language_code),
            "invoice_payload": payload,
            "state": state,
        }
        return {"update_id": self._next_update_id(), "subscription": body}

    def make_chat_member(
        self,
        chat_id: Any,
        user_id: int,
        old_status: str,
        new_status: str,
        is_member: bool | None = None,
        *,
        my: bool = False,
        from_user_id: int | None = None,
        chat_type: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """``chat_member`` update (``my=True`` -> ``my_chat_member`` about the bot itself).

        ``is_member`` is applied to "restricted" members.  Also updates ``chat_members`` so a
        later getChatMember reflects ``new_status``.
        """
        if my:
            member_user = dict(self.bot_user)
            member_user = {k: member_user[k] for k in ("id", "is_bot", "first_name", "username")}
        else:
            member_user = self.user_dict(user_id)
        actor = self.user_dict(from_user_id if from_user_id is not None else user_id)
        restricted_extra = {} if is_member is None else {"is_member": is_member}
        old = member_dict(old_status, member_user, **_only_restricted(old_status, restricted_extra))
        new = member_dict(new_status, member_user, **_only_restricted(new_status, restricted_extra))
        kind = None
        if chat_type is None and isinstance(_as_int(chat_id), int) and _as_int(chat_id) > 0:
            kind = "private"
        body = {
            "chat": self.chat_object(chat_id, chat_type or kind),
            "from": actor,
            "date": int(time.time()),
            "old_chat_member": old,
            "new_chat_member": new,
            **extra,
        }
        self.chat_members[(self._chat_key(chat_id), member_user["id"])] = {
            k: v for k, v in new.items() if k != "user"
        }
        field = "my_chat_member" if my else "chat_member"
        return {"update_id": self._next_update_id(), field: body}


def _only_restricted(status: str, fields: dict[str, Any]) -> dict[str, Any]:
    return fields if status == "restricted" else {}
