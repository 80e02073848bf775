"""Scrubbing playback: the document at any moment of a 60-minute, 20 000-change interview.

Two people type into one document for an hour (a change every 180 ms, now one of them, now
the other, inserting near the end of a line and sometimes deleting); the changes are stored
with their times and authors as the server's own log keeps them. Then a real server
(``python -m crdt_server``, a subprocess on loopback) answers ``GET /state?at=`` for random
moments: the first answer builds the checkpoints (one every 100 changes), the next ones replay
from the nearest checkpoint. Every answer is checked against the text recorded while typing.

    .venv/bin/python bench/playback_scrub.py [--changes 20000] [--moments 50]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
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


async def main(changes: int, moments: int) -> None:
    updates, texts = interview(changes)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "scrub.db"
        await store_interview(db, updates)
        proc, url = await start_server(db)
        try:
            async with aiohttp.ClientSession() as http:

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
        finally:
            proc.terminate()
            await proc.wait()
    times.sort()
    print(f"{changes} changes over 60 minutes, {moments} random moments, each answer checked")
    print(f"first answer (builds {changes // 100} checkpoints): {first:.0f} ms")
    print(f"then: median {statistics.median(times):.1f} ms, p95 "
          f"{times[int(len(times) * 0.95) - 1]:.1f} ms, max {times[-1]:.1f} ms")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=20_000)
    parser.add_argument("--moments", type=int, default=50)
    options = parser.parse_args()
    asyncio.run(main(options.changes, options.moments))
