"""Taking turns on the event loop, so no socket and no client can hold it.

A frame that is already buffered is handed over without the reading task ever pausing, so
forty sockets flooding at once would each run through their whole backlog before the loop
polls again: nobody else is accepted, read or answered meanwhile. Each socket keeps a
``Turn``; once the frames it handled since it last paused have cost ``budget_s`` of the
loop, it pauses once (``asyncio.sleep(0)``), which lets the loop poll and run everyone
else before it goes on. Honest sockets rarely pause, and a pause costs a few microseconds.

Taking turns is not enough when one client opens many sockets: every loop iteration then
runs a turn of each, and everyone else waits that long for each step of theirs. So the
loop time of a client's sockets is charged to its address (``LoopShares``): past its share
its sockets wait, unread, until the share has paid the debt back.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable

#: The loop time one socket may hold before it lets the others run: about one JSON edit,
#: or a few Yjs updates.
TURN_SECONDS = 0.0001
#: The loop time a client may take at once before its share holds it back.
SHARE_BURST_SECONDS = 0.02


class LoopShares:
    """Each client's share of the event loop, paid after the fact: a balance of seconds
    per key that grows at ``share`` a second up to ``burst_s`` and may go into debt.
    At most ``max_keys`` keys, the least recently charged dropped first."""

    def __init__(
        self,
        share: float,
        *,
        burst_s: float = SHARE_BURST_SECONDS,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.share = share
        self._burst = burst_s
        self._max_keys = max_keys
        self._clock = clock
        self._balances: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def charge(self, key: str, seconds: float) -> float:
        """Charge ``seconds`` of loop time to ``key``; the seconds it must now wait."""
        now = self._clock()
        balance, at = self._balances.get(key, (self._burst, now))
        balance = min(self._burst, balance + (now - at) * self.share) - seconds
        self._balances[key] = (balance, now)
        self._balances.move_to_end(key)
        while len(self._balances) > self._max_keys:
            self._balances.popitem(last=False)
        return 0.0 if balance >= 0 else -balance / self.share

    def debt(self, key: str) -> float:
        """The seconds ``key`` must still wait, charging nothing."""
        balance, at = self._balances.get(key, (self._burst, self._clock()))
        balance = min(self._burst, balance + (self._clock() - at) * self.share)
        return 0.0 if balance >= 0 else -balance / self.share


class Turn:
    """The loop time one socket's frames have cost since it last let others run, charged
    to its client's share when there is one."""

    __slots__ = ("_budget", "_clock", "_held", "_key", "_shares", "_started", "held_back")

    def __init__(
        self,
        shares: LoopShares | None = None,
        key: str = "",
        *,
        budget_s: float = TURN_SECONDS,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._shares = shares
        self._key = key
        self._budget = budget_s
        self._clock = clock
        self._held = 0.0
        self._started = clock()
        self.held_back = 0  # frames after which the client's share made it wait

    async def start(self) -> None:
        """A frame has arrived: wait while its client is past its share (another of its
        sockets spent it), then count its handling from now. Charging only after a frame
        would let each of a client's sockets handle one more before any of them waits: eight
        sockets sending eight whole documents at once would hold the loop eight times over.
        The debt is read again after each wait: the client's sockets that waited together
        wake together, and the first of them to run puts the others back into debt."""
        waited = False
        while self._shares is not None and (debt := self._shares.debt(self._key)) > 0:
            waited = True
            await asyncio.sleep(debt)
        self.held_back += waited
        self._started = self._clock()

    async def end(self, wait: float = 0.0) -> None:
        """Count the frame just handled, then pause: ``wait`` seconds (the socket's own
        rate), longer if its client is past its share, else once its turn is used up."""
        spent = self._clock() - self._started
        self._held += spent
        if self._shares is not None:
            debt = self._shares.charge(self._key, spent)
            if debt > wait:
                wait = debt
                self.held_back += 1
        if wait > 0:
            self._held = 0.0
            await asyncio.sleep(wait)
        elif self._held >= self._budget:
            self._held = 0.0
            await asyncio.sleep(0)
