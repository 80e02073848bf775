"""The service's clock: Unix milliseconds, the unit of every timestamp on the wire and on disk."""

from __future__ import annotations

import time


def now_ms() -> int:
    return time.time_ns() // 1_000_000
