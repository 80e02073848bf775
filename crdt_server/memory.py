"""Handing freed memory back to the system (glibc only; elsewhere these do nothing).

A room's document lives in Rust (yrs) and is freed through glibc's malloc when the room
unloads, but glibc keeps freed pages in its arenas, one per thread that ever allocated
(the storage thread, the merge and update-check workers, ...): a server whose rooms come
and go grows in RSS though nothing is live. Fewer arenas and a trim after unloads keep
RSS at what is in use.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import platform

log = logging.getLogger(__name__)

_M_ARENA_MAX = -8  # mallopt parameter, from glibc's malloc.h


def _glibc() -> ctypes.CDLL | None:
    if platform.libc_ver()[0] != "glibc":
        return None
    name = ctypes.util.find_library("c")
    return None if name is None else ctypes.CDLL(name)


_LIBC = _glibc()


def limit_arenas(count: int = 2) -> None:
    """At start-up, before threads exist: at most ``count`` malloc arenas."""
    if _LIBC is not None and _LIBC.mallopt(_M_ARENA_MAX, count) != 1:
        log.warning("could not limit malloc arenas to %d", count)


def _trim_now() -> None:
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


class Trimmer:
    """Returns free heap pages to the system a moment after memory was freed.

    Requests coalesce: one trim runs ``delay_s`` after the first request, and never sooner
    than ``every_s`` after the last trim, so a burst of unloads costs one trim, and the last
    unload of a burst is trimmed too (a trim that merely skipped when too soon left the
    pages of the last rooms to go in the heap for good). The trim takes a few milliseconds
    on a large heap and runs in a worker thread; it starts after the freeing code has
    dropped its references, which a trim awaited inside that code could not.
    """

    def __init__(self, *, delay_s: float = 1.0, every_s: float = 10.0) -> None:
        self._delay = delay_s
        self._every = every_s
        self._last = -every_s
        self._timer: asyncio.TimerHandle | None = None
        self._running: asyncio.Future[None] | None = None

    def request(self) -> None:
        """Ask for a trim soon (from the event loop)."""
        if _LIBC is None or self._timer is not None:
            return
        loop = asyncio.get_running_loop()
        due = max(loop.time() + self._delay, self._last + self._every)
        self._timer = loop.call_at(due, self._start)

    def _start(self) -> None:
        self._timer = None
        if self._running is not None and not self._running.done():
            self.request()  # the last one is still at work: come back later
            return
        loop = asyncio.get_running_loop()
        self._last = loop.time()
        self._running = loop.run_in_executor(None, _trim_now)

    async def close(self) -> None:
        """Drop a pending trim and wait for a running one (shutdown)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._running is not None:
            await self._running
