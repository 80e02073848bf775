"""Counting what one client does per window of time, in bounded memory.

Used for the bounds that are about a client rather than a session (sessions created per
address per hour, say). Keys are opaque strings (``"ip:203.0.113.7"``); the table keeps at
most ``max_keys`` of them, dropping the ones whose window has passed first.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class WindowCounter:
    """At most ``limit`` events per key in any ``window_s`` (a fixed window per key)."""

    def __init__(
        self,
        limit: int,
        window_s: float,
        *,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._max_keys = max_keys
        self._clock = clock
        self._windows: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def blocked(self, key: str) -> float | None:
        """Seconds until ``key`` may act again if its window is used up, else None (counts
        nothing)."""
        start, count = self._windows.get(key, (0.0, 0))
        wait = start + self.window_s - self._clock()
        return wait if count >= self.limit and wait > 0 else None

    def take(self, key: str) -> float | None:
        """Count one event; None when allowed, else the seconds until it would be."""
        now = self._clock()
        start, count = self._windows.get(key, (now, 0))
        if now - start >= self.window_s:
            start, count = now, 0
        if count >= self.limit:
            return max(0.001, start + self.window_s - now)
        self._windows[key] = (start, count + 1)
        self._windows.move_to_end(key)
        while len(self._windows) > self._max_keys:
            self._windows.popitem(last=False)  # the least recently active key
        return None


class Pacer:
    """A token bucket that answers how long to wait: one per socket, for messages and bytes.

    A client within its rate never waits; one past it is slowed to it (its socket is not
    read meanwhile, so TCP pushes back on it), and nobody else notices.
    """

    def __init__(
        self,
        messages_per_s: float,
        bytes_per_s: float,
        *,
        burst_bytes: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rates = (messages_per_s, bytes_per_s)
        self._bursts = (2 * messages_per_s, max(2 * bytes_per_s, burst_bytes))
        self._tokens = list(self._bursts)
        self._clock = clock
        self._at = clock()
        self.throttled = 0  # messages that had to wait

    def delay(self, size: int) -> float:
        """Count one message of ``size`` bytes; returns the seconds to wait before the next."""
        now = self._clock()
        elapsed, self._at = now - self._at, now
        wait = 0.0
        for i, cost in enumerate((1.0, float(size))):
            rate, burst = self._rates[i], self._bursts[i]
            self._tokens[i] = min(burst, self._tokens[i] + elapsed * rate) - cost
            if self._tokens[i] < 0:
                wait = max(wait, -self._tokens[i] / rate)
        if wait:
            self.throttled += 1
        return wait


class OpenCounts:
    """Open things per key (sockets per client address), at most ``limit`` each."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._counts: dict[str, int] = {}

    def open(self, key: str) -> bool:
        """Count one more for ``key``; False (and nothing counted) past the limit."""
        count = self._counts.get(key, 0)
        if count >= self.limit:
            return False
        self._counts[key] = count + 1
        return True

    def close(self, key: str) -> None:
        count = self._counts.get(key, 0) - 1
        if count > 0:
            self._counts[key] = count
        else:
            self._counts.pop(key, None)


class Buckets:
    """A token bucket per key (requests per client address): ``rate`` a second, bursts of
    twice that; at most ``max_keys`` keys, the least recently used dropped first."""

    def __init__(
        self, rate: float, *, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self._burst = 2 * rate
        self._max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str) -> float | None:
        """Take one token; None when there was one, else the seconds until there is."""
        now = self._clock()
        tokens, at = self._buckets.get(key, (self._burst, now))
        tokens = min(self._burst, tokens + (now - at) * self.rate)
        wait = None if tokens >= 1 else (1 - tokens) / self.rate
        self._buckets[key] = (tokens - 1 if wait is None else tokens, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        return wait
