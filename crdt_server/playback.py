"""Playback: the session's document at any moment, and who wrote each part of it.

Every accepted change is kept with the server's time and its author (storage's edit log,
written with the update log in the same commit and never compacted). The document at a
moment is the log replayed up to it; who wrote what comes from following each change's text
delta with its author. Replaying is pycrdt work whose cost the content decides, so it runs in
a worker process under a deadline (:mod:`crdt_server.workers`).
"""

from __future__ import annotations

import itertools
from typing import Any

from pycrdt import Doc, Text, TextEvent

from .document import CODE, read_language

#: Authorship runs: [author, length] in order along the text (author None: the seed, a
#: server edit or an anonymous writer); lengths in pycrdt units (UTF-8 bytes) inside a
#: replay and in checkpoints, in characters in answers.
Runs = list[list[Any]]


class _Owners:
    """Who wrote each UTF-8 byte of the code, as a flat list of small numbers: following a
    delta is then list slicing (memmove), not a walk along runs."""

    def __init__(self, runs: Runs) -> None:
        self.authors: list[str | None] = []
        self._index: dict[str | None, int] = {}
        self.bytes: list[int] = []
        for author, size in runs:
            self.bytes += [self._code(author)] * int(size)

    def _code(self, author: str | None) -> int:
        if author not in self._index:
            self._index[author] = len(self.authors)
            self.authors.append(author)
        return self._index[author]

    def follow(self, delta: list[dict[str, Any]], author: str | None) -> None:
        at = 0
        for op in delta:
            if "retain" in op:
                at += int(op["retain"])
            elif "insert" in op:
                value = op["insert"]
                size = len(value.encode()) if isinstance(value, str) else 1
                self.bytes[at:at] = [self._code(author)] * size
                at += size
            elif "delete" in op:
                del self.bytes[at : at + int(op["delete"])]

    def runs(self) -> Runs:
        out: Runs = []
        for code, group in itertools.groupby(self.bytes):
            out.append([self.authors[code], sum(1 for _ in group)])
        return out


def _in_characters(runs: Runs, code: str) -> Runs:
    """``runs`` (UTF-8 bytes) as characters of ``code``, neighbours of one author joined."""
    data = code.encode()
    out: Runs = []
    at = 0
    for author, size in runs:
        length = len(data[at : at + size].decode())
        at += size
        if out and out[-1][0] == author:
            out[-1][1] += length
        elif length:
            out.append([author, length])
    return out


def replay(
    start: bytes | None, start_runs: Runs, entries: list[tuple[str | None, bytes]]
) -> dict[str, Any]:
    """The document after ``entries`` (author, update) applied in order onto ``start`` (a
    checkpoint's state, whose authorship is ``start_runs``; None: from nothing). Returns its
    code, its language, its whole state and its authorship (bytes, for a checkpoint) and the
    authorship in characters (for an answer)."""
    doc: Doc[Any] = Doc()
    text = doc.get(CODE, type=Text)
    if start is not None:
        doc.apply_update(start)
    owners = _Owners(start_runs)
    author: list[str | None] = [None]

    def follow(event: TextEvent) -> None:
        owners.follow(event.delta, author[0])  # type: ignore[attr-defined]

    watch = text.observe(follow)
    for who, update in entries:
        author[0] = who
        doc.apply_update(update)
    text.unobserve(watch)
    code = str(text)
    runs = owners.runs()
    return {
        "code": code,
        "language": read_language(doc),
        "state": doc.get_update(),
        "runs": runs,
        "authorship": _in_characters(runs, code),
    }
