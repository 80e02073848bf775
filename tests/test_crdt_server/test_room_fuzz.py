"""Random and mutated frames never raise anything but ProtocolError, and never corrupt a room."""

from __future__ import annotations

import random
from typing import Any

from pycrdt import Doc, Text

from crdt_server import protocol
from crdt_server.awareness import encode_update
from crdt_server.close_codes import CloseCode
from crdt_server.core.actor import Actor, Via
from crdt_server.protocol import ProtocolError
from crdt_server.room import Room


class FakeLog:
    """Only the queue side of the update log: what the room hands it."""

    def __init__(self) -> None:
        self.appended: list[bytes] = []

    def append(self, session_id: str, data: bytes, at: int, *author_and_counts: object) -> None:
        self.appended.append(data)


class Peer:
    def __init__(self, peer_id: int) -> None:
        self.id = peer_id
        self.actor = Actor(Via.YJS, connection=peer_id)
        self.synced = True
        self.denied = False
        self.sent: list[bytes] = []

    def send(self, data: bytes) -> None:
        self.sent.append(data)

    def rebind(self, participant: object) -> None:
        raise AssertionError("no participant changes here")

    async def close(self, code: CloseCode, reason: str) -> None:
        raise AssertionError("the room never closes sockets itself")


def valid_frames() -> list[bytes]:
    doc: Doc[Any] = Doc()
    text = doc.get("code", type=Text)
    frames = []
    for i in range(5):
        state = doc.get_state()
        text.insert(0, f"line {i}\n")
        frames.append(protocol.sync_update(doc.get_update(state)))
    frames.append(protocol.sync_step1(doc.get_state()))
    frames.append(protocol.awareness_message(encode_update([(5, 1, '{"user":"x"}')])))
    return frames


def mutate(rng: random.Random, frame: bytes) -> bytes:
    data = bytearray(frame)
    for _ in range(rng.randint(1, 4)):
        choice = rng.random()
        if choice < 0.4 and data:
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif choice < 0.7 and data:
            del data[rng.randrange(len(data)) :]
        else:
            data.insert(rng.randrange(len(data) + 1), rng.randrange(256))
    return bytes(data)


def test_fuzzed_frames_raise_only_protocol_errors_and_the_room_stays_usable() -> None:
    rng = random.Random(1234)
    room = Room("0123abcd", Doc(), FakeLog())  # type: ignore[arg-type]
    sender, watcher = Peer(1), Peer(2)
    room.add(sender)
    room.add(watcher)
    seeds = valid_frames()
    rejected = 0
    for _ in range(3000):
        frame = (
            bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40)))
            if rng.random() < 0.3
            else mutate(rng, rng.choice(seeds))
        )
        try:
            room.receive(sender, frame)
        except ProtocolError as exc:
            assert exc.close_code in (1003, 1007, 1008, 1009)  # malformed, or past a bound
            rejected += 1
    assert rejected > 500
    # Well-formed but mutated updates are legitimate CRDT input; what matters is that the room
    # still encodes, a fresh client still syncs from it, and a new edit still lands.
    fresh: Doc[Any] = Doc()
    fresh.apply_update(room.doc.get_update())
    text = fresh.get("code", type=Text)
    assert str(text) == room.code
    state = fresh.get_state()
    text.insert(0, "still fine\n")
    room.receive(watcher, protocol.sync_update(fresh.get_update(state)))
    assert room.code.startswith("still fine\n")
