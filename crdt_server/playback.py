"""Playback: the session's document at any moment, and who wrote each part of it.

Every accepted change is kept with the server's time and its author (storage's edit log,
written with the update log in the same commit and never compacted). The document at a
moment is the log replayed up to it; who wrote what comes from following each change's text
delta with its author. Replaying is pycrdt work whose cost the content decides, so it runs in
a worker process under a deadline (:mod:`crdt_server.workers`).
"""

from __future__ import annotations

from typing import Any

from pycrdt import Doc, Text, TextEvent

from .document import CODE, read_language

#: Authorship runs: [author, length] in order along the text (author None: the seed, a
#: server edit or an anonymous writer).
Runs = list[list[Any]]


def _apply_delta(runs: Runs, delta: list[dict[str, Any]], author: str | None) -> None:
    """Follow one text delta (pycrdt units: UTF-8 bytes) in ``runs`` (same units)."""
    i, offset = 0, 0  # the run the position is in, and how far into it
    for op in delta:
        if "retain" in op:
            left = int(op["retain"])
            while left:
                step = min(left, runs[i][1] - offset)
                left -= step
                offset += step
                if offset == runs[i][1]:
                    i, offset = i + 1, 0
        elif "insert" in op:
            value = op["insert"]
            size = len(value.encode()) if isinstance(value, str) else 1
            if offset and runs[i][0] == author:  # inside a run of theirs: it grows
                runs[i][1] += size
                offset += size
                continue
            if not offset and i and runs[i - 1][0] == author:  # right after theirs
                runs[i - 1][1] += size
                continue
            if offset:  # split the run the insertion lands in
                head, tail = runs[i][:], runs[i][:]
                head[1], tail[1] = offset, runs[i][1] - offset
                runs[i : i + 1] = [head, tail]
                i, offset = i + 1, 0
            runs.insert(i, [author, size])
            i += 1
        elif "delete" in op:
            left = int(op["delete"])
            while left:
                take = min(left, runs[i][1] - offset)
                runs[i][1] -= take
                left -= take
                if runs[i][1] == 0:
                    del runs[i]
                elif offset == runs[i][1]:
                    i, offset = i + 1, 0


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


def replay(entries: list[tuple[str | None, bytes]]) -> dict[str, Any]:
    """The document after ``entries`` (author, update), in order: its code, its language,
    and who wrote each run of the code's characters."""
    doc: Doc[Any] = Doc()
    text = doc.get(CODE, type=Text)
    runs: Runs = []
    author: list[str | None] = [None]

    def follow(event: TextEvent) -> None:
        _apply_delta(runs, event.delta, author[0])  # type: ignore[attr-defined]

    watch = text.observe(follow)
    for who, update in entries:
        author[0] = who
        doc.apply_update(update)
    text.unobserve(watch)
    code = str(text)
    return {"code": code, "language": read_language(doc), "authorship": _in_characters(runs, code)}
