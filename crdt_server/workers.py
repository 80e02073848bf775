"""CRDT work whose cost the content decides, tried in worker processes under a deadline.

pycrdt holds the GIL while it integrates a state, and some states cost far more than their
size says: 2.3 MB written by 10k interleaved client ids took 6.4 s to read back, two honest
typists' 643 KB 11 ms (bench/shadow_cost.py). A thread does not spare the event loop, so
such work is done (a merge's shadow document) or timed first (a room load, a large update)
in another process, which is killed at its deadline. The loop then does only what was
measured to fit its budget; a worker crashed by a hostile state takes no one else down.

The pool is shared, so each client (the key its quotas are counted under) has at most one
piece of work in it at a time: a client's 64 sockets sending costly updates queue behind
each other, not in front of everyone else's loads and merges.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TypeVar

from pebble import ProcessExpired, ProcessPool
from pycrdt import Doc

from .document import YDoc
from .limits import Limits
from .protocol import DocumentFull, RoomReset
from .update_check import UpdateRejected, check_update

T = TypeVar("T")
log = logging.getLogger(__name__)

#: Work on fewer bytes of state than this is done on the loop without asking: the costliest
#: 64 KB shapes measured (300 client ids x 20 rounds, interleaved) integrate in under 3 ms.
INLINE_STATE_BYTES = 64 * 1024
_MIB = 1024 * 1024

#: Whose work the current task does: the client key, set for every request (REST and
#: WebSocket alike) by the REST guard; a room's load is its session's (everyone joining
#: waits for it), work started by the server itself the server's.
WORK_FOR: ContextVar[str] = ContextVar("work_for", default="server")


class TooCostly(DocumentFull):
    """Integrating the content would hold the event loop past its budget: nothing was
    applied (a document-size refusal: 413, 1009 or DOCUMENT_TOO_LARGE)."""


def budget_ms(limits: Limits, size: int) -> float:
    """How long integrating ``size`` bytes may hold the loop: a fixed part plus a rate far
    below what honest documents cost (17 ms per MiB), so only pathological shapes fail."""
    return limits.integrate_budget_ms + limits.integrate_ms_per_mib * size / _MIB


def deadline_s(limits: Limits, size: int) -> float:
    """When a worker's try is given up: well past the budget (the worker may be slowed by
    the machine), at least a second."""
    return max(1.0, 4 * budget_ms(limits, size) / 1000)


def integration_ms(parts: Sequence[bytes]) -> float:
    """CPU milliseconds pycrdt takes to integrate ``parts`` into a new document, in order
    (CPU, not wall time: a busy machine slows the worker, not what the loop would pay).
    Stops at the first part the update check refuses or pycrdt raises on (the caller's
    own load stops there too)."""
    doc: YDoc = Doc()
    spent = 0.0
    for part in parts:
        try:
            check_update(part)
        except UpdateRejected:
            break
        started = time.thread_time()
        try:
            doc.apply_update(part)
        except BaseException:
            break
        spent += time.thread_time() - started
    return spent * 1000


def update_ms(state: bytes, update: bytes) -> float:
    """CPU milliseconds integrating ``update`` takes on a document at ``state``."""
    doc: YDoc = Doc()
    try:
        doc.apply_update(state)
        started = time.thread_time()
        doc.apply_update(update)
    except BaseException:
        return 0.0  # the room meets the same refusal on its own document, and handles it
    return (time.thread_time() - started) * 1000


@dataclass(slots=True)
class _Line:
    """One client's place in the pool: its work, one piece at a time."""

    turn: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: int = 0


class Workers:
    """A small pool of worker processes, started on first use (most servers never need it).

    forkserver: a worker is forked from a clean process, not from the server with its
    rooms, sockets and threads.
    """

    def __init__(self, processes: int = 2) -> None:
        self._processes = processes
        self._pool: ProcessPool | None = None
        self._lines: dict[str, _Line] = {}

    def _started(self) -> ProcessPool:
        if self._pool is None or not self._pool.active:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload([__name__])  # each fork starts with pycrdt loaded
            self._pool = ProcessPool(max_workers=self._processes, context=context)
        return self._pool

    async def run(self, timeout: float, function: Callable[..., T], *args: object) -> T:
        """``function(*args)`` in a worker, once the client it is done for has nothing else
        there; TooCostly once it passes ``timeout`` seconds (the worker is killed) or kills
        its worker."""
        owner = WORK_FOR.get()
        line = self._lines.setdefault(owner, _Line())
        line.waiting += 1
        try:
            async with line.turn:
                return await self._scheduled(timeout, function, *args)
        finally:
            line.waiting -= 1
            if not line.waiting:
                del self._lines[owner]

    async def _scheduled(self, timeout: float, function: Callable[..., T], *args: object) -> T:
        future = self._started().schedule(function, args, timeout=timeout)
        try:
            return await asyncio.wrap_future(future)
        except FutureTimeout:
            raise TooCostly(f"integrating it took longer than {timeout:.1f} s") from None
        except ProcessExpired:
            raise TooCostly("integrating it stopped the worker process") from None
        except BrokenProcessPool as exc:  # ours, not the content's: a new pool next time
            log.error("worker processes failed: %s", exc)
            self._pool = None
            raise RoomReset("the worker processes failed; try again") from None
        except asyncio.CancelledError:
            future.cancel()  # type: ignore[no-untyped-call]
            raise

    async def check_load(self, limits: Limits, parts: Sequence[bytes]) -> None:
        """Raise TooCostly if building a document from ``parts`` would hold the loop past
        its budget."""
        size = sum(map(len, parts))
        if size < INLINE_STATE_BYTES:
            return
        spent = await self.run(deadline_s(limits, size), integration_ms, list(parts))
        allowed = budget_ms(limits, size)
        if spent > allowed:
            raise TooCostly(f"integrating it takes {spent:.0f} ms, the limit is {allowed:.0f} ms")

    async def check_update(self, limits: Limits, state: bytes, update: bytes) -> None:
        """Raise TooCostly if applying ``update`` to the document at ``state`` would hold
        the loop past its budget."""
        if len(update) < INLINE_STATE_BYTES:
            return
        size = len(state) + len(update)
        spent = await self.run(deadline_s(limits, size), update_ms, state, update)
        allowed = budget_ms(limits, len(update))
        if spent > allowed:
            raise TooCostly(
                f"integrating the update takes {spent:.0f} ms, the limit is {allowed:.0f} ms"
            )

    def close(self) -> None:
        """Stop the workers (server shutdown); work still running is abandoned."""
        if self._pool is not None:
            self._pool.stop()  # type: ignore[no-untyped-call]
            self._pool.join(timeout=5)
            self._pool = None


#: The server's workers (one process-wide pool, like the merge thread).
WORKERS = Workers()
