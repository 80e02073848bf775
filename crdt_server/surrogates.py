"""Where a document's text may not be cut: between the two UTF-16 halves of a character.

Yjs counts text in UTF-16 units, so a stock client may insert or delete between the halves
of an emoji; Yjs then turns both halves into U+FFFD, while pycrdt (whose strings are UTF-8)
keeps the character and puts the edit elsewhere: the server and its clients would disagree
for good. The room remembers the ID of every second half its text has held, compactly, and
refuses an update that cuts at one (:class:`~crdt_server.update_check.UpdateStats` says where
each update cuts).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable

from .update_check import UpdateStats


class PairHalves:
    """Per client, the sorted clocks of second halves (4 bytes each)."""

    def __init__(self) -> None:
        self._clocks: dict[int, array[int]] = {}

    def add(self, halves: Iterable[tuple[int, int]]) -> None:
        for client, clock in halves:
            clocks = self._clocks.setdefault(client, array("I"))
            if not clocks or clocks[-1] < clock:
                clocks.append(clock)  # a client's new text comes in clock order
            else:
                at = bisect_left(clocks, clock)
                if at == len(clocks) or clocks[at] != clock:
                    clocks.insert(at, clock)

    def __contains__(self, id: tuple[int, int]) -> bool:
        clocks = self._clocks.get(id[0])
        if clocks is None:
            return False
        at = bisect_left(clocks, id[1])
        return at < len(clocks) and clocks[at] == id[1]

    def splits(self, stats: UpdateStats) -> bool:
        """Whether the update cuts a character its document (or the update itself) holds."""
        own = set(stats.pair_halves)
        return any(cut in own or cut in self for cut in stats.cuts)
