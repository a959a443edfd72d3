"""The model's Markdown as rich message blocks (Bot API ``InputRichMessage.blocks``).

A rich message shows what a text message cannot: tables, LaTeX formulas, collapsible blocks
and up to :data:`TEXT_LIMIT` characters. The answer is parsed with markdown-it (CommonMark,
GFM tables and strikethrough, ``$…$``/``$$…$$`` and ``\\(…\\)``/``\\[…\\]`` math) and each
top-level block is converted on its own: a block that cannot be converted (a table with too
many columns, a formula whose braces do not balance, anything unexpected) is shown as
preformatted source, and the rest of the answer is unaffected.

Blocks are plain JSON-shaped dicts (the Bot API's field names); the Telegram front turns
them into aiogram objects. Limits from the Bot API's "rich message limits" are kept here:
an answer that does not fit one message is cut between top-level blocks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.texmath import texmath_plugin

Block = dict[str, Any]
RichText = str | list[Any] | dict[str, Any]

TEXT_LIMIT = 32_768  # characters of text in one rich message, formula sources included
BLOCK_LIMIT = 500  # blocks, list items and table rows in one message
DEPTH_LIMIT = 16  # nesting of blocks and formatting
COLUMN_LIMIT = 20  # columns of a table
THOUGHT_LIMIT = 8_000  # characters of a reasoning model's thinking shown (its end is kept)
# Where nesting stops being reproduced: deeper content is shown as plain text, leaving room
# for the formatting inside a paragraph (bold in a link in a list item…).
_FLATTEN_DEPTH = DEPTH_LIMIT - 6

# A GFM table: a row with a pipe, then a delimiter row (dashes, colons and pipes).
_TABLE = re.compile(
    r"^[^\n]*\|[^\n]*\n[ \t]*\|?[ \t]*:?-+:?[ \t]*(\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$", re.M
)
_MATH = re.compile(r"\$\$|\\\(|\\\[|(?<![\\$\w])\$[^\s$\d][^$\n]*?(?<![\s\\])\$(?!\d)")


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    # No digits right after "$": "$5 and $10" stays money, not a formula.
    md.use(dollarmath_plugin, allow_digits=False, double_inline=True)
    md.use(texmath_plugin, delimiters="brackets")
    return md


_MD = _parser()


def needs_rich(text: str) -> bool:
    """The answer shows something a text message cannot: a table or a formula."""
    return bool(_TABLE.search(text) or _MATH.search(text))


def text_length(value: Any) -> int:
    """Characters of text in a rich text or block, formula sources included (what the
    Bot API counts against :data:`TEXT_LIMIT`)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return sum(text_length(item) for item in value)
    if isinstance(value, dict):
        total = 0
        for key, item in value.items():
            if key in ("text", "expression", "summary", "caption") or isinstance(item, list | dict):
                total += text_length(item)
        return total
    return 0


def block_count(block: Block) -> int:
    """Blocks, list items and table rows in ``block`` (itself included)."""
    count = 1
    for item in block.get("items") or []:
        count += 1 + sum(block_count(b) for b in item.get("blocks", []))
    for child in block.get("blocks") or []:
        count += block_count(child)
    count += len(block.get("cells") or [])
    return count


@dataclass(slots=True)
class RichPart:
    """One rich message: its blocks, and the Markdown it was made from (what is sent as a
    text message when Telegram refuses the rich one)."""

    blocks: list[Block]
    source: str
    length: int = 0
    count: int = 0


@dataclass(slots=True)
class _Piece:
    block: Block
    source: str
    length: int = field(init=False)
    count: int = field(init=False)

    def __post_init__(self) -> None:
        self.length = text_length(self.block)
        self.count = block_count(self.block)


def rich_parts(
    markdown: str,
    *,
    thought: str | None = None,
    thought_label: str = "Thinking",
    limit: int = TEXT_LIMIT,
) -> list[RichPart]:
    """The answer as one or more rich messages, each within the Bot API's limits; a
    reasoning model's ``thought`` goes first, as a collapsed block."""
    pieces: list[_Piece] = []
    if thought and thought.strip():
        pieces.append(_Piece(thinking_block(thought, thought_label), ""))
    pieces += [p for piece in blocks_of(markdown) for p in _fit(piece, limit)]
    parts: list[RichPart] = []
    current = RichPart([], "")
    for piece in pieces:
        if current.blocks and (
            current.length + piece.length > limit or current.count + piece.count > BLOCK_LIMIT
        ):
            parts.append(current)
            current = RichPart([], "")
        current.blocks.append(piece.block)
        current.source = f"{current.source}\n\n{piece.source}" if current.source else piece.source
        current.length += piece.length
        current.count += piece.count
    if current.blocks:
        parts.append(current)
    return parts


