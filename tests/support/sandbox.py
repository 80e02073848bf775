"""Helpers for the execution tests: the executor factory type and host processes by marker."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from execution import Executor

ExecutorFactory = Callable[..., Awaitable[Executor]]

PROJECT_DIR = Path(__file__).resolve().parents[2]


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
