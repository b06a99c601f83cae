"""Small read-mostly views of database state kept in memory for the hot paths (who may send
what, open windows, switched-off flows).

``Refreshed`` holds one loaded value. The first read (and the first after ``invalidate``)
loads it at once; after ``ttl`` seconds the next read starts one reload in a background thread
and goes on answering from the value it has, so a request never waits for the database because
a view went stale. Changes made in this process call ``invalidate`` and show at once; changes
made elsewhere (another process, the admin CLI) show within ``ttl``.

A view that is costly to load can give a ``stamp``: a cheap read that changes whenever the data
behind the view changes (register.repository.stamp). After ``ttl`` the stamp is read first and
the view is loaded again only when it differs from the one read before the last load."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger("eduketen.cache")


class Refreshed(Generic[T]):
    def __init__(self, load: Callable[[], T], ttl: float, stamp: Callable[[], object] | None = None) -> None:
        self._load_fn, self._ttl, self._stamp_fn = load, ttl, stamp
        self._value: T | None = None
        self._stamp: object = None  # the stamp read before the value was loaded (None: unknown)
        self.loads = 0  # how often the value was loaded (for tests and diagnostics)
        self._loaded = 0.0
        self._generation = 0  # bumped by invalidate: a reload begun before it must not win
        self._lock = threading.Lock()
        self._refreshing = False

    def invalidate(self) -> None:
        with self._lock:
            self._generation += 1
            self._value = None

    def get(self) -> T:
        value = self._value
        if value is None:
            return self.reload()
        if time.monotonic() - self._loaded > self._ttl and not self._refreshing:
            self._refreshing = True
            threading.Thread(target=self._background, daemon=True, name="view-refresh").start()
        return value

    def reload(self) -> T:
        """Load now (in the calling thread) and keep the result."""
        generation = self._generation
        stamp = self._read_stamp()  # before the load: a change made during it shows next time
        value = self._load_fn()
        with self._lock:
            self.loads += 1
            if generation == self._generation:
                self._value, self._loaded, self._stamp = value, time.monotonic(), stamp
        return value

    def _read_stamp(self) -> object:
        if self._stamp_fn is None:
            return None
        try:
            return self._stamp_fn()
        except Exception as exc:  # noqa: BLE001  (no stamp: load every time, as without one)
            log.warning("view stamp unreadable, loading in full: %s", type(exc).__name__)
            return None

    def _unchanged(self) -> bool:
        """The stamp read now equals the one read before the last load (then the value is current)."""
        if self._stamp is None:
            return False
        generation = self._generation
        stamp = self._read_stamp()
        if stamp is None or stamp != self._stamp:
            return False
        with self._lock:
            if generation != self._generation:
                return False
            self._loaded = time.monotonic()
        return True

    def _background(self) -> None:
        try:
            if not self._unchanged():
                self.reload()
        except Exception as exc:  # noqa: BLE001  (keep answering from the value we have; a later read tries again)
            log.warning("view reload failed, answering from the previous load: %s", type(exc).__name__)
        finally:
            self._refreshing = False
