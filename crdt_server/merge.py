"""Whole-text writes merged as CRDT edits of the base they were made from.

REST writes and JSON ``code_change`` events carry a whole text, possibly made from an
older version than the room's. Diffing it against the room's current text would revert
every edit its writer had not seen. Instead it is diffed against a base the writer had:
the exact version it names, or else the remembered base it differs least from. The diff
is made as an edit of that base's document state, and the resulting update is applied to
the room, where it merges with everything that happened since.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from pycrdt import Doc, TransactionEvent

from .document import YDoc, code_text
from .textdiff import diff, replace_text


@dataclass(frozen=True, slots=True)
class Base:
    """A version of a document: its tag, its code, and its full state."""

    version: str
    text: str
    state: bytes


def change_size(old: str, new: str) -> tuple[int, int]:
    """How many characters turning ``old`` into ``new`` deletes and inserts."""
    edits = diff(old, new)
    return sum(e.end - e.start for e in edits), sum(len(e.insert) for e in edits)


class Bases:
    """The last few versions a writer may have based a text on, newest last.

    Bounded by count and by bytes of state, so a large document keeps fewer.
    """

    def __init__(self, depth: int = 4, budget_bytes: int = 64 * 1024 * 1024) -> None:
        self._items: deque[Base] = deque()
        self._depth = depth
        self._budget = budget_bytes

    def remember(self, base: Base) -> None:
        if self._items and self._items[-1].version == base.version:
            return
        self._items.append(base)
        size = sum(len(b.state) for b in self._items)
        while len(self._items) > self._depth or (len(self._items) > 1 and size > self._budget):
            size -= len(self._items.popleft().state)

    def find(self, version: str) -> Base | None:
        return next((b for b in reversed(self._items) if b.version == version), None)

    def newest_first(self) -> list[Base]:
        return list(reversed(self._items))


def closest(current: str, bases: Bases, text: str) -> Base | None:
    """The remembered version ``text`` was most plausibly made from; None: the current one.

    An older version is taken only when ``text`` is an edit of it (they share at least
    half of the longer one) and differs from it less than from ``current``: a text that
    shares little with anything replaces what is there now.
    """
    best, best_size = None, sum(change_size(current, text))
    for base in bases.newest_first():
        deleted, inserted = change_size(base.text, text)
        shared = len(base.text) - deleted
        related = shared * 2 >= max(len(base.text), len(text))
        if related and deleted + inserted < best_size:
            best, best_size = base, deleted + inserted
    return best


def edit_of(base: Base, text: str) -> tuple[list[bytes], YDoc]:
    """The updates that turn the document at ``base`` into one whose code is ``text``,
    and that document (the writer's version once its edit is made)."""
    shadow: YDoc = Doc()
    shadow.apply_update(base.state)
    updates: list[bytes] = []

    def collect(event: TransactionEvent) -> None:
        updates.append(event.update)

    subscription = shadow.observe(collect)
    try:
        with shadow.transaction(origin="merge"):
            replace_text(code_text(shadow), text)
    finally:
        shadow.unobserve(subscription)
    return updates, shadow
