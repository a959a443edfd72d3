"""Pure functions emulating what the real Telegram Bot API refuses.

Shared by :mod:`tests.fakes.session` (in-process ``RecordingSession``) and
:mod:`tests.fakes.bot_api` (HTTP ``FakeBotAPI``) so both fakes refuse exactly the same input.

Only ``parse_mode="HTML"`` (case-insensitive) is parsed.  Any other parse mode (or ``None``)
is treated as plain text: only the empty / length rules apply.

Deliberate strictness: a bare ``&`` that does not start ``&lt;`` ``&gt;`` ``&amp;``
``&quot;`` or a numeric entity is refused (Telegram would show it literally), so tests catch
user/LLM text that was not passed through ``html.escape``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64

EMPTY_TEXT = "Bad Request: message text is empty"
TEXT_TOO_LONG = "Bad Request: message is too long"
CAPTION_TOO_LONG = "Bad Request: message caption is too long"
CANT_PARSE = "Bad Request: can't parse entities: "

ALLOWED_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
    }
)

_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}

_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}

_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (what Telegram counts)."""
    return len(text.encode("utf-16-le")) // 2


def is_html(parse_mode: Any) -> bool:
    return isinstance(parse_mode, str) and parse_mode.lower() == "html"


class HTMLMarkupError(ValueError):
    """Raised by :func:`parse_html` / :func:`visible_text`; ``str(err)`` is the detail."""


@dataclass
class _Open:
    tag: str
    attrs: dict[str, str | None]
    offset: int  # UTF-16 offset in the visible text
    byte_pos: int
    language: str | None = None


@dataclass
class ParsedText:
    text: str
    entities: list[dict[str, Any]] = field(default_factory=list)


