"""``python -m bot`` with a CPU profiler that runs only while the benchmark measures.

``SIGUSR1`` starts (or resumes) profiling the main thread, ``SIGUSR2`` pauses it and writes
the stats gathered so far to ``$BENCH_PROFILE``; start-up (importing aiogram) stays out.
Read the file with ``python -m pstats``.
"""

from __future__ import annotations

import cProfile
import os
import runpy
import signal
import sys
from types import FrameType

profiler = cProfile.Profile()
target = os.environ["BENCH_PROFILE"]


def resume(signum: int, frame: FrameType | None) -> None:
    profiler.enable()


def pause(signum: int, frame: FrameType | None) -> None:
    profiler.disable()
    profiler.dump_stats(target)


signal.signal(signal.SIGUSR1, resume)
signal.signal(signal.SIGUSR2, pause)
sys.argv = ["bot"]
runpy.run_module("bot", run_name="__main__", alter_sys=True)
