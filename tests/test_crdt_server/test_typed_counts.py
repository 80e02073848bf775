"""What each accepted change typed into the code and deleted from it, as the log keeps it.

The room reads it from the update's strings and the code's length (pycrdt's text delta walks
the text from its start on every change). These tests hold it to the delta's answer."""

from __future__ import annotations

import random

from pycrdt import Doc, Text, TextEvent

from crdt_server import protocol
from crdt_server.core.actor import Actor, Role, Via
from crdt_server.room import Room

SYSTEM = Actor(Via.SYSTEM)


class CountingLog:
    """The queue side of the update log: (inserted, deleted) of each change."""

    def __init__(self) -> None:
        self.counts: list[tuple[int, int]] = []

    def append(self, session_id: str, data: bytes, at: int, author: object, *counts: int) -> None:
        inserted, deleted = counts
        self.counts.append((inserted, deleted))


class Writer:
    def __init__(self, peer_id: int) -> None:
        self.id = peer_id
        self.synced = True
        self.denied = False
        self.actor = Actor(Via.YJS, role=Role.CANDIDATE, connection=peer_id)

    def send(self, data: bytes) -> None:
        pass

    def rebind(self, participant: object) -> None:
        pass

    async def close(self, code: object, reason: str) -> None:
        pass


def typing_room() -> tuple[CountingLog, Room, Writer, Text, list[bytes]]:
    """A room with one writer, and the text it types in (its updates collected)."""
    log = CountingLog()
    room = Room("0123abcd", Doc(), log)  # type: ignore[arg-type]
    writer = Writer(1)
    room.peers[writer.id] = writer
    source: Doc[Text] = Doc()
    text = source.get("code", type=Text)
    updates: list[bytes] = []
    source.observe(lambda event: updates.append(event.update))
    return log, room, writer, text, updates


def delta_counts(event: TextEvent) -> tuple[int, int]:
    inserted = deleted = 0
    for op in event.delta:  # type: ignore[attr-defined]
        if "insert" in op:
            inserted += len(op["insert"])
        elif "delete" in op:
            deleted += int(op["delete"])
    return inserted, deleted


def test_typed_and_deleted_counts_match_the_text_delta_for_random_edits() -> None:
    log, room, writer, text, updates = typing_room()
    source = text.doc
    truth: list[tuple[int, int]] = []
    watch = text.observe(lambda event: truth.append(delta_counts(event)))
    rng = random.Random(7)
    for _ in range(300):
        with source.transaction():
            length = len(str(text))
            if length and rng.random() < 0.4:
                start = rng.randrange(length)
                end = min(length, start + rng.randint(1, 5))
                at = len(str(text)[:start].encode())
                del text[at : len(str(text)[:end].encode())]
            if rng.random() < 0.8:
                at = len(str(text)[: rng.randint(0, len(str(text)))].encode())
                text.insert(at, rng.choice(["a", "é", "😀", "def f():\n", "  return 1\n"]))
        if updates:
            room.receive(writer, protocol.sync_update(updates.pop()))
    text.unobserve(watch)
    assert len(truth) > 250
    assert log.counts == truth
    assert room.code == str(text)


def test_an_update_sent_again_types_nothing_and_a_pasted_one_is_flagged_once() -> None:
    log, room, writer, text, updates = typing_room()
    events: list[str] = []
    room._timeline_event = lambda kind, *_: events.append(kind)  # type: ignore[method-assign]
    text += "x = 1\n" * 50  # 300 characters at once: a paste
    frame = protocol.sync_update(updates[-1])
    room.receive(writer, frame)
    room.receive(writer, frame)
    assert log.counts == [(300, 0), (0, 0)]
    assert events == ["paste"]


def test_a_server_edit_counts_what_it_replaced() -> None:
    log = CountingLog()
    room = Room("0123abcd", Doc(), log)  # type: ignore[arg-type]
    truth: list[tuple[int, int]] = []
    code = room.doc.get("code", type=Text)  # the observer lives as long as it does
    code.observe(lambda event: truth.append(delta_counts(event)))
    room.write_code("print('héllo')\n", SYSTEM)
    room.write_code("print('hi 😀')\n", SYSTEM)
    assert log.counts == truth
    assert truth[0] == (len("print('héllo')\n"), 0) and truth[1][1] > 0