class _TelegramHTMLParser(HTMLParser):
    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=False)
        self.source = source
        self._line_starts = [0]
        for index, char in enumerate(source):
            if char == "\n":
                self._line_starts.append(index + 1)
        self.parts: list[str] = []
        self.utf16_offset = 0
        self.stack: list[_Open] = []
        self.entities: list[dict[str, Any]] = []

    # -- helpers -----------------------------------------------------------------------------
    def _char_pos(self) -> int:
        line, col = self.getpos()
        return self._line_starts[line - 1] + col

    def _byte_pos(self, char_pos: int | None = None) -> int:
        if char_pos is None:
            char_pos = self._char_pos()
        return len(self.source[:char_pos].encode("utf-8"))

    def _fail(self, detail: str) -> None:
        raise HTMLMarkupError(detail)

    def _emit(self, text: str) -> None:
        self.parts.append(text)
        self.utf16_offset += utf16_len(text)

    # -- HTMLParser callbacks ------------------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        pos = self._byte_pos()
        if tag not in ALLOWED_TAGS:
            self._fail(f'Unsupported start tag "{tag}" at byte offset {pos}')
        attributes = dict(attrs)
        if tag == "span" and attributes.get("class") != "tg-spoiler":
            self._fail(f'Tag "span" must have class "tg-spoiler" at byte offset {pos}')
        if tag == "a" and not attributes.get("href"):
            self._fail(f'Tag "a" must have attribute "href" at byte offset {pos}')
        if tag == "tg-emoji" and not attributes.get("emoji-id"):
            self._fail(f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {pos}')
        self.stack.append(_Open(tag, attributes, self.utf16_offset, pos))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._fail(f'Unsupported start tag "{tag}/" at byte offset {self._byte_pos()}')

    def handle_endtag(self, tag: str) -> None:
        pos = self._byte_pos()
        if not self.stack:
            self._fail(f"Unexpected end tag at byte offset {pos}")
        top = self.stack[-1]
        if top.tag != tag:
            self._fail(
                f'Unmatched end tag at byte offset {pos}, expected "</{top.tag}>", found "</{tag}>"'
            )
        self.stack.pop()
        self._close_entity(top)

    def _close_entity(self, item: _Open) -> None:
        length = self.utf16_offset - item.offset
        language = None
        if item.tag == "code" and self.stack and self.stack[-1].tag == "pre":
            css = item.attrs.get("class") or ""
            if css.startswith("language-"):
                self.stack[-1].language = css[len("language-") :]
                return
        if length <= 0:
            return
        entity: dict[str, Any] = {
            "type": _ENTITY_TYPES[item.tag],
            "offset": item.offset,
            "length": length,
        }
        if item.tag == "a":
            href = item.attrs.get("href") or ""
            match = re.match(r"^tg://user\?id=(\d+)$", href)
            if match:
                entity = {**entity, "type": "text_mention"}
                entity["user"] = {"id": int(match.group(1)), "is_bot": False, "first_name": "User"}
            else:
                entity["url"] = href
        elif item.tag == "pre":
            language = item.language
            if language:
                entity["language"] = language
        elif item.tag == "blockquote" and "expandable" in item.attrs:
            entity["type"] = "expandable_blockquote"
        elif item.tag == "tg-emoji":
            entity["custom_emoji_id"] = item.attrs.get("emoji-id")
        self.entities.append(entity)

    def handle_data(self, data: str) -> None:
        start = self._char_pos()
        for bad in ("<", "&"):
            index = data.find(bad)
            if index != -1:
                pos = self._byte_pos(start + index)
                if bad == "<":
                    self._fail(f'Unsupported start tag "" at byte offset {pos}')
                self._fail(f'Unescaped "&" at byte offset {pos}; use "&amp;"')
        self._emit(data)

    def handle_entityref(self, name: str) -> None:
        start = self._char_pos()
        pos = self._byte_pos(start)
        if not self.source.startswith(f"&{name};", start):
            self._fail(f'Unescaped "&" at byte offset {pos}; use "&amp;"')
        if name not in _NAMED_ENTITIES:
            self._fail(f'Unsupported HTML entity "&{name};" at byte offset {pos}')
        self._emit(_NAMED_ENTITIES[name])

    def handle_charref(self, name: str) -> None:
        start = self._char_pos()
        pos = self._byte_pos(start)
        if not self.source.startswith(f"&#{name};", start):
            self._fail(f'Unescaped "&" at byte offset {pos}; use "&amp;"')
        try:
            code = int(name[1:], 16) if name[:1] in "xX" else int(name)
            char = chr(code)
        except (ValueError, OverflowError):
            self._fail(f'Unsupported HTML entity "&#{name};" at byte offset {pos}')
            return
        if code == 0 or 0xD800 <= code <= 0xDFFF:
            self._fail(f'Unsupported HTML entity "&#{name};" at byte offset {pos}')
        self._emit(char)

    def handle_comment(self, data: str) -> None:
        self._fail(f'Unsupported start tag "!--" at byte offset {self._byte_pos()}')

    def handle_decl(self, decl: str) -> None:
        self._fail(f'Unsupported start tag "!" at byte offset {self._byte_pos()}')

    def unknown_decl(self, data: str) -> None:
        self._fail(f'Unsupported start tag "!" at byte offset {self._byte_pos()}')

    def handle_pi(self, data: str) -> None:
        self._fail(f'Unsupported start tag "?" at byte offset {self._byte_pos()}')

    def finish(self) -> ParsedText:
        self.close()
        if self.stack:
            self._fail(f'Can\'t find end tag corresponding to start tag "{self.stack[-1].tag}"')
        entities = sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))
        return ParsedText("".join(self.parts), entities)


def parse_html(text: str) -> ParsedText:
    """Parse Telegram-HTML; returns visible text + MessageEntity dicts (UTF-16 offsets).

    Raises :class:`HTMLMarkupError` (detail message like Telegram's) on invalid markup.
    """
    parser = _TelegramHTMLParser(text)
    parser.feed(text)
    return parser.finish()