def thinking_block(thought: str, label: str) -> Block:
    """The thinking, collapsed under ``label`` (plain paragraphs: it is not the answer)."""
    text = thought.strip()
    if len(text) > THOUGHT_LIMIT:
        text = "…" + text[-THOUGHT_LIMIT:]
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    return {
        "type": "details",
        "summary": label,
        "blocks": [{"type": "paragraph", "text": p} for p in paragraphs],
    }


def thinking_placeholder(label: str) -> Block:
    """The animated "thinking" block of a draft (allowed in drafts only)."""
    return {"type": "thinking", "text": label}


def blocks_of(markdown: str) -> list[_Piece]:
    """Top-level blocks with their Markdown source; each converted on its own."""
    lines = markdown.splitlines()
    root = SyntaxTreeNode(_MD.parse(markdown))
    pieces: list[_Piece] = []
    for node in root.children:
        source = _source(node, lines)
        try:
            blocks = _Converter().block(node, 0)
        except Exception:
            blocks = [preformatted(source)]
        pieces += [_Piece(block, source) for block in blocks]
    return pieces


def preformatted(text: str, language: str | None = None) -> Block:
    block: Block = {"type": "pre", "text": text.rstrip("\n") or " "}
    if language:
        block["language"] = language
    return block


def _source(node: SyntaxTreeNode, lines: list[str]) -> str:
    if node.map is None:  # \[…\] blocks carry no line map
        if node.type == "math_block":
            return f"\\[{node.content}\\]"
        return node.content
    start, end = node.map
    return "\n".join(lines[start:end])


def _fit(piece: _Piece, limit: int) -> list[_Piece]:
    """A block too long for one message becomes plain chunks of its source."""
    if piece.length <= limit and piece.count <= BLOCK_LIMIT:
        return [piece]
    kind = "pre" if piece.block.get("type") in ("pre", "table") else "paragraph"
    text = piece.source
    out: list[_Piece] = []
    while text:
        head = text[:limit]
        if len(text) > limit:
            cut = head.rfind("\n")
            head = head[:cut] if cut > limit // 2 else head
        text = text[len(head) :].lstrip("\n")
        out.append(_Piece({"type": kind, "text": head}, head))
    return out


def balanced(expression: str) -> bool:
    """Braces and ``\\left``/``\\right``, ``\\begin``/``\\end`` pair up: what Telegram's
    formula renderer needs at the least. An unbalanced formula is shown as code instead."""
    depth = 0
    index = 0
    while index < len(expression):
        char = expression[index]
        if char == "\\":
            index += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth < 0:
                return False
        index += 1
    if depth != 0 or not expression.strip():
        return False
    pairs = (("\\left", "\\right"), ("\\begin{", "\\end{"))
    return all(expression.count(a) == expression.count(b) for a, b in pairs)


