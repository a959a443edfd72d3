"""``python -m bench.pdf``: the PDF path of documents as questions, measured.

Reads generated PDFs through :class:`bot.services.documents.DocumentReader` exactly as the
bot does (a limited child process per file) and prints, as Markdown:

* pages per second end to end (process start, pypdf, JSON back) for a short and a long
  document, and the worker's peak RSS (``ru_maxrss`` of the waited children);
* a memory bomb (a few KiB that inflate to hundreds of MiB): how long until it is refused;
* the event loop's worst delay while parsers run (what every other user waits at most).

``--pages`` and ``--lines`` set the long document (default 200 pages of 45 lines, ~3000
characters a page: a dense book). ``DOCUMENT_MAX_CHARS`` is set high enough that every page
is read.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time

from bot.services.documents import DocumentReader, UnreadablePdf
from tests.pdf_samples import bomb_pdf, text_pdf

LINE = "The quick brown fox jumps over the lazy dog; pack my box with five dozen jugs. {n}"


def book(pages: int, lines: int) -> bytes:
    return text_pdf(
        ["\n".join(LINE.format(n=f"{p}.{i}") for i in range(lines)) for p in range(pages)]
    )


def peak_child_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux


async def loop_lag(stop: asyncio.Event) -> float:
    worst = 0.0
    while not stop.is_set():
        before = time.perf_counter()
        await asyncio.sleep(0.01)
        worst = max(worst, time.perf_counter() - before - 0.01)
    return worst


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--lines", type=int, default=45)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    reader = DocumentReader(max_chars=10_000_000)
    # Every input is made before measuring: building them is CPU work on this loop.
    short, long_ = book(1, args.lines), book(args.pages, args.lines)
    bomb = bomb_pdf(300)
    batch = [book(50, args.lines) for _ in range(4)]
    rows: list[str] = []
    stop = asyncio.Event()
    lag = asyncio.create_task(loop_lag(stop))
    for label, pdf, pages in (("1 page", short, 1), (f"{args.pages} pages", long_, args.pages)):
        best = float("inf")
        chars = 0
        for _ in range(args.repeat):
            started = time.perf_counter()
            read = await reader.read(pdf)
            best = min(best, time.perf_counter() - started)
            chars = len(read.text)
        rows.append(
            f"| {label} ({len(pdf) // 1024} KiB, {chars} chars) | {best:.2f} s | "
            f"{pages / best:.0f} | {peak_child_rss_mb():.0f} MiB |"
        )
    started = time.perf_counter()
    try:
        await reader.read(bomb)
        outcome = "read (!)"
    except UnreadablePdf:
        outcome = "refused"
    bomb_time = time.perf_counter() - started
    bomb_peak = peak_child_rss_mb()
    # Several parsers at once, as under load: the loop must stay responsive.
    await asyncio.gather(*(reader.read(pdf) for pdf in batch))
    stop.set()
    worst_lag = await lag
    print(f"| document | time (best of {args.repeat}) | pages/s | worker peak RSS |")
    print("| --- | --- | --- | --- |")
    print("\n".join(rows))
    print(
        f"\nmemory bomb ({len(bomb) // 1024} KiB inflating to 300 MiB): {outcome} in "
        f"{bomb_time:.2f} s, worker peak RSS {bomb_peak:.0f} MiB (bound: 512 MiB of address "
        f"space); worst event-loop delay while parsing: {worst_lag * 1000:.0f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main())