def parse_text(text: str, parse_mode: Any) -> ParsedText:
    """Visible text and entities for ``text`` sent with ``parse_mode``."""
    if is_html(parse_mode):
        return parse_html(text)
    return ParsedText(text, [])


def visible_text(text: str | None, parse_mode: Any = None) -> str:
    """The text without markup (tags removed, entities unescaped).

    Raises :class:`HTMLMarkupError` when HTML markup is invalid.
    """
    if not text:
        return ""
    return parse_text(text, parse_mode).text


def _check(
    text: str | None,
    parse_mode: Any,
    *,
    limit: int,
    allow_empty: bool,
    too_long: str,
) -> str | None:
    if text is None:
        text = ""
    if not isinstance(text, str):
        return "Bad Request: text must be a string"
    if is_html(parse_mode):
        try:
            parsed = parse_html(text)
        except HTMLMarkupError as exc:
            return CANT_PARSE + str(exc)
        visible = parsed.text
    else:
        visible = text
    if not visible.strip():
        return None if allow_empty else EMPTY_TEXT
    if utf16_len(visible) > limit:
        return too_long
    return None


def check_text(
    text: str | None,
    parse_mode: Any = None,
    *,
    allow_empty: bool = False,
    limit: int = MAX_TEXT_LENGTH,
) -> str | None:
    """Telegram-style error description for a message text, or ``None`` when accepted.

    ``allow_empty=True`` is for sendMessageDraft (empty text = "Thinking…" placeholder).
    """
    return _check(text, parse_mode, limit=limit, allow_empty=allow_empty, too_long=TEXT_TOO_LONG)


def check_caption(caption: str | None, parse_mode: Any = None) -> str | None:
    """Like :func:`check_text` for media captions: empty allowed, limit 1024 UTF-16 units."""
    return _check(
        caption,
        parse_mode,
        limit=MAX_CAPTION_LENGTH,
        allow_empty=True,
        too_long=CAPTION_TOO_LONG,
    )


_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)


def check_reply_markup(markup: Any) -> str | None:
    """Validate an inline keyboard (dict form); other markups are accepted as-is."""
    if not isinstance(markup, dict) or "inline_keyboard" not in markup:
        return None
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list):
        return "Bad Request: can't parse inline keyboard: inline_keyboard must be an Array"
    for row in rows:
        if not isinstance(row, list):
            return "Bad Request: can't parse inline keyboard: rows must be Arrays"
        for button in row:
            if not isinstance(button, dict) or not button.get("text"):
                return "Bad Request: can't parse inline keyboard button: Text must be non-empty"
            actions = [key for key in _BUTTON_ACTIONS if button.get(key) is not None]
            if not actions:
                return (
                    "Bad Request: can't parse inline keyboard button: "
                    "Text buttons are unallowed in the inline keyboard"
                )
            if "callback_data" in actions:
                data = button["callback_data"]
                if not isinstance(data, str) or not data:
                    return "Bad Request: BUTTON_DATA_INVALID"
                if len(data.encode("utf-8")) > MAX_CALLBACK_DATA_BYTES:
                    return "Bad Request: BUTTON_DATA_INVALID"
            if "url" in actions and not str(button["url"]).strip():
                return "Bad Request: BUTTON_URL_INVALID"
    return None


def check_bot_commands(commands: Any) -> str | None:
    """Validate setMyCommands ``commands`` (list of {"command", "description"} dicts)."""
    if not isinstance(commands, list):
        return "Bad Request: can't parse commands JSON object"
    if len(commands) > 100:
        return "Bad Request: too many commands"
    for item in commands:
        if not isinstance(item, dict):
            return "Bad Request: can't parse BotCommand"
        if not _COMMAND_RE.match(str(item.get("command", ""))):
            return "Bad Request: BOT_COMMAND_INVALID"
        description = str(item.get("description", ""))
        if not description.strip() or len(description) > 256:
            return "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID"
    return None


