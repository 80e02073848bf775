"""Updates another process committed, applied to this process's copy of a room: forwarded to
its peers, never logged again, and what the room held already adds nothing to its size."""

from __future__ import annotations

from typing import Any

import pytest
from pycrdt import Doc, Text

from crdt_server.core.actor import Actor, Role, Via
from crdt_server.protocol import Unintegrable
from crdt_server.room import Room


class CountingLog:
    """The update log's queue side: what the room logged."""

    def __init__(self) -> None:
        self.counts: list[bytes] = []

    def append(self, session_id: str, data: bytes, *_: object) -> None:
        self.counts.append(data)


class Listening:
    """A synced peer that keeps what it is sent."""

    def __init__(self, peer_id: int) -> None:
        self.id = peer_id
        self.synced = True
        self.denied = False
        self.actor = Actor(Via.YJS, role=Role.CANDIDATE, connection=peer_id)
        self.sent: list[bytes] = []

    def send(self, data: bytes) -> None:
        self.sent.append(data)


def remote_room() -> tuple[CountingLog, Room, Listening]:
    log = CountingLog()
    room = Room("0123abcd", Doc(), log)  # type: ignore[arg-type]
    peer = Listening(1)
    room.peers[peer.id] = peer  # type: ignore[assignment]
    return log, room, peer


def test_a_relayed_update_reaches_the_peers_and_is_not_logged_again() -> None:
    log, room, peer = remote_room()
    source: Doc[Any] = Doc()
    source.get("code", type=Text).insert(0, "from elsewhere")
    assert room.apply_remote(source.get_update(), "u0")
    assert room.code == "from elsewhere" and len(peer.sent) == 1
    assert log.counts == []  # the other process logged it


def test_a_snapshot_the_room_holds_already_adds_nothing_to_its_size() -> None:
    _, room, _ = remote_room()
    source: Doc[Any] = Doc()
    text = source.get("code", type=Text)
    text.insert(0, "x" * 10_000)
    del text[0:5000]  # a snapshot with deletions: never "nothing new" by its clocks alone
    snapshot = source.get_update()
    room.apply_remote(snapshot, None)
    size = room.size
    for _ in range(3):  # catch-ups bringing the same snapshot again
        room.apply_remote(snapshot, None)
    assert room.size == size and room.code == "x" * 5000


def test_an_update_needing_a_missing_entry_is_refused_until_it_arrives() -> None:
    _, room, _ = remote_room()
    source: Doc[Any] = Doc()
    text = source.get("code", type=Text)
    updates: list[bytes] = []
    source.observe(lambda event: updates.append(event.update))
    text.insert(0, "a")
    text.insert(1, "b")
    with pytest.raises(Unintegrable):
        room.apply_remote(updates[1], None)  # relayed ahead of the entry it builds on
    room.apply_remote(updates[0], None)
    room.apply_remote(updates[1], None)
    assert room.code == "ab"
