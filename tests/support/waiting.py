"""Deadline-bound polling, so tests wait on conditions instead of sleeping."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast, overload

T = TypeVar("T")


@overload
async def wait_until(
    predicate: Callable[[], Awaitable[T | None]],
    timeout: float = 10.0,
    interval: float = 0.05,
    what: str | None = None,
) -> T: ...


@overload
async def wait_until(
    predicate: Callable[[], T | None],
    timeout: float = 10.0,
    interval: float = 0.05,
    what: str | None = None,
) -> T: ...


async def wait_until(
    predicate: Callable[[], Awaitable[T | None]] | Callable[[], T | None],
    timeout: float = 10.0,
    interval: float = 0.05,
    what: str | None = None,
) -> T:
    """Poll `predicate` (plain or async) until it returns something truthy; return that value.

    For conditions nobody pushes an event for (e.g. "both docs converged").
    Raises TimeoutError naming `what` and the last value seen, so a failing
    test says what it was waiting for instead of just "timeout".
    """
    last: T | None = None
    try:
        async with asyncio.timeout(timeout):
            while True:
                value = predicate()
                last = cast("T | None", await value) if inspect.isawaitable(value) else value
                if last:
                    return last
                await asyncio.sleep(interval)  # poll interval, bounded by the deadline
    except TimeoutError:
        label = what or getattr(predicate, "__name__", "condition")
        raise TimeoutError(
            f"timed out after {timeout}s waiting for {label}; last value: {last!r}"
        ) from None
