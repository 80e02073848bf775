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
