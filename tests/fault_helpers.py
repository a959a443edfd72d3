"""Shared by the fault tests: another process's writer holding the database."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class Lock:
    """A second sqlite3 connection holding ``BEGIN EXCLUSIVE`` in a thread (like an
    operator's ``sqlite3`` shell or a long backup) until :meth:`release` or ``seconds``."""

    def __init__(self, path: Path, seconds: float) -> None:
        self.path = path
        self.seconds = seconds
        self.held = threading.Event()
        self.released = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._hold, daemon=True)

    def _hold(self) -> None:
        con = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        try:
            con.execute("BEGIN EXCLUSIVE")
            self.held.set()
            self._stop.wait(self.seconds)
            con.execute("COMMIT")
        finally:
            con.close()
            self.released.set()

    def take(self) -> Lock:
        self._thread.start()
        if not self.held.wait(10):
            raise AssertionError(f"could not lock {self.path}")
        return self

    def release(self) -> None:
        self._stop.set()
        self.released.wait(10)
        self._thread.join(10)


@contextmanager
def locked(path: Path, seconds: float) -> Iterator[threading.Event]:
    """Hold the lock for ``seconds``; yields (once it is held) the "released" event."""
    lock = Lock(path, seconds).take()
    try:
        yield lock.released
    finally:
        lock.released.wait(seconds + 10)
        lock.release()
