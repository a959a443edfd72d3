"""What a process costs, read from ``/proc`` (Linux): peak and current RSS, CPU seconds."""

from __future__ import annotations

import gc
import os
import time
from dataclasses import dataclass

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def memory_kb(pid: int) -> dict[str, int]:
    """``VmHWM`` (peak resident set) and ``VmRSS`` in kB; empty if the process is gone."""
    found: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                key, _, value = line.partition(":")
                if key in ("VmHWM", "VmRSS"):
                    found[key] = int(value.split()[0])
    except OSError:
        return {}
    return found


def peak_rss_mb(pid: int) -> float | None:
    value = memory_kb(pid).get("VmHWM")
    return None if value is None else round(value / 1024, 1)


def rss_mb(pid: int) -> float | None:
    value = memory_kb(pid).get("VmRSS")
    return None if value is None else round(value / 1024, 1)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of ``pid`` (all its threads) so far."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After the ")" closing the command name: state is field 3, utime 14, stime 15.
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


@dataclass
class CpuWindow:
    """CPU used by a child process and by this (the load generator + fakes) process."""

    pid: int
    child_start: float = 0.0
    self_start: float = 0.0

    def start(self) -> CpuWindow:
        self.child_start = cpu_seconds(self.pid) or 0.0
        self.self_start = cpu_seconds(os.getpid()) or 0.0
        return self

    def stop(self) -> tuple[float, float]:
        child = (cpu_seconds(self.pid) or self.child_start) - self.child_start
        mine = (cpu_seconds(os.getpid()) or self.self_start) - self.self_start
        return round(child, 2), round(mine, 2)


class DriverPauses:
    """The benchmark driver's own garbage-collector pauses during one load.

    The driver (fake Telegram, fake upstream, simulated users) is a Python process too: a full
    collection of its heap stops it for 100-230 ms, and every update it answers or records
    during that pause looks that much slower, whichever bot is measured. :meth:`start` collects
    and freezes what the driver built before the load, and holds back full (generation 2)
    collections until :meth:`stop` (the young generations are still collected: short-lived
    cycles don't pile up); it counts the pauses that still happen, and a result carries the
    longest, so a tail the driver caused shows as such.
    """

    def __init__(self) -> None:
        self.longest_ms = 0.0
        self.total_ms = 0.0
        self.count = 0
        self._began = 0.0
        self._thresholds: tuple[int, int, int] | None = None

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
            return
        pause = (time.perf_counter() - self._began) * 1000
        self.count += 1
        self.total_ms += pause
        self.longest_ms = max(self.longest_ms, pause)

    def start(self) -> DriverPauses:
        gc.collect()
        gc.freeze()
        young, middle, _ = self._thresholds = gc.get_threshold()
        gc.set_threshold(young, middle, 1_000_000)
        gc.callbacks.append(self._callback)
        return self

    def stop(self) -> dict[str, float]:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)
        if self._thresholds is not None:
            gc.set_threshold(*self._thresholds)
            self._thresholds = None
        return {
            "collections": self.count,
            "longest_ms": round(self.longest_ms, 1),
            "total_ms": round(self.total_ms, 1),
        }
