"""The text layer of one PDF, in a process of its own (``python -I pdf_worker.py ...``).

Run by :mod:`bot.services.documents`, never imported by the bot. A PDF is a program of sorts
(compressed streams, object graphs, fonts): a hostile or merely broken one can make a parser
spin or allocate without end. Here that costs one short-lived process, which limits its own
address space and CPU time before it reads a byte, and which the parent kills on a wall-clock
timeout; the bot's event loop never runs pypdf.

Protocol: the PDF's bytes on stdin; argv is ``max_chars memory_bytes cpu_seconds``; one JSON
object on stdout: ``{"status": "ok", "text", "pages", "pages_read", "truncated"}`` or
``{"status": "encrypted" | "broken"}``. Only the standard library and pypdf are imported, so
the script runs with ``-I`` (no PYTHONPATH, no user site, no current directory).
"""

from __future__ import annotations

import io
import json
import logging
import resource
import sys
from typing import Any


def limit(memory: int, cpu_seconds: int) -> None:
    """Cap this process: past ``memory`` bytes allocations fail (MemoryError), past
    ``cpu_seconds`` the kernel sends SIGXCPU (and SIGKILL a second later)."""
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))


def extract(data: bytes, max_chars: int) -> dict[str, Any]:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            # Many PDFs are "encrypted" with an empty user password (only printing or copying
            # is restricted): those open, anything else needs a password we do not have.
            try:
                if not reader.decrypt(""):
                    return {"status": "encrypted"}
            except Exception:  # pypdf raises several types here (missing AES backend too)
                return {"status": "encrypted"}
        pages = len(reader.pages)
        parts: list[str] = []
        size = 0
        read = 0
        for page in reader.pages:
            text = page.extract_text() or ""
            read += 1
            parts.append(text)
            size += len(text) + 2
            if size > max_chars:
                break
    except Exception:  # a damaged file can fail anywhere inside the parser
        return {"status": "broken"}
    text = "\n\n".join(parts)
    truncated = len(text) > max_chars or read < pages
    return {
        "status": "ok",
        "text": text[:max_chars],
        "pages": pages,
        "pages_read": read,
        "truncated": truncated,
    }


def main(argv: list[str]) -> int:
    max_chars, memory, cpu_seconds = (int(arg) for arg in argv[1:4])
    limit(memory, cpu_seconds)
    # pypdf logs every repaired object of a damaged file; the parent only needs the result.
    logging.disable(logging.CRITICAL)
    data = sys.stdin.buffer.read()
    try:
        result = extract(data, max_chars)
    except (MemoryError, RecursionError):
        result = {"status": "broken"}
    sys.stdout.write(json.dumps(result))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
