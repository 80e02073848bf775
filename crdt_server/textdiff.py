"""Index conversions and minimal text edits for pycrdt ``Text``.

pycrdt counts UTF-8 bytes, Yjs and Monaco count UTF-16 code units and Python
slices count code points. Every conversion between them lives here, so an
index never lands inside a multi-byte character (an insert there silently
goes to the end of the text; a delete there panics).
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from pycrdt import Text

#: Below this many changed characters on both sides the middle is diffed by characters.
_CHAR_DIFF_LIMIT = 2000
#: Steps one diff may search for a minimal edit before settling for a coarser one: a few
#: tens of milliseconds of Python (bench/diff_stall.py measures it), whatever the input.
DIFF_BUDGET = 200_000

#: Runs of equal tokens: (index in old, index in new, length).
Blocks = list[tuple[int, int, int]]


def utf8_len(s: str) -> int:
    """Length of ``s`` in pycrdt units (UTF-8 bytes)."""
    return len(s.encode("utf-8"))


def utf16_len(s: str) -> int:
    """Length of ``s`` in Yjs/Monaco units (UTF-16 code units)."""
    return len(s.encode("utf-16-le")) // 2


def utf16_to_index(s: str, units: int) -> int:
    """The code-point index of a UTF-16 offset, clamped to the text; never splits a pair."""
    if units <= 0:
        return 0
    if s.isascii():
        return min(units, len(s))
    count = 0
    for i, ch in enumerate(s):
        count += 2 if ord(ch) > 0xFFFF else 1
        if count > units:
            return i
    return len(s)


def index_to_utf16(s: str, index: int) -> int:
    """The UTF-16 offset of a code-point index."""
    return utf16_len(s[: max(0, index)])


@dataclass(frozen=True)
class Edit:
    """Replace ``old[start:end]`` (code points) with ``insert``."""

    start: int
    end: int
    insert: str


def _common_prefix(a: str, b: str) -> int:
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:  # binary search: slice compares run at C speed
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _common_suffix(a: str, b: str, limit: int) -> int:
    lo, hi = 0, limit
    la, lb = len(a), len(b)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[la - mid :] == b[lb - mid :]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _myers(a: Sequence[Hashable], b: Sequence[Hashable], budget: int) -> Blocks | None:
    """The matching blocks of a shortest edit script (Myers' greedy algorithm), or None once
    the search has taken ``budget`` steps: its cost grows with the number of edits, so a
    caller with very different texts gets None quickly and settles for a coarser diff."""
    n, m = len(a), len(b)
    limit = n + m
    offset = limit + 1
    v = [0] * (2 * limit + 3)
    trace: list[list[int]] = []
    steps = 0
    for d in range(limit + 1):
        trace.append(v[offset - d : offset + d + 1])  # v[k] for k in -d..d, before round d
        steps += 2 * d + 1
        for k in range(-d, d + 1, 2):
            if k == -d or (k != d and v[offset + k - 1] < v[offset + k + 1]):
                x = v[offset + k + 1]
            else:
                x = v[offset + k - 1] + 1
            y = x - k
            start = x
            while x < n and y < m and a[x] == b[y]:
                x += 1
                y += 1
            steps += x - start
            v[offset + k] = x
            if x >= n and y >= m:
                return _backtrack(trace, n, m)
        if steps > budget:
            return None
    return _backtrack(trace, n, m)  # pragma: no cover - the loop always finds the end


def _backtrack(trace: list[list[int]], n: int, m: int) -> Blocks:
    """Walk the rounds of :func:`_myers` back from the end; returns (i, j, size) runs."""
    blocks: Blocks = []
    x, y = n, m
    for d in range(len(trace) - 1, -1, -1):
        snap = trace[d]
        k = x - y
        if d == 0:
            prev_x = prev_y = 0
        else:
            down = k == -d or (k != d and snap[k - 1 + d] < snap[k + 1 + d])
            prev_k = k + 1 if down else k - 1
            prev_x = snap[prev_k + d]
            prev_y = prev_x - prev_k
        # the diagonal run from the end of the previous move up to (x, y)
        run_start_x = prev_x if d == 0 else (prev_x if prev_k == k + 1 else prev_x + 1)
        size = x - run_start_x
        if size > 0:
            blocks.append((x - size, y - size, size))
        x, y = prev_x, prev_y
    blocks.reverse()
    return blocks


def _anchored(a: Sequence[Hashable], b: Sequence[Hashable]) -> Blocks:
    """Matching blocks from the lines that occur once in each text, in order (patience
    diff's anchors, O(n log n)), grown over equal neighbours; the gaps are replaced."""
    count_a = Counter(a)
    count_b = Counter(b)
    where_b = {token: j for j, token in enumerate(b) if count_b[token] == 1}
    pairs = [(i, where_b[t]) for i, t in enumerate(a) if count_a[t] == 1 and t in where_b]
    # longest increasing run of j over pairs sorted by i (patience sorting)
    tails: list[int] = []
    tail_at: list[int] = []
    before = [-1] * len(pairs)
    for index, (_, j) in enumerate(pairs):
        slot = bisect.bisect_left(tails, j)
        if slot == len(tails):
            tails.append(j)
            tail_at.append(index)
        else:
            tails[slot], tail_at[slot] = j, index
        before[index] = tail_at[slot - 1] if slot else -1
    chain: list[tuple[int, int]] = []
    index = tail_at[-1] if tail_at else -1
    while index >= 0:
        chain.append(pairs[index])
        index = before[index]
    chain.reverse()
    blocks: Blocks = []
    done_a = done_b = 0
    for i, j in chain:
        if i < done_a:
            continue  # already inside a block grown from an earlier anchor
        lo = 0
        while i - lo - 1 >= done_a and j - lo - 1 >= done_b and a[i - lo - 1] == b[j - lo - 1]:
            lo += 1
        hi = 1
        while i + hi < len(a) and j + hi < len(b) and a[i + hi] == b[j + hi]:
            hi += 1
        blocks.append((i - lo, j - lo, lo + hi))
        done_a, done_b = i + hi, j + hi
    return blocks


def _edits(
    offset: int, a_starts: list[int], b_starts: list[int], b: str, blocks: Blocks
) -> list[Edit]:
    """Edits for the gaps between matching blocks; ``*_starts`` map tokens to characters."""
    edits = []
    i = j = 0
    for bi, bj, size in [*blocks, (len(a_starts) - 1, len(b_starts) - 1, 0)]:
        if bi > i or bj > j:
            edits.append(
                Edit(offset + a_starts[i], offset + a_starts[bi], b[b_starts[j] : b_starts[bj]])
            )
        i, j = bi + size, bj + size
    return edits


def _offsets(parts: list[str]) -> list[int]:
    out = [0]
    for part in parts:
        out.append(out[-1] + len(part))
    return out


def diff(old: str, new: str, budget: int = DIFF_BUDGET) -> list[Edit]:
    """Edits that turn ``old`` into ``new``, touching as little as its cost allows.

    Common prefix and suffix are kept; the middle is diffed by characters when it is
    small, else by lines. A search that would take more than ``budget`` steps gives way
    to a coarser one (lines, then the lines both texts have once), so the cost stays
    bounded whatever the texts, and ordinary typing still gets exact, minimal edits.
    """
    if old == new:
        return []
    p = _common_prefix(old, new)
    s = _common_suffix(old, new, min(len(old), len(new)) - p)
    a, b = old[p : len(old) - s], new[p : len(new) - s]
    if not a or not b:
        return [Edit(p, p + len(a), b)]
    if len(a) + len(b) <= _CHAR_DIFF_LIMIT:
        chars = _myers(a, b, budget)
        if chars is not None:
            return _edits(p, list(range(len(a) + 1)), list(range(len(b) + 1)), b, chars)
    if "\n" not in a and "\n" not in b:
        return [Edit(p, p + len(a), b)]
    la, lb = a.splitlines(keepends=True), b.splitlines(keepends=True)
    ids: dict[str, int] = {}
    ia = [ids.setdefault(line, len(ids)) for line in la]
    ib = [ids.setdefault(line, len(ids)) for line in lb]
    lines = _myers(ia, ib, budget)
    if lines is None:
        lines = _anchored(ia, ib)
    return _edits(p, _offsets(la), _offsets(lb), b, lines)


def apply_edits(text: Text, old: str, edits: list[Edit]) -> None:
    """Apply ``edits`` (computed against ``old``, the text's current content) to ``text``.

    Call inside a transaction. Works back to front so earlier offsets stay valid.
    """
    for edit in reversed(edits):
        start = utf8_len(old[: edit.start])
        length = utf8_len(old[edit.start : edit.end])
        if length:
            del text[start : start + length]
        if edit.insert:
            text.insert(start, edit.insert)


def replace_text(text: Text, new: str) -> int:
    """Make ``text`` equal ``new`` with minimal edits; returns how many edits were made."""
    old = str(text)
    edits = diff(old, new)
    apply_edits(text, old, edits)
    return len(edits)
