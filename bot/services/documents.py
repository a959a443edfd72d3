"""Documents as questions: what kind of file it is (by its bytes) and its text.

:class:`DocumentReader` turns a downloaded file into :class:`DocumentText` or raises a domain
error the user is told about (nothing is charged for it: the quota middleware gives the unit
back on any error):

* PDF (``%PDF-`` in the first KiB, whatever the name): its text layer, read by pypdf in a
  separate, limited process (:mod:`bot.services.pdf_worker`): at most ``pdf_timeout``
  seconds of wall-clock time, ``pdf_memory`` bytes of address space, and ``pdf_parallel``
  such processes at once. A PDF that hits a limit, is damaged, is encrypted or has no text
  layer (a scan) is refused with its own text.
* Text of any kind (plain, Markdown, CSV, JSON, source code): UTF-8 (with or without BOM),
  UTF-16 with a BOM, or Windows-1251 (what older Russian editors save). Bytes that decode to
  many control characters, or start like a known binary format, are not text, whatever the
  file is called.

At most ``max_chars`` characters of the text are kept; ``truncated`` says there was more.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.services.errors import DomainError

logger = logging.getLogger(__name__)

PDF = "pdf"
TEXT = "text"

_WORKER = Path(__file__).with_name("pdf_worker.py")

# Formats that are never text, by their first bytes (archives and Office files, images,
# executables, audio/video). Checked before decoding: some are mostly printable.
_BINARY_MAGIC = (
    b"PK\x03\x04",  # zip, docx, xlsx, odt, jar
    b"\xd0\xcf\x11\xe0",  # old Office (doc, xls)
    b"\x1f\x8b",  # gzip
    b"7z\xbc\xaf",
    b"Rar!",
    b"\x7fELF",
    b"\x89PNG",
    b"\xff\xd8\xff",
    b"GIF8",
    b"RIFF",
    b"OggS",
    b"fLaC",
    b"\x00\x00\x00",  # MP4/MOV boxes, and anything starting with NULs
    b"SQLite format 3",
)


class DocumentTooBig(DomainError):
    text_key = "doc.too_big"


class DocumentDownloadFailed(DomainError):
    text_key = "doc.download_failed"


class UnsupportedDocument(DomainError):
    """Neither a PDF nor text (an archive, an executable, a Word file, ...)."""

    text_key = "doc.unsupported"


class EncryptedPdf(DomainError):
    text_key = "doc.encrypted"


class ScannedPdf(DomainError):
    """A PDF without a text layer: pages are pictures (a scan)."""

    text_key = "doc.no_text"


class UnreadablePdf(DomainError):
    """Damaged, or over the time/memory bound of the parser."""

    text_key = "doc.unreadable"


class EmptyDocument(DomainError):
    text_key = "doc.empty"


@dataclass(frozen=True, slots=True)
class DocumentText:
    kind: str  # PDF or TEXT
    text: str
    truncated: bool
    total_chars: int | None = None  # TEXT: the whole file's length
    pages: int | None = None  # PDF: pages in the file, and how many were read
    pages_read: int | None = None


def sniff(data: bytes) -> str | None:
    """PDF, TEXT, or None (binary or unknown), from the bytes alone."""
    if b"%PDF-" in data[:1024]:
        return PDF
    return TEXT if decode_text(data) is not None else None


def decode_text(data: bytes) -> str | None:
    """The file as text, or None when it does not look like text."""
    if data.startswith(codecs.BOM_UTF8):
        candidates: tuple[str, ...] = ("utf-8-sig",)
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ("utf-16",)
    elif data.startswith(_BINARY_MAGIC) or b"\x00" in data[:8192]:
        return None
    else:
        candidates = ("utf-8", "cp1251")
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if _looks_like_text(text):
            return text
    return None


def _looks_like_text(text: str) -> bool:
    sample = text[:65536]
    if not sample:
        return True
    control = sum(1 for ch in sample if ch < " " and ch not in "\t\n\r\f")
    return control <= len(sample) // 100


class DocumentReader:
    def __init__(
        self,
        *,
        max_chars: int,
        pdf_timeout: float = 30.0,
        pdf_memory: int = 512 * 1024 * 1024,
        pdf_parallel: int = 2,
    ) -> None:
        self.max_chars = max_chars
        self.pdf_timeout = pdf_timeout
        self.pdf_memory = pdf_memory
        self._parsers = asyncio.Semaphore(pdf_parallel)

    async def read(self, data: bytes) -> DocumentText:
        kind = sniff(data)
        if kind == PDF:
            return await self.read_pdf(data)
        if kind is None:
            raise UnsupportedDocument("not a PDF and not text")
        text = decode_text(data) or ""
        if not text.strip():
            raise EmptyDocument("no text")
        return DocumentText(
            TEXT,
            text[: self.max_chars],
            truncated=len(text) > self.max_chars,
            total_chars=len(text),
        )

    async def read_pdf(self, data: bytes) -> DocumentText:
        async with self._parsers:
            result = await self._run_worker(data)
        status = result.get("status")
        if status == "encrypted":
            raise EncryptedPdf("encrypted PDF")
        if status != "ok":
            raise UnreadablePdf(f"PDF parser said {status!r}")
        text = str(result.get("text") or "")
        if sum(ch.isalnum() for ch in text[:10_000]) < 16:
            raise ScannedPdf("no text layer")
        return DocumentText(
            PDF,
            text,
            truncated=bool(result.get("truncated")),
            pages=int(result.get("pages") or 0),
            pages_read=int(result.get("pages_read") or 0),
        )

    async def _run_worker(self, data: bytes) -> dict[str, Any]:
        cpu = max(1, int(self.pdf_timeout))
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-I",
            str(_WORKER),
            str(self.max_chars),
            str(self.pdf_memory),
            str(cpu),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env={},  # the parser needs none of the bot's settings (tokens, keys)
        )
        try:
            async with asyncio.timeout(self.pdf_timeout):
                out, _ = await process.communicate(data)
        except TimeoutError:
            logger.warning("PDF parser stopped after %.0f s", self.pdf_timeout)
            return {"status": "timeout"}
        finally:
            if process.returncode is None:  # timed out, or the answer was cancelled
                process.kill()
                await process.wait()
        if process.returncode != 0:
            logger.warning("PDF parser exited with %s", process.returncode)
            return {"status": "crashed"}
        try:
            result = json.loads(out)
        except ValueError:
            return {"status": "garbled"}
        return result if isinstance(result, dict) else {"status": "garbled"}
