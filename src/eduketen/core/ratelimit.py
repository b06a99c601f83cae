"""A token bucket per caller: ``rate`` requests per second sustained, ``burst`` at once."""

from __future__ import annotations

import threading
import time


class RateLimiter:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when allowed; otherwise the seconds to wait before the next request."""
        now = time.monotonic()
        with self._lock:
            tokens, stamp = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - stamp) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate if self.rate > 0 else 60.0

    def peek(self, key: str) -> float:
        """0 when at least one token is left (none is taken); otherwise the seconds until one is."""
        now = time.monotonic()
        with self._lock:
            entry = self._buckets.get(key)
            if entry is None:
                return 0.0
            tokens = min(float(self.burst), entry[0] + (now - entry[1]) * self.rate)
            if tokens >= 1.0:
                if tokens >= self.burst:  # full again: forget the client (bounded memory)
                    del self._buckets[key]
                return 0.0
            return (1.0 - tokens) / self.rate if self.rate > 0 else 60.0
