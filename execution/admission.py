"""Who runs next: numbered slots, a bounded line, per-owner shares, round-robin order.

A plain semaphore let one client's burst fill every slot and the whole line, so everyone
else got 429 until the burst drained. Here every run names its owners (``client:…``,
``session:…``); each owner may hold at most ``max_running_per_owner`` slots and
``max_queued_per_owner`` places in the line, and the excess is refused at once. When a slot
frees, the waiter whose owners started a run longest ago goes first (ties: arrival order),
so owners take turns instead of one burst being served in FIFO order.

Slots are numbered so a run can be pinned to "its" CPU (slot i -> CPU i mod cores).
Runs without owners are bounded only by the global limits (internal callers, tests).
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from .errors import QueueFull
from .model import ExecutionLimits


@dataclass(frozen=True)
class Ticket:
    """One admitted run: the slot it holds and the owners it is charged to."""

    slot: int
    owners: tuple[str, ...]


@dataclass(eq=False)
class _Waiter:
    owners: tuple[str, ...]
    arrival: int
    granted: asyncio.Future[int] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Admission:
    """The engine's slots and line; every method runs on the event loop, none blocks."""

    def __init__(self, limits: ExecutionLimits) -> None:
        self._limits = limits
        self._free = list(range(limits.max_concurrent))  # slot numbers, lowest first
        self._waiting: list[_Waiter] = []
        self._running: Counter[str] = Counter()  # owner -> slots held
        self._queued: Counter[str] = Counter()  # owner -> places in the line
        self._last_start: dict[str, int] = {}  # owner -> tick of its latest start
        self._ticks = itertools.count()

    @property
    def running(self) -> int:
        """Slots held right now."""
        return self._limits.max_concurrent - len(self._free)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def acquire(self, owners: Sequence[str]) -> Ticket:
        """A slot for a run of ``owners``, or QueueFull (at once, or after the queue timeout)."""
        # One key given bare is one owner, not its characters; a key given twice counts once.
        keys = (owners,) if isinstance(owners, str) else tuple(dict.fromkeys(owners))
        if self._free and self._may_start(keys):
            return self._start(keys)
        self._check_room(keys)
        waiter = _Waiter(keys, next(self._ticks))
        self._enqueue(waiter)
        try:  # shielded: on timeout or cancellation _abandon settles the future itself
            async with asyncio.timeout(self._limits.queue_timeout_ms / 1000):
                slot = await asyncio.shield(waiter.granted)
        except TimeoutError:
            self._abandon(waiter)
            raise QueueFull("no free slot to run code within the queue timeout") from None
        except BaseException:
            self._abandon(waiter)
            raise
        return Ticket(slot, keys)

    def release(self, ticket: Ticket) -> None:
        """A run's sandbox is gone: free its slot and hand slots to whoever is next."""
        for owner in ticket.owners:
            self._running[owner] -= 1
            if self._running[owner] <= 0:
                del self._running[owner]
                self._forget(owner)
        self._free.append(ticket.slot)
        self._free.sort()
        self._dispatch()

    def _may_start(self, owners: tuple[str, ...]) -> bool:
        share = self._limits.max_running_per_owner
        return all(self._running[owner] < share for owner in owners)

    def _check_room(self, owners: tuple[str, ...]) -> None:
        if len(self._waiting) >= self._limits.max_queue:
            raise QueueFull("too many code runs are waiting; try again shortly")
        share = self._limits.max_queued_per_owner
        if any(self._queued[owner] >= share for owner in owners):
            raise QueueFull("you already have the most code runs allowed waiting; try again soon")

    def _start(self, owners: tuple[str, ...]) -> Ticket:
        tick = next(self._ticks)
        for owner in owners:
            self._running[owner] += 1
            self._last_start[owner] = tick
        return Ticket(self._free.pop(0), owners)

    def _enqueue(self, waiter: _Waiter) -> None:
        self._waiting.append(waiter)
        for owner in waiter.owners:
            self._queued[owner] += 1

    def _dequeue(self, waiter: _Waiter) -> None:
        self._waiting.remove(waiter)
        for owner in waiter.owners:
            self._queued[owner] -= 1
            if self._queued[owner] <= 0:
                del self._queued[owner]
                self._forget(owner)

    def _forget(self, owner: str) -> None:
        """Drop the turn record of an owner with nothing running or waiting (bounded state)."""
        if owner not in self._running and owner not in self._queued:
            self._last_start.pop(owner, None)

    def _dispatch(self) -> None:
        """Give free slots to eligible waiters, the least recently served owners first."""
        while self._free:
            eligible = [w for w in self._waiting if self._may_start(w.owners)]
            if not eligible:
                return
            waiter = min(eligible, key=self._turn)
            self._dequeue(waiter)
            ticket = self._start(waiter.owners)
            waiter.granted.set_result(ticket.slot)

    def _turn(self, waiter: _Waiter) -> tuple[int, int]:
        served = max((self._last_start.get(owner, -1) for owner in waiter.owners), default=-1)
        return served, waiter.arrival

    def _abandon(self, waiter: _Waiter) -> None:
        """The waiter timed out or was cancelled: leave the line, or return a granted slot."""
        if not waiter.granted.done():
            waiter.granted.cancel()
            self._dequeue(waiter)
            return
        if not waiter.granted.cancelled():  # granted in the same tick it gave up
            self.release(Ticket(waiter.granted.result(), waiter.owners))
