"""The model's Markdown as Telegram HTML, split into message-sized parts.

Two pure steps:

* :func:`take_chunk` / :func:`split_markdown` cut the *Markdown source* into pieces of at
  most ``limit`` UTF-16 units, preferring paragraph, then line, then word boundaries. A cut
  inside a fenced code block closes the fence in the head and reopens it (same language) in
  the tail, so every piece is self-contained. Rendering never adds visible characters, so a
  piece of ``limit`` source units shows at most ``limit`` units in Telegram.
* :func:`render` turns one piece into Telegram HTML: bold, italic, strikethrough, inline
  code, fenced code (``<pre><code class="language-x">``), links, lists, headings and
  quotes. Everything else is escaped; unbalanced markers stay literal characters. The output
  is always well-formed, whatever the model wrote.

Streaming uses :func:`take_chunk` on the growing tail: a piece once cut never changes, so it
can be delivered before the answer ends.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass

MESSAGE_LIMIT = 4000  # below Telegram's 4096 (counted after entity parsing, in UTF-16)

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_LANGUAGE = re.compile(r"[A-Za-z0-9_+#.-]{1,32}")
_HEADING = re.compile(r"^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$")
_RULE = re.compile(r"^ {0,3}([-*_])(?:\s*\1){2,}\s*$")
_BULLET = re.compile(r"^(\s*)[-*+]\s+(.*)$")
_QUOTE = re.compile(r"^ {0,3}>\s?(.*)$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def clean(text: str) -> str:
    """Drop control characters (they are not text, and NUL is our placeholder marker)."""
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


# -- fences ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Fence:
    marker: str  # the run of ` or ~ that opened it
    info: str  # what followed the marker (language and more)

    @property
    def opener(self) -> str:
        return f"{self.marker}{self.info}"

    def closes(self, line: str) -> bool:
        match = _FENCE.match(line.rstrip("\n"))
        if match is None:
            return False
        run, rest = match.groups()
        return run[0] == self.marker[0] and len(run) >= len(self.marker) and not rest.strip()

    @property
    def language(self) -> str | None:
        word = self.info.strip().split(maxsplit=1)
        if word and _LANGUAGE.fullmatch(word[0]):
            return word[0]
        return None


def _opens(line: str) -> _Fence | None:
    match = _FENCE.match(line.rstrip("\n"))
    if match is None:
        return None
    run, info = match.groups()
    if run[0] == "`" and "`" in info:
        return None
    return _Fence(run, info.strip())


# -- splitting ---------------------------------------------------------------------------------


def _window(text: str, limit: int) -> int:
    """The largest character index ``w`` with ``utf16_len(text[:w]) <= limit``."""
    if utf16_len(text) <= limit:
        return len(text)
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def take_chunk(text: str, limit: int = MESSAGE_LIMIT) -> tuple[str, str] | None:
    """Cut one piece off the front of ``text``; None when it already fits in ``limit``.

    Returns ``(head, tail)``: ``head`` fits and is self-contained Markdown; ``tail`` is the
    rest (starting with a reopened fence when the cut fell inside a code block). The choice
    depends only on ``text[: limit + 1]``, so it is stable while more text is appended.
    """
    if utf16_len(text) <= limit:
        return None
    window = _window(text, limit)
    half = window // 2

    paragraph = line_out = line_in = 0
    fence_at: dict[int, _Fence] = {}
    fence: _Fence | None = None
    position = 0
    for line in text[: window + 1].splitlines(keepends=True):
        end = position + len(line)
        if fence is None:
            opened = _opens(line)
            if opened is not None and end <= window and line.endswith("\n"):
                # cutting right before a fence is a clean paragraph-like boundary
                if position > 0:
                    paragraph = max(paragraph, position)
                fence = opened
            elif end <= window and line.endswith("\n"):
                line_out = end
                if not line.strip():
                    paragraph = max(paragraph, end)
        else:
            if fence.closes(line):
                fence = None
                if end <= window and line.endswith("\n"):
                    paragraph = max(paragraph, end)
                    line_out = end
            elif end <= window and line.endswith("\n"):
                line_in = end
                fence_at[end] = fence
        position = end
        if position > window:
            break

    for candidate in (paragraph, line_out):
        if candidate >= half:
            return text[:candidate].rstrip("\n"), text[candidate:].lstrip("\n")
    if line_in >= half:
        return _reopen(text, line_in, fence_at[line_in])

    # No usable line boundary: cut at a space, else hard. Inside a fence, close and reopen.
    space = text.rfind(" ", half, window)
    cut = space + 1 if space > 0 else window
    return _reopen(text, cut, _fence_state(text[:cut]))


def _reopen(text: str, cut: int, fence: _Fence | None) -> tuple[str, str]:
    """Cut at ``cut``; inside a fence, close it in the head and reopen it in the tail
    (unless the fence line is so long that reopening would make no progress)."""
    if fence is not None:
        tail = f"{fence.opener}\n{text[cut:]}"
        if len(tail) < len(text):
            return _close(text[:cut], fence), tail
    return text[:cut], text[cut:]


def _close(head: str, fence: _Fence) -> str:
    return head.rstrip("\n") + "\n" + fence.marker[0] * len(fence.marker)


def _fence_state(text: str) -> _Fence | None:
    """The fence still open at the end of ``text`` (None outside code)."""
    fence: _Fence | None = None
    for line in text.splitlines(keepends=True):
        if fence is None:
            if line.endswith("\n"):
                fence = _opens(line)
        elif fence.closes(line):
            fence = None
    return fence


def split_markdown(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """All pieces of ``text``, each fitting in ``limit`` (empty pieces dropped)."""
    pieces: list[str] = []
    rest = clean(text)
    while True:
        cut = take_chunk(rest, limit)
        if cut is None:
            break
        head, rest = cut
        pieces.append(head)
    pieces.append(rest)
    return [piece for piece in pieces if piece.strip()]


# -- rendering ---------------------------------------------------------------------------------


def render(text: str) -> str:
    """Telegram HTML for one piece of Markdown (well-formed, everything else escaped)."""
    lines = clean(text).split("\n")
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        fence = _opens(line)
        if fence is not None:
            body: list[str] = []
            index += 1
            while index < len(lines) and not fence.closes(lines[index]):
                body.append(lines[index])
                index += 1
            index += 1  # the closing fence (or the end)
            code = "\n".join(body).strip("\n")
            if code.strip():
                out.append(_code_block(code, fence.language))
            continue
        quote = _QUOTE.match(line)
        if quote is not None:
            quoted: list[str] = []
            while index < len(lines):
                match = _QUOTE.match(lines[index])
                if match is None:
                    break
                quoted.append(_inline(match.group(1)))
                index += 1
            body_html = "\n".join(quoted).strip("\n")
            if body_html.strip():
                out.append(f"<blockquote>{body_html}</blockquote>")
            continue
        out.append(_line(line))
        index += 1
    result = "\n".join(out)
    result = re.sub(r"\n{3,}", "\n\n", result)
    return result.strip("\n").rstrip()


def _code_block(code: str, language: str | None) -> str:
    escaped = html.escape(code, quote=False)
    if language:
        return f'<pre><code class="language-{html.escape(language)}">{escaped}</code></pre>'
    return f"<pre>{escaped}</pre>"


def _line(line: str) -> str:
    if _RULE.match(line):
        return "———"
    heading = _HEADING.match(line)
    if heading is not None:
        title = _inline(heading.group(1))
        return f"<b>{title}</b>" if title.strip() else ""
    bullet = _BULLET.match(line)
    if bullet is not None:
        indent, item = bullet.groups()
        return f"{indent}• {_inline(item)}"
    return _inline(line)


# -- inline ------------------------------------------------------------------------------------

_ESCAPED = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|~<>])")
_CODE_SPAN = re.compile(r"(?<![`\\])(`+)(?!`)(.+?)(?<!`)\1(?!`)")
_URL = r"(?:https?://|tg://|mailto:)[^\s()<>\"]+(?:\([^\s()<>\"]*\)[^\s()<>\"]*)*"
_LINK = re.compile(r"!?\[([^\[\]\n]+)\]\(\s*(" + _URL + r")(?:\s+\"[^\"\n]*\")?\s*\)")
_AUTOLINK = re.compile(r"<(" + _URL + r")>")
_BARE_URL = re.compile(r"https?://[^\s<>\"]+")
_SLOT = re.compile(r"\x00(\d+)\x00")
_TAG = re.compile(r"<(/?)([a-z]+)[^>]*>")

_EMPHASIS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\*\*\*(?=\S)(.+?)(?<=\S)\*\*\*"), "b><i"),
    (re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*"), "b"),
    (re.compile(r"(?<!\w)__(?=\S)(.+?)(?<=\S)__(?!\w)"), "b"),
    (re.compile(r"~~(?=\S)(.+?)(?<=\S)~~"), "s"),
    (re.compile(r"(?<!\*)\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?!\*)"), "i"),
    (re.compile(r"(?<!\w)_(?=[^\s_])(.+?)(?<=[^\s_])_(?!\w)"), "i"),
)


def _balanced(fragment: str) -> bool:
    stack: list[str] = []
    for match in _TAG.finditer(fragment):
        closing, name = match.groups()
        if not closing:
            stack.append(name)
        elif not stack or stack.pop() != name:
            return False
    return not stack


class _Inline:
    """Inline Markdown of one line. Finished HTML is parked in numbered slots
    (``\\x00n\\x00``) so later passes can neither escape nor split it."""

    def __init__(self) -> None:
        self.slots: list[str] = []

    def hold(self, fragment: str) -> str:
        self.slots.append(fragment)
        return f"\x00{len(self.slots) - 1}\x00"

    def convert(self, text: str, *, links: bool = True) -> str:
        text = _CODE_SPAN.sub(self._code, text)
        text = _ESCAPED.sub(lambda m: self.hold(html.escape(m.group(1), quote=False)), text)
        if links:
            text = _LINK.sub(self._link, text)
            text = _AUTOLINK.sub(self._autolink, text)
            # Bare URLs are left to Telegram, but kept away from the emphasis passes.
            text = _BARE_URL.sub(lambda m: self.hold(html.escape(m.group(0), quote=False)), text)
        text = html.escape(text, quote=False)
        for pattern, tag in _EMPHASIS:
            text = pattern.sub(_wrapper(tag), text)
        return text

    def _code(self, match: re.Match[str]) -> str:
        body = match.group(2)
        if body.strip():
            body = body.strip() if body.startswith(" ") and body.endswith(" ") else body
        return self.hold(f"<code>{html.escape(body, quote=False)}</code>")

    def _link(self, match: re.Match[str]) -> str:
        label, url = match.groups()
        inner = self.convert(label, links=False)
        return self.hold(f'<a href="{html.escape(url, quote=True)}">{inner}</a>')

    def _autolink(self, match: re.Match[str]) -> str:
        url = match.group(1)
        return self.hold(
            f'<a href="{html.escape(url, quote=True)}">{html.escape(url, quote=False)}</a>'
        )

    def restore(self, text: str) -> str:
        while "\x00" in text:
            text = _SLOT.sub(lambda m: self.slots[int(m.group(1))], text)
        return text


def _wrapper(tag: str) -> Callable[[re.Match[str]], str]:
    def wrap(match: re.Match[str]) -> str:
        inner = match.group(1)
        if not _balanced(inner):
            return match.group(0)
        closing = "><".join(f"/{name}" for name in reversed(tag.split("><")))
        return f"<{tag}>{inner}<{closing}>"

    return wrap


def _inline(text: str) -> str:
    converter = _Inline()
    return converter.restore(converter.convert(text))


# -- both --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Part:
    """One message: the HTML to send, and the Markdown source as the plain-text fallback."""

    html: str
    source: str


def to_parts(text: str, limit: int = MESSAGE_LIMIT) -> list[Part]:
    """Split and render a whole answer; parts that would show nothing are dropped."""
    parts = [Part(render(piece), piece.strip()) for piece in split_markdown(text, limit)]
    return [part for part in parts if part.html.strip()]


def to_part(text: str) -> Part | None:
    """Render one piece that already fits (see :func:`take_chunk`); None when empty."""
    piece = clean(text)
    rendered = render(piece)
    return Part(rendered, piece.strip()) if rendered.strip() else None
