"""Deadline-bound polling, so tests wait on conditions instead of sleeping."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def wait_until(
    predicate: Callable[[], Awaitable[T]],
    timeout: float = 10.0,
    interval: float = 0.05,
    what: str | None = None,
) -> T:
    """Poll `predicate` until it returns something truthy and return that value.

    For conditions nobody pushes an event for (e.g. "both docs converged").
    Raises TimeoutError naming `what` and the last value seen, so a failing
    test says what it was waiting for instead of just "timeout".
    """
    last: T | None = None
    try:
        async with asyncio.timeout(timeout):
            while True:
                last = await predicate()
                if last:
                    return last
                await asyncio.sleep(interval)  # poll interval, bounded by the deadline
    except TimeoutError:
        label = what or getattr(predicate, "__name__", "condition")
        raise TimeoutError(
            f"timed out after {timeout}s waiting for {label}; last value: {last!r}"
        ) from None
