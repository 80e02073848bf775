"""Handing freed memory back to the system (glibc only; elsewhere these do nothing).

A room's document lives in Rust (yrs) and is freed through glibc's malloc when the room
unloads, but glibc keeps freed pages in its arenas, one per thread that ever allocated
(the storage thread, the merge and update-check workers, ...): a server whose rooms come
and go grows in RSS though nothing is live. Fewer arenas and a trim after unloads keep
RSS at what is in use.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import platform
import time

log = logging.getLogger(__name__)

_M_ARENA_MAX = -8  # mallopt parameter, from glibc's malloc.h
_TRIM_EVERY_S = 10.0


def _glibc() -> ctypes.CDLL | None:
    if platform.libc_ver()[0] != "glibc":
        return None
    name = ctypes.util.find_library("c")
    return None if name is None else ctypes.CDLL(name)


_LIBC = _glibc()
_last_trim = 0.0


def limit_arenas(count: int = 2) -> None:
    """At start-up, before threads exist: at most ``count`` malloc arenas."""
    if _LIBC is not None and _LIBC.mallopt(_M_ARENA_MAX, count) != 1:
        log.warning("could not limit malloc arenas to %d", count)


def trim() -> bool:
    """Return free heap pages to the system, at most every few seconds; True if it ran.
    Takes a few milliseconds on a large heap: call it from a worker thread."""
    global _last_trim
    now = time.monotonic()
    if _LIBC is None or now - _last_trim < _TRIM_EVERY_S:
        return False
    _last_trim = now
    _LIBC.malloc_trim(0)
    return True