class _Converter:
    """One top-level block's syntax tree into blocks and rich texts."""

    def block(self, node: SyntaxTreeNode, depth: int) -> list[Block]:
        kind = node.type
        if depth >= _FLATTEN_DEPTH and kind not in ("paragraph", "inline"):
            return [{"type": "paragraph", "text": _plain(node) or " "}]
        if kind == "paragraph":
            return [{"type": "paragraph", "text": self.inline(node.children, depth + 1)}]
        if kind == "heading":
            size = int(node.tag[1:]) if node.tag[1:].isdigit() else 2
            return [
                {"type": "heading", "size": size, "text": self.inline(node.children, depth + 1)}
            ]
        if kind in ("fence", "code_block"):
            language = node.info.split()[0] if node.info.strip() else None
            return [preformatted(node.content, language)]
        if kind in ("math_block", "math_block_label", "math_block_eqno"):
            expression = node.content.strip()
            if not balanced(expression):
                return [preformatted(expression, "latex")]
            return [{"type": "mathematical_expression", "expression": expression}]
        if kind == "hr":
            return [{"type": "divider"}]
        if kind == "blockquote":
            inner = [b for child in node.children for b in self.block(child, depth + 1)]
            return [{"type": "blockquote", "blocks": inner or [_empty()]}]
        if kind in ("bullet_list", "ordered_list"):
            return [self.listing(node, depth)]
        if kind == "table":
            return [self.table(node, depth)]
        if kind == "html_block":
            return [{"type": "paragraph", "text": node.content.strip() or " "}]
        raise ValueError(f"unexpected block {kind}")

    def listing(self, node: SyntaxTreeNode, depth: int) -> Block:
        items: list[Block] = []
        ordered = node.type == "ordered_list"
        start = int(node.attrs.get("start", 1) or 1) if ordered else 1
        for number, item in enumerate(node.children, start):
            inner = [b for child in item.children for b in self.block(child, depth + 2)]
            entry: Block = {"blocks": inner or [_empty()]}
            if ordered:
                entry["value"] = number
                entry["type"] = "1"
            items.append(entry)
        return {"type": "list", "items": items}

    def table(self, node: SyntaxTreeNode, depth: int) -> Block:
        rows: list[list[Block]] = []
        for section in node.children:  # thead, tbody
            for row in section.children:
                cells = []
                for cell in row.children:
                    style = str(cell.attrs.get("style", ""))
                    align = next(
                        (a for a in ("left", "center", "right") if f"text-align:{a}" in style),
                        "left",
                    )
                    text = self.inline(cell.children, depth + 2)
                    entry: Block = {"align": align, "valign": "top", "text": text or " "}
                    if cell.type == "th":
                        entry["is_header"] = True
                    cells.append(entry)
                rows.append(cells)
        if not rows or max(len(r) for r in rows) > COLUMN_LIMIT:
            raise ValueError("table too wide")
        return {"type": "table", "cells": rows, "is_bordered": True}

    def inline(self, nodes: list[SyntaxTreeNode], depth: int) -> RichText:
        pieces: list[Any] = []
        for node in nodes:
            if node.type == "inline":
                pieces.append(self.inline(node.children, depth))
                continue
            pieces.append(self.span(node, depth))
        return _join(pieces)

    def span(self, node: SyntaxTreeNode, depth: int) -> RichText:
        kind = node.type
        if kind == "text":
            return node.content
        if kind in ("softbreak", "hardbreak"):
            return "\n"
        if kind in ("code_inline", "html_inline"):
            return {"type": "code", "text": node.content} if kind == "code_inline" else node.content
        if kind in ("math_inline", "math_inline_double", "math_single"):
            expression = node.content.strip()
            if not balanced(expression):
                return {"type": "code", "text": node.content}
            return {"type": "mathematical_expression", "expression": expression}
        if depth >= DEPTH_LIMIT - 2:
            return _plain(node)
        inner = self.inline(node.children, depth + 1)
        if kind == "strong":
            return {"type": "bold", "text": inner}
        if kind == "em":
            return {"type": "italic", "text": inner}
        if kind == "s":
            return {"type": "strikethrough", "text": inner}
        if kind == "link":
            href = str(node.attrs.get("href", ""))
            if href.startswith(("http://", "https://", "tg://", "mailto:")):
                return {"type": "url", "text": inner or href, "url": href}
            return inner
        if kind == "image":
            src = str(node.attrs.get("src", ""))
            alt = _plain(node) or src
            if src.startswith(("http://", "https://")):
                return {"type": "url", "text": alt, "url": src}
            return alt
        return _plain(node)


def _empty() -> Block:
    return {"type": "paragraph", "text": " "}


def _plain(node: SyntaxTreeNode) -> str:
    if node.type in ("text", "code_inline", "math_inline", "fence", "code_block"):
        return node.content
    if node.type in ("softbreak", "hardbreak"):
        return "\n"
    return "".join(_plain(child) for child in node.children)


def _join(pieces: list[Any]) -> RichText:
    merged: list[Any] = []
    for piece in pieces:
        if isinstance(piece, list):
            piece = _join(piece)
        if piece == "" or piece == []:
            continue
        if isinstance(piece, str) and merged and isinstance(merged[-1], str):
            merged[-1] += piece
        else:
            merged.append(piece)
    if not merged:
        return ""
    return merged[0] if len(merged) == 1 else merged