GUEST_QUERY_INVALID = (
    "Bad Request: query is too old and response timeout expired or query ID is invalid"
)
_RESULT_ID_MAX_BYTES = 64
_INLINE_RESULT_TYPES = frozenset(
    {
        "article",
        "photo",
        "gif",
        "mpeg4_gif",
        "video",
        "audio",
        "voice",
        "document",
        "location",
        "venue",
        "contact",
        "game",
        "sticker",
    }
)


def check_guest_answer(result: Any) -> str | None:
    """The ``result`` of answerGuestQuery: one InlineQueryResult. Only articles with text
    content are checked in depth (the one kind the bot sends)."""
    if not isinstance(result, dict):
        return "Bad Request: can't parse result JSON object"
    if result.get("type") not in _INLINE_RESULT_TYPES:
        return "Bad Request: RESULT_TYPE_INVALID"
    result_id = result.get("id")
    if (
        not isinstance(result_id, str)
        or not result_id
        or len(result_id.encode()) > _RESULT_ID_MAX_BYTES
    ):
        return "Bad Request: RESULT_ID_INVALID"
    if result["type"] != "article":
        return None
    if not isinstance(result.get("title"), str) or not result["title"].strip():
        return "Bad Request: RESULT_TITLE_EMPTY"
    content = result.get("input_message_content")
    if not isinstance(content, dict) or "message_text" not in content:
        return "Bad Request: MESSAGE_EMPTY"
    mode = None if content.get("entities") else content.get("parse_mode")
    problem = check_text(content.get("message_text"), mode)
    if problem is None and "reply_markup" in result:
        problem = check_reply_markup(result["reply_markup"])
    return problem


# -- rich messages (Bot API 10.1+: "Rich Message Limits" and the InputRichBlock types) --------

RICH_TEXT_LIMIT = 32_768
RICH_BLOCK_LIMIT = 500
RICH_DEPTH_LIMIT = 16
RICH_COLUMN_LIMIT = 20
RICH_TOO_LONG = "Bad Request: rich message is too long"
RICH_INVALID = "Bad Request: can't parse rich message: "
RICH_BLOCK_TYPES = frozenset(
    {
        "paragraph", "heading", "pre", "footer", "divider", "mathematical_expression",
        "anchor", "list", "blockquote", "expandable_blockquote", "pull_quote", "collage",
        "slideshow", "table", "details", "map", "buttons", "animation", "audio", "document",
        "photo", "video", "voice_note", "thinking",
    }
)  # fmt: skip
RICH_TEXT_TYPES = frozenset(
    {
        "bold", "italic", "underline", "strikethrough", "spoiler", "date_time",
        "text_mention", "subscript", "superscript", "marked", "code", "custom_emoji",
        "mathematical_expression", "url", "email_address", "phone_number",
        "bank_card_number", "mention", "hashtag", "cashtag", "bot_command", "button",
        "anchor", "anchor_link", "reference", "reference_link",
    }
)  # fmt: skip


class _RichProblem(Exception):
    pass


