"""Helpers for the execution tests: deadline-bound waiting and looking at host processes."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from execution import Executor

T = TypeVar("T")
ExecutorFactory = Callable[..., Awaitable[Executor]]

PROJECT_DIR = Path(__file__).resolve().parents[2]


async def wait_until(
    predicate: Callable[[], T], timeout: float = 10.0, what: str = "condition"
) -> T:
    """Poll a cheap predicate until it is truthy; fail naming ``what`` at the deadline."""
    try:
        async with asyncio.timeout(timeout):
            while not (value := predicate()):
                await asyncio.sleep(0.02)
            return value
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}") from None


def pids_with_marker(marker: str) -> list[int]:
    """Host pids whose command line contains ``marker`` (sandboxed processes included)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as cmdline:
                if marker.encode() in cmdline.read():
                    found.append(int(name))
        except OSError:
            continue
    return found


def reexec_with_marker(body: str, marker: str) -> str:
    """Python source that re-executes ``body`` with ``marker`` on its command line.

    Every process forked from it then carries the marker, so the test can count and find
    them from the host.
    """
    return (
        f"import os, sys\nos.execv(sys.executable, [sys.executable, '-c', {body!r}, {marker!r}])\n"
    )
