"""Taking turns on the event loop, so a socket with many frames buffered cannot hold it.

A frame that is already buffered is handed over without the reading task ever pausing, so
forty sockets flooding at once would each run through their whole backlog before the loop
polls again: nobody else is accepted, read or answered meanwhile. Each socket keeps a
``Turn``; once the frames it handled since it last paused have cost ``budget_s`` of the
loop, it pauses once (``asyncio.sleep(0)``), which lets the loop poll and run everyone
else before it goes on. Honest sockets rarely pause, and a pause costs a few microseconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

#: The loop time one socket may hold before it lets the others run: about one JSON edit,
#: or a few Yjs updates.
TURN_SECONDS = 0.0001


class Turn:
    """The loop time one socket's frames have cost since it last let others run."""

    __slots__ = ("_budget", "_clock", "_held", "_started")

    def __init__(
        self, budget_s: float = TURN_SECONDS, *, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self._budget = budget_s
        self._clock = clock
        self._held = 0.0
        self._started = clock()

    def start(self) -> None:
        """A frame has arrived: its handling is counted from now."""
        self._started = self._clock()

    def rested(self) -> None:
        """The socket paused anyway (it was slowed down): the count starts over."""
        self._held = 0.0

    async def end(self) -> None:
        """Count the frame just handled; pause once the turn is used up."""
        self._held += self._clock() - self._started
        if self._held >= self._budget:
            self._held = 0.0
            await asyncio.sleep(0)