class _RichStats:
    def __init__(self, draft: bool) -> None:
        self.draft = draft
        self.chars = 0
        self.blocks = 0

    def text(self, value: Any, depth: int) -> None:
        if depth > RICH_DEPTH_LIMIT:
            raise _RichProblem("too deep nesting")
        if isinstance(value, str):
            self.chars += len(value)
            return
        if isinstance(value, list):
            for item in value:
                self.text(item, depth)
            return
        if not isinstance(value, dict) or value.get("type") not in RICH_TEXT_TYPES:
            raise _RichProblem(f"unknown rich text {value!r:.40}")
        if value["type"] == "mathematical_expression":
            expression = value.get("expression")
            if not isinstance(expression, str) or not expression.strip():
                raise _RichProblem("empty mathematical expression")
            self.chars += len(expression)
            return
        if value["type"] == "url" and not str(value.get("url", "")).startswith(
            ("http://", "https://", "tg://", "mailto:")
        ):
            raise _RichProblem("wrong URL")
        self.text(value.get("text", ""), depth + 1)

    def block(self, block: Any, depth: int) -> None:
        if depth > RICH_DEPTH_LIMIT:
            raise _RichProblem("too deep nesting")
        if not isinstance(block, dict) or block.get("type") not in RICH_BLOCK_TYPES:
            raise _RichProblem(f"unknown block {block!r:.40}")
        kind = block["type"]
        self.blocks += 1
        if kind == "thinking" and not self.draft:
            raise _RichProblem("thinking blocks are allowed in drafts only")
        if kind == "heading" and block.get("size") not in range(1, 7):
            raise _RichProblem("heading size must be 1-6")
        if kind == "mathematical_expression":
            expression = block.get("expression")
            if not isinstance(expression, str) or not expression.strip():
                raise _RichProblem("empty mathematical expression")
            self.chars += len(expression)
        for key in ("text", "summary", "caption", "credit"):
            if key in block:
                self.text(block[key], depth + 1)
        if kind in ("paragraph", "heading", "pre", "footer", "thinking") and "text" not in block:
            raise _RichProblem(f"{kind} without text")
        if kind in ("blockquote", "details", "expandable_blockquote"):
            children = block.get("blocks")
            if not isinstance(children, list) or not children:
                raise _RichProblem(f"{kind} without blocks")
            for child in children:
                self.block(child, depth + 1)
        if kind == "list":
            items = block.get("items")
            if not isinstance(items, list) or not items:
                raise _RichProblem("list without items")
            for item in items:
                self.blocks += 1
                inner = item.get("blocks") if isinstance(item, dict) else None
                if not isinstance(inner, list) or not inner:
                    raise _RichProblem("list item without blocks")
                for child in inner:
                    self.block(child, depth + 1)
        if kind == "table":
            rows = block.get("cells")
            if not isinstance(rows, list) or not rows:
                raise _RichProblem("table without cells")
            for row in rows:
                self.blocks += 1
                if not isinstance(row, list) or len(row) > RICH_COLUMN_LIMIT:
                    raise _RichProblem("too many table columns")
                for cell in row:
                    if cell.get("align") not in ("left", "center", "right") or cell.get(
                        "valign"
                    ) not in ("top", "middle", "bottom"):
                        raise _RichProblem("wrong table cell alignment")
                    if "text" in cell:
                        self.text(cell["text"], depth + 2)


def check_rich_message(rich: Any, *, draft: bool = False) -> str | None:
    """What Telegram answers to an ``InputRichMessage`` it refuses (None: accepted)."""
    if not isinstance(rich, dict):
        return "Bad Request: rich_message must be an object"
    given = [k for k in ("html", "markdown", "blocks") if rich.get(k) is not None]
    if len(given) != 1:
        return "Bad Request: exactly one of html, markdown or blocks must be specified"
    if given[0] != "blocks":
        text = str(rich[given[0]])
        if not text.strip():
            return "Bad Request: rich message is empty"
        return RICH_TOO_LONG if len(text) > RICH_TEXT_LIMIT else None
    blocks = rich["blocks"]
    if not isinstance(blocks, list) or not blocks:
        return "Bad Request: rich message is empty"
    stats = _RichStats(draft)
    try:
        for block in blocks:
            stats.block(block, 1)
    except _RichProblem as exc:
        return RICH_INVALID + str(exc)
    except (AttributeError, TypeError) as exc:
        return RICH_INVALID + type(exc).__name__
    if stats.chars > RICH_TEXT_LIMIT:
        return RICH_TOO_LONG
    if stats.blocks > RICH_BLOCK_LIMIT:
        return "Bad Request: too many blocks in the rich message"
    return None
