"""Whole-text writes merged as CRDT edits of the base they were made from.

REST writes and JSON ``code_change`` events carry a whole text, possibly made from an
older version than the room's. Diffing it against the room's current text would revert
every edit its writer had not seen. Instead it is diffed against a base the writer had:
the exact version it names, or else the remembered base it differs least from. The diff
is made as an edit of that base's document state, and the resulting update is applied to
the room, where it merges with everything that happened since.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from pycrdt import Doc, TransactionEvent

from .document import YDoc, code_text
from .textdiff import DIFF_BUDGET, diff, replace_text

#: Writes with this much text (old plus new) are planned off the event loop.
OFF_LOOP_CHARS = 4 * 1024  # bench/diff_stall.py: up to 60 ms on the loop at 16K
#: Where pure-Python work too large for the loop runs (merges, update checks): one thread,
#: so the loop only ever shares the interpreter with one other (more would not run sooner).
MERGES = ThreadPoolExecutor(max_workers=1, thread_name_prefix="python-work")


def version_tag(state: bytes) -> str:
    """A short tag naming a document state (pycrdt encodes a state deterministically).
    SHA-256 because it is the fastest hash here (CPU instructions): 6 ms for 8 MB, where
    BLAKE2b takes 13."""
    return hashlib.sha256(state).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Base:
    """A version of a document: its tag, its code, and its full state."""

    version: str
    text: str
    state: bytes


def change_size(old: str, new: str, budget: int = DIFF_BUDGET) -> tuple[int, int]:
    """How many characters turning ``old`` into ``new`` deletes and inserts."""
    edits = diff(old, new, budget)
    return sum(e.end - e.start for e in edits), sum(len(e.insert) for e in edits)


class Bases:
    """The last few versions a writer may have based a text on, newest last.

    Bounded by count and by bytes of state, so a large document keeps fewer. A version
    the writer itself produced is marked ``own``: its later texts supersede it.

    ``in_order``: one writer on one socket, which receives what it is sent in order. Once
    it has written a text made from a version it was sent, it had every version sent
    before that one too, and its next texts are made from newer ones: those are
    forgotten. (Otherwise a counter typed 9, 10 would look like an edit of the 0 it was
    sent on joining, which differs less from 10 than 9 does, and the merge would keep the
    9.) Many writers sharing one ``Bases`` (REST) keep them.
    """

    def __init__(
        self, depth: int = 4, budget_bytes: int = 64 * 1024 * 1024, *, in_order: bool = False
    ) -> None:
        self._items: deque[tuple[Base, bool]] = deque()
        self._depth = depth
        self._budget = budget_bytes
        self._in_order = in_order

    def remember(self, base: Base, *, own: bool = False, made_from: str | None = None) -> None:
        """Keep ``base``; ``made_from``: the version the writer's text was merged as an
        edit of, when ``base`` is the writer's result."""
        if self._in_order and made_from is not None:
            self._forget_sent_up_to(made_from)
        if self._items and self._items[-1][0].version == base.version:
            return
        self._items.append((base, own))
        size = sum(len(b.state) for b, _ in self._items)
        while len(self._items) > self._depth or (len(self._items) > 1 and size > self._budget):
            size -= len(self._items.popleft()[0].state)

    def _forget_sent_up_to(self, version: str) -> None:
        at = next((i for i, (b, _) in enumerate(self._items) if b.version == version), None)
        if at is not None:
            self._items = deque((b, own) for i, (b, own) in enumerate(self._items) if own or i > at)

    def drop_older_own(self) -> None:
        """Forget the writer's own versions but the newest: it wrote its newest text after
        them, so no later text of its is made from them (diffing against one would re-apply
        edits it has undone since). Versions it was sent may still be in flight: they stay."""
        newest = next((b for b, own in reversed(self._items) if own), None)
        self._items = deque((b, own) for b, own in self._items if not own or b is newest)

    def find(self, version: str) -> Base | None:
        return next((b for b, _ in reversed(self._items) if b.version == version), None)

    def newest_first(self) -> list[Base]:
        return [b for b, _ in reversed(self._items)]


def closest(current: str, bases: Sequence[Base], text: str) -> Base | None:
    """The remembered version ``text`` was most plausibly made from; None: the current one.

    An older version is taken only when ``text`` is an edit of it (they share at least
    half of the longer one) and differs from it less than from ``current``: a text that
    shares little with anything replaces what is there now.
    """
    budget = DIFF_BUDGET // (len(bases) + 1)  # all candidates together cost one diff
    best, best_size = None, sum(change_size(current, text, budget))
    for base in bases:
        deleted, inserted = change_size(base.text, text, budget)
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


@dataclass(frozen=True, slots=True)
class Plan:
    """A whole-text write worked out: the updates to apply, and the writer's version after."""

    updates: list[bytes]
    result: Base
    made_from: str  # the version the text was merged as an edit of


def plan_write(current: Base, bases: Sequence[Base], text: str, base: Base | None) -> Plan:
    """Work out a write of ``text`` made from ``base`` (None: the closest of ``bases`` and
    ``current``). Touches only its arguments and a Doc of its own: safe in a thread."""
    chosen = base or closest(current.text, bases, text) or current
    updates, shadow = edit_of(chosen, text)
    state = shadow.get_update()
    return Plan(updates, Base(version_tag(state), text, state), chosen.version)
