"""What a loaded room holds of its log, when several processes number it: entries arrive out
of order (a relayed one overtaking this process's own commit), and the room may fold only up
to the last entry before its first hole."""

from __future__ import annotations

from crdt_server.update_log import _Tail
from storage import Appended


def test_entries_seen_out_of_order_fold_only_up_to_the_first_hole() -> None:
    tail = _Tail(folded=3)
    tail.saw(6, 7)  # another process's, relayed ahead of 4 and 5
    assert tail.folded == 3 and tail.holds(6) and not tail.holds(5)
    tail.committed(Appended(4, 4), size=10)  # this process's own
    assert tail.folded == 4 and tail.ahead == [(6, 7)]
    tail.saw(5, 5)
    assert tail.folded == 7 and tail.ahead == []
    assert (tail.updates, tail.size) == (1, 10)  # only its own commits count toward compaction


def test_overlapping_and_stale_ranges_change_nothing_twice() -> None:
    tail = _Tail(folded=10)
    tail.saw(3, 9)  # a catch-up reading what the room had already
    assert tail.folded == 10 and tail.ahead == []
    tail.saw(12, 15)
    tail.saw(11, 13)  # a catch-up overlapping a relayed range
    assert tail.folded == 15 and tail.ahead == []
