"""Index conversions and minimal text edits for pycrdt ``Text``.

pycrdt counts UTF-8 bytes, Yjs and Monaco count UTF-16 code units and Python
slices count code points. Every conversion between them lives here, so an
index never lands inside a multi-byte character (an insert there silently
goes to the end of the text; a delete there panics).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass

from pycrdt import Text

#: Below this many changed characters on both sides a character-level diff is cheap enough.
_CHAR_DIFF_LIMIT = 2000


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


def _opcodes(a: list[str] | str, b: list[str] | str) -> Iterator[tuple[str, int, int, int, int]]:
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    yield from matcher.get_opcodes()


def _offsets(parts: list[str]) -> list[int]:
    out = [0]
    for part in parts:
        out.append(out[-1] + len(part))
    return out


def diff(old: str, new: str) -> list[Edit]:
    """Edits that turn ``old`` into ``new``, touching as little as possible.

    Common prefix and suffix are kept; the middle is diffed by lines, and by
    characters when it is small, so concurrent edits elsewhere survive.
    """
    if old == new:
        return []
    p = _common_prefix(old, new)
    s = _common_suffix(old, new, min(len(old), len(new)) - p)
    a, b = old[p : len(old) - s], new[p : len(new) - s]
    if not a or not b:
        return [Edit(p, p + len(a), b)]
    if len(a) + len(b) <= _CHAR_DIFF_LIMIT:
        return [
            Edit(p + i1, p + i2, b[j1:j2])
            for tag, i1, i2, j1, j2 in _opcodes(a, b)
            if tag != "equal"
        ]
    if "\n" not in a and "\n" not in b:
        return [Edit(p, p + len(a), b)]
    la, lb = a.splitlines(keepends=True), b.splitlines(keepends=True)
    oa, ob = _offsets(la), _offsets(lb)
    return [
        Edit(p + oa[i1], p + oa[i2], b[ob[j1] : ob[j2]])
        for tag, i1, i2, j1, j2 in _opcodes(la, lb)
        if tag != "equal"
    ]


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
