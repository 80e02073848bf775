"""Fuzzed updates interleaved with server edits, on one in-process Room, many seeds.

    flock /tmp/cpu-heavy.lock .venv/bin/python bench/room_edit_fuzz.py --seeds 300 \\
        --out bench/results/2026-12-06-room-edit-fuzz.md

The network campaign (bench/fuzz_campaign.py) found rooms whose state failed the load check
after hours of frames; this finds the same class of fault in seconds. Each seed drives a
``Room`` with 400 steps: edits from three pycrdt clients, mutations of their updates
(bench/fuzz_frames.py), crafted boundary updates, surrogate splits, and server edits
(``Room.write_code``, the path REST and JSON events take). After every step the room's state
must pass ``check_update`` (what loading it requires), and at the end the accepted log must
replay to the room's code. pycrdt picks random client ids, so a seed does not replay exactly.
"""

from __future__ import annotations

import argparse
import logging
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import fuzz_frames as ff
from live_server import REPO
from pycrdt import Doc, Text

sys.path.insert(0, str(REPO))
from crdt_server import protocol  # noqa: E402
from crdt_server.close_codes import CloseCode  # noqa: E402
from crdt_server.core.actor import Actor, Via  # noqa: E402
from crdt_server.protocol import ProtocolError  # noqa: E402
from crdt_server.room import Room  # noqa: E402
from crdt_server.textdiff import replace_text  # noqa: E402
from crdt_server.update_check import UpdateRejected, check_update  # noqa: E402

STEPS = 400
EXTRA = ["x", "ab\n"]


class Removals(logging.Handler):
    """Counts the room's warnings that it deleted objects an update put into the code."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "deleted the items" in record.getMessage():
            self.count += 1


class Log:
    """The queue side of the update log: what the room accepted, in order."""

    def __init__(self) -> None:
        self.appended: list[bytes] = []

    def append(self, session_id: str, data: bytes, at: int) -> None:
        self.appended.append(data)


class Watcher:
    """A peer that takes every broadcast and never closes."""

    def __init__(self) -> None:
        self.id = 2
        self.actor = Actor(Via.YJS, connection=2)
        self.synced, self.denied = True, False

    def send(self, data: bytes) -> None:
        pass

    def rebind(self, participant: object) -> None:
        pass

    async def close(self, code: CloseCode, reason: str) -> None:
        pass


def edited(rng: random.Random, text: str) -> str:
    points = list(text)
    at = rng.randrange(len(points) + 1)
    if points and rng.random() < 0.4:
        del points[at : at + rng.randrange(1, 3)]
    else:
        points[at:at] = rng.choice(ff._TRICKY + EXTRA)
    return "".join(points)


def candidates(rng: random.Random, clients: list[Doc[Any]], pool: list[bytes]) -> list[bytes]:
    pick = rng.random()
    if pick < 0.4:
        index = rng.randrange(len(clients))
        text = clients[index].get("code", type=Text)
        before = clients[index].get_state()
        try:
            replace_text(text, edited(rng, str(text)))
        except BaseException:  # a client fed a hostile update may break: take a new one
            clients[index] = Doc()
            return []
        update = clients[index].get_update(before)
        pool.append(update)
        return [update]
    if pick < 0.7 and pool:
        data = bytearray(rng.choice(pool[-60:]))
        for _ in range(rng.choice([1, 1, 2, 3])):
            rng.choice(ff.MUTATIONS)[1](rng, data)
        return [bytes(data)]
    if pick < 0.85:
        return [ff.crafted_update(rng)[1]]
    return [protocol.decode(frame).payload for _, frame in ff.surrogate_split(rng)]


def run(seed: int, counts: dict[str, int]) -> str | None:
    """One seed; a description of the first fault, or None."""
    rng = random.Random(seed)
    log = Log()
    room = Room("0123abcd", Doc(), log)  # type: ignore[arg-type]
    room.add(Watcher())  # type: ignore[arg-type]
    actor = Actor(Via.YJS, connection=1)
    clients: list[Doc[Any]] = [Doc() for _ in range(3)]
    pool: list[bytes] = []
    for step in range(STEPS):
        if rng.random() < 0.25:
            room.write_code(edited(rng, room.code), actor)
            counts["server edits"] += 1
        for update in candidates(rng, clients, pool):
            try:
                room.apply_update(update, actor)
                counts["applied"] += 1
                pool.append(update)
            except ProtocolError:
                counts["refused"] += 1
            if room.broken:
                return f"seed {seed} step {step}: the room was retired"
        for index, client in enumerate(clients):
            if rng.random() < 0.3:
                try:
                    client.apply_update(room.doc.get_update(client.get_state()))
                except BaseException:
                    clients[index] = Doc()
        try:
            check_update(room.doc.get_update())
        except UpdateRejected as exc:
            return f"seed {seed} step {step}: the state fails the load check ({exc})"
    replay: Doc[Any] = Doc()
    for update in log.appended:
        replay.apply_update(update)
    if str(replay.get("code", type=Text)) != room.code:
        return f"seed {seed}: the accepted log replays to other code than the room's"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=300)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    counts = {"applied": 0, "refused": 0, "server edits": 0}
    removals = Removals()
    room_log = logging.getLogger("crdt_server.room")
    room_log.addHandler(removals)
    room_log.propagate = False
    faults: list[str] = []
    started = time.monotonic()
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        fault = run(seed, counts)
        if fault is not None:
            faults.append(fault)
            print(fault, flush=True)
    elapsed = time.monotonic() - started
    lines = [
        f"seeds {args.seeds} x {STEPS} steps in {elapsed:.0f} s: "
        + ", ".join(f"{name} {value}" for name, value in counts.items())
        + f"; objects deleted from the code {removals.count}",
        f"faults: {len(faults)} (target 0)",
        *(f"- {fault}" for fault in faults),
    ]
    print("\n".join(lines))
    if args.out:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "log", "-1", "--format=%h %s"], capture_output=True, text=True
        ).stdout.strip()
        head = [
            "# Room edit fuzz",
            "",
            f"At {commit}: `bench/room_edit_fuzz.py --seeds {args.seeds}`",
            "",
        ]
        args.out.write_text("\n".join(head + lines) + "\n")
    sys.exit(1 if faults else 0)


if __name__ == "__main__":
    main()
