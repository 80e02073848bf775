"""Scrubbing playback: the document at any moment of a 60-minute, 20 000-change interview.

Two people type into one document for an hour (a change every 180 ms, now one of them, now
the other, inserting near the end of a line and sometimes deleting); the changes are stored
with their times and authors as the server's own log keeps them. Then a real server
(``python -m crdt_server``, a subprocess on loopback) answers ``GET /state?at=`` for random
moments, each replayed from the nearest checkpoint (one every 100 changes). Every answer is
checked against the text recorded while typing. By default a socket keeps the session loaded,
so its checkpoints are built in the background before the first scrub, as during an interview;
with ``--cold`` the first answer builds them. ``GET /timeline`` is timed too.

    .venv/bin/python bench/playback_scrub.py [--changes 20000] [--moments 50] [--cold]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from pycrdt import Doc, Text

from crdt_server.document import seed_update
from storage import Edit, ParticipantRecord, PendingUpdate, SessionRecord, SQLiteStorage

SESSION = "5c4ab001"
START_MS = 1_800_000_000_000
HOUR_MS = 3_600_000
LISTENING = re.compile(rb"^LISTENING (http://\S+)$")


def interview(changes: int) -> tuple[list[PendingUpdate], list[tuple[int, str]]]:
    """The changes, and the text after each (with its time)."""
    random.seed(14)
    doc: Doc[Any] = Doc()
    text = doc.get("code", type=Text)
    updates: list[PendingUpdate] = []
    texts: list[tuple[int, str]] = []
    step = HOUR_MS // changes
    for n in range(changes):
        at = START_MS + 1000 + n * step
        author = "ada" if (n // 40) % 3 == 0 else "cy"  # runs of typing, turn by turn
        before = doc.get_state()
        code = str(text)
        if code and random.random() < 0.15:
            i = random.randrange(len(code))
            del text[len(code[:i].encode()) : len(code[: i + 1].encode())]
            inserted, deleted = 0, 1
        else:
            i = random.randint(max(0, len(code) - 40), len(code))
            word = random.choice("abcdefghij (){}=+\n")
            text.insert(len(code[:i].encode()), word)
            inserted, deleted = 1, 0
        data = doc.get_update(before)
        updates.append(
            PendingUpdate(SESSION, data, at, (Edit(at, author, inserted, deleted, data),))
        )
        texts.append((at, str(text)))
    return updates, texts


async def store_interview(db: Path, updates: list[PendingUpdate]) -> None:
    store = SQLiteStorage(str(db))
    await store.open()
    owner = ParticipantRecord("ada", "Ada", "interviewer", "hsl(1, 70%, 50%)", START_MS, False)
    record = SessionRecord(SESSION, START_MS, START_MS, 2**62, "ada")
    await store.create_session(record, owner, seed_update("", "python"))
    for i in range(0, len(updates), 500):
        await store.append_updates(updates[i : i + 500])
    await store.close()


async def start_server(db: Path) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "crdt_server", "--port", "0", "--db", str(db),
        "--log-level", "warning", "--requests-per-second", "10000",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert proc.stdout is not None
    while True:
        line = await proc.stdout.readline()
        if not line:
            raise RuntimeError("the server exited")
        match = LISTENING.match(line.strip())
        if match:
            return proc, match.group(1).decode()


def checkpoints(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as read:
        return int(read.execute("SELECT count(*) FROM edit_checkpoints").fetchone()[0])


async def main(changes: int, moments: int, cold: bool) -> None:
    updates, texts = interview(changes)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "scrub.db"
        await store_interview(db, updates)
        proc, url = await start_server(db)
        background = None
        try:
            async with aiohttp.ClientSession() as http:
                if not cold:  # a socket loads the session: its checkpoints are built meanwhile
                    began = time.perf_counter()
                    socket = await http.ws_connect(f"{url.replace('http', 'ws', 1)}/ws/sessions/"
                                                   f"{SESSION}")  # fmt: skip
                    while checkpoints(db) < changes // 100:
                        await asyncio.sleep(0.2)
                    background = time.perf_counter() - began

                async def scrub(at: int, expected: str) -> float:
                    began = time.perf_counter()
                    async with http.get(f"{url}/api/v1/sessions/{SESSION}/state?at={at}") as r:
                        body = await r.json()
                    took = (time.perf_counter() - began) * 1000
                    assert body["data"]["code"] == expected, f"wrong text at {at}"
                    lengths = sum(length for _, length in body["data"]["authorship"])
                    assert lengths == len(expected), "authorship does not add up"
                    return took

                first = await scrub(*texts[len(texts) // 2])
                random.seed(7)
                times = [await scrub(*random.choice(texts)) for _ in range(moments)]
                timeline: list[float] = []
                for _ in range(10):
                    began = time.perf_counter()
                    async with http.get(f"{url}/api/v1/sessions/{SESSION}/timeline") as r:
                        assert (await r.json())["data"]["participants"][0]["edits"] > 0
                    timeline.append((time.perf_counter() - began) * 1000)
                if not cold:
                    await socket.close()
        finally:
            proc.terminate()
            await proc.wait()
    times.sort()
    print(f"{changes} changes over 60 minutes, {moments} random moments, each answer checked")
    if background is not None:
        print(f"checkpoints built in the background: {changes // 100} in {background:.1f} s")
    built = "" if background is not None else f" (builds {changes // 100} checkpoints)"
    print(f"first answer{built}: {first:.0f} ms")
    print(f"then: median {statistics.median(times):.1f} ms, p95 "
          f"{times[int(len(times) * 0.95) - 1]:.1f} ms, max {times[-1]:.1f} ms")  # fmt: skip
    print(f"timeline: median {statistics.median(timeline):.1f} ms of 10")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=20_000)
    parser.add_argument("--moments", type=int, default=50)
    parser.add_argument("--cold", action="store_true", help="no socket: the first answer builds")
    options = parser.parse_args()
    asyncio.run(main(options.changes, options.moments, options.cold))
