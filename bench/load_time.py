"""Document load time against stored history: does compaction keep it flat?

For 1k, 10k and 100k single-character updates (typing at the end while the start is
deleted, so the code stays about 200 characters long and only the history grows, as in a
long interview), the updates go through the real write path (a room
applying them, the group-committing update log, threshold compaction) into SQLite.
Then a fresh room manager loads the document five times; the median is reported,
next to the load time of the same history stored as a plain log without compaction.

    .venv/bin/python bench/load_time.py [--sizes 1000 10000 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from pycrdt import Doc, Text

from crdt_server.core.actor import Actor, Via
from crdt_server.document import seed_update
from crdt_server.rooms import RoomManager
from crdt_server.update_log import UpdateLog
from storage import ParticipantRecord, PendingUpdate, SessionRecord, SQLiteStorage

SESSION = "0badcafe"


def typed_updates(count: int) -> list[bytes]:
    doc: Doc[Any] = Doc()
    text = doc.get("code", type=Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    for i in range(count):
        if len(text) >= 200 and i % 2:
            del text[0:1]
        else:
            text.insert(len(text), chr(97 + i % 26))
    return updates


async def fresh_store(path: Path) -> SQLiteStorage:
    store = SQLiteStorage(str(path))
    await store.open()
    owner = ParticipantRecord("owner", "Ada", "interviewer", "hsl(1, 70%, 50%)", 1, False)
    await store.create_session(
        SessionRecord(SESSION, 1, 1, 2**62, "owner"), owner, seed_update("", "python")
    )
    return store


def manager(store: SQLiteStorage, compact_updates: int) -> RoomManager:
    rooms: RoomManager | None = None
    log = UpdateLog(
        store,
        interval_s=0.05,
        compact_updates=compact_updates,
        compact_bytes=1 << 40,
        snapshot_of=lambda s: rooms.snapshot_of(s) if rooms else None,
    )
    rooms = RoomManager(store, log, grace_s=3600, history_interval_s=3600)
    return rooms


async def median_load_ms(store: SQLiteStorage, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        rooms = manager(store, compact_updates=1 << 40)  # measure the load, not a compaction
        start = time.perf_counter()
        room = await rooms.get(SESSION)
        times.append((time.perf_counter() - start) * 1000)
        assert len(room.code) > 0
        rooms.rooms.clear()
    return statistics.median(times)


async def with_compaction(directory: Path, updates: list[bytes]) -> tuple[float, int]:
    store = await fresh_store(directory / "compacted.db")
    rooms = manager(store, compact_updates=500)
    rooms.log.start()
    room = await rooms.get(SESSION)
    for update in updates:
        room.apply_update(update, Actor(Via.YJS))
        if rooms.log.pending >= 1000:
            await rooms.log.flush()
    await rooms.log.flush()
    await rooms.log.stop()
    tail = len((await store.load_document(SESSION)).updates)
    result = await median_load_ms(store), tail
    await store.close()
    return result


async def without_compaction(directory: Path, updates: list[bytes]) -> float:
    store = await fresh_store(directory / "plain.db")
    for start in range(0, len(updates), 5000):
        chunk = updates[start : start + 5000]
        await store.append_updates([PendingUpdate(SESSION, u, 1) for u in chunk])
    result = await median_load_ms(store)
    await store.close()
    return result


async def main(sizes: list[int]) -> None:
    print("| stored updates | load, compacted (snapshot + tail) | tail rows | load, plain log |")
    print("| --- | --- | --- | --- |")
    for size in sizes:
        updates = typed_updates(size)
        with tempfile.TemporaryDirectory() as tmp:
            compacted, tail = await with_compaction(Path(tmp), updates)
            plain = await without_compaction(Path(tmp), updates)
        print(f"| {size:,} | {compacted:.1f} ms | {tail} | {plain:.1f} ms |", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    asyncio.run(main(parser.parse_args().sizes))
