"""kill -9 during an edit storm by stock y-websocket providers, round after round; prints Markdown.

    .venv/bin/python bench/crash_rounds.py [--rounds 20] [--providers 4] [--tree /tmp/wt-soak]
        [--min-storm 1.0] [--max-storm 6.0] [--grace 1.0] [--seed 1] [--out FILE]

One session, one SQLite file and one port for the whole run. The providers are real
``WebsocketProvider``s in one Node process (tests/node/yclient.mjs through
tests/support/node_client.py) and stay up across rounds, reconnecting by themselves. A round:

1. a fresh observer (another provider, in a second Node process) joins and syncs, and its whole
   document is taken every 100 ms: what it holds is what the server has *acknowledged*;
2. every provider types, every 5-50 ms: random inserts and deletes on code-point boundaries
   (emoji, accents, newlines; yclient's ``random_edits`` picks them in the same turn it edits)
   and unique markers ``‹p1.00017QHü›`` at the start. Markers go at 0 because an index read
   from the client earlier can fall inside an emoji once remote edits have arrived, and an
   edit inside a surrogate pair makes pycrdt and Yjs disagree (a known server-side bug, see
   bench/results/2026-12-03-crash_rounds.md), which is not what this campaign measures;
3. after a random storm time the server gets SIGKILL; the observer keeps what had arrived and
   leaves; the database is read as it is on disk; the providers keep typing (offline) until the
   restarted server prints LISTENING, then stop;
4. once every provider has synced again and all texts (providers, REST GET) agree, a fresh client
   joins, and the round is checked.

Checks per round (target 0 each):

- lost: acknowledged edits missing after the restart. Exact, on the CRDT: the observer's document
  at the kill, merged into the fresh client's, must change neither its state vector (inserts)
  nor its text (deletes). "lost on disk" is the same check against the database as the kill left
  it, for what the observer had at least ``--grace`` s before the kill (the group commit is 50 ms;
  younger edits are for the providers to push back, and "not yet on disk" counts them);
- duplicated: markers that appear more than once in the final text;
- divergent: clients whose text differs from the REST GET (every provider and the fresh client).

Times: kill to LISTENING, kill to every provider synced (y-websocket's reconnect backoff, 100 ms
doubling up to 2.5 s, is part of it), kill to all texts agreeing. The server's log is kept in
the scratch directory named at the end; ERROR lines and tracebacks are counted.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import hashlib
import random
import re
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from live_server import REPO, LiveServer, host_load, use_tree
from pycrdt import Doc, Text

MARKER = re.compile(r"‹p\d\.\d{5}[A-Z]{2}ü›")
OBSERVER_POLL_S = 0.1


# ------------------------------------------------------------------ CRDT checks


def read_varuint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def state_vector(doc: Doc[Any]) -> dict[int, int]:
    data, pos = doc.get_state(), 0
    count, pos = read_varuint(data, pos)
    vector = {}
    for _ in range(count):
        client, pos = read_varuint(data, pos)
        vector[client], pos = read_varuint(data, pos)
    return vector


def doc_of(*updates: bytes) -> Doc[Any]:
    doc: Doc[Any] = Doc()
    for update in updates:
        doc.apply_update(update)
    return doc


def code_of(doc: Doc[Any]) -> str:
    return str(doc.get("code", type=Text))


def missing_from(whole: Doc[Any], part: bytes) -> tuple[int, bool]:
    """What of ``part`` ``whole`` lacks: (items it has not got, whether a delete is missing).

    Merges ``part`` into a copy of ``whole``: a longer state vector means lost inserts, a
    changed text with the same state vector means lost deletes.
    """
    before_sv, before_text = state_vector(whole), code_of(whole)
    merged = doc_of(whole.get_update(), part)
    after_sv = state_vector(merged)
    items = sum(max(0, clock - before_sv.get(client, 0)) for client, clock in after_sv.items())
    return items, items == 0 and code_of(merged) != before_text


def items_in(update: bytes) -> int:
    return sum(state_vector(doc_of(update)).values())


def on_disk(db: Path, session_id: str, scratch: Path) -> Doc[Any]:
    """The document as the kill left it in the database (read from a copy of the files)."""
    copy = scratch / "at-kill.db"
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{db}{suffix}")
        target = Path(f"{copy}{suffix}")
        target.unlink(missing_ok=True)
        if source.exists():
            shutil.copyfile(source, target)
    conn = sqlite3.connect(copy)
    try:
        rows = conn.execute("SELECT state FROM doc_snapshots WHERE session_id = ?", (session_id,))
        updates = [bytes(r[0]) for r in rows.fetchall()]
        log_sql = "SELECT data FROM doc_log WHERE session_id = ? ORDER BY seq"
        rows = conn.execute(log_sql, (session_id,))
        updates += [bytes(r[0]) for r in rows.fetchall()]
    finally:
        conn.close()
    return doc_of(*updates)


# ------------------------------------------------------------------ typing


@dataclass
class Typed:
    inserts: int = 0
    deletes: int = 0
    markers: int = 0
    offline: int = 0  # operations made while the server was down
    refused: int = 0  # a command the client refused (an index made stale by a remote edit)


@dataclass
class Round:
    n: int
    storm_s: float
    typed: Typed
    acked_items: int = 0
    lost_on_disk: int = 0
    lost_deletes_on_disk: bool = False
    not_yet_on_disk: int = 0
    lost: int = 0
    lost_deletes: bool = False
    duplicated: int = 0
    divergent: int = 0
    listening_s: float = float("nan")
    synced_s: float = float("nan")
    converged_s: float = float("nan")
    chars: int = 0
    trouble: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.lost
            or self.lost_deletes
            or self.lost_on_disk
            or self.lost_deletes_on_disk
            or self.duplicated
            or self.divergent
            or self.trouble
        )


def marker(name: str, n: int) -> str:
    """``‹p1.00017QHü›``: fixed width and two check letters, so that deleting characters out of
    markers (or out of two neighbours) does not make another valid one; the random typing
    inserts no digits nor capitals."""
    check = hashlib.blake2s(f"{name}.{n}".encode(), digest_size=2).digest()
    return f"‹{name}.{n:05d}{chr(65 + check[0] % 26)}{chr(65 + check[1] % 26)}ü›"


def duplicated_markers(text: str) -> int:
    counts = collections.Counter(
        found for found in MARKER.findall(text) if found == marker(found[1:3], int(found[4:9]))
    )
    return sum(1 for count in counts.values() if count > 1)


async def type_until(
    node: Any,
    name: str,
    rng: random.Random,
    stop: asyncio.Event,
    down: asyncio.Event,
    typed: Typed,
    counter: list[int],
    max_chars: int,
) -> None:
    from support.node_client import NodeCommandError

    length = 0
    while not stop.is_set():
        roll, long = rng.random(), length > max_chars
        try:
            if roll < (0.1 if long else 0.35):
                # at 0: an index taken from an earlier read may no longer fall between two
                # code points once remote edits arrive (see the module docstring)
                counter[0] += 1
                await node.insert(0, marker(name, counter[0]), client=name)
                typed.markers += 1
            else:
                deleting = 0.95 if long else 0.3
                reply = await node.random_edits(
                    rng.randint(1, 4),
                    seed=rng.randrange(2**31),
                    delete_probability=deleting,
                    client=name,
                )
                typed.inserts += reply["inserts"]
                typed.deletes += reply["deletes"]
                length = len(reply["text"])
            if down.is_set():
                typed.offline += 1
        except NodeCommandError:
            typed.refused += 1
        await asyncio.sleep(rng.uniform(0.005, 0.05))


async def watch(observers: Any, name: str, seen: collections.deque[tuple[float, bytes]]) -> None:
    """Take the observer's whole document every 100 ms, with the time it was taken."""
    while True:
        update = await observers.encode_state(client=name)
        seen.append((time.perf_counter(), update))
        await asyncio.sleep(OBSERVER_POLL_S)


# ------------------------------------------------------------------ one round


class Campaign:
    def __init__(self, args: argparse.Namespace, scratch: Path) -> None:
        self.args = args
        self.scratch = scratch
        self.rng = random.Random(args.seed)
        self.server = LiveServer(
            args.tree,
            scratch / "crash.db",
            scratch / "server.log",
            ["--log-level", "info", "--requests-per-second", "10000"],
        )
        self.names = [f"p{i + 1}" for i in range(args.providers)]
        self.counters = {name: [0] for name in self.names}
        self.session_id = ""

    async def rest_code(self, http: aiohttp.ClientSession) -> str | None:
        try:
            async with http.get(f"{self.server.url}/api/v1/sessions/{self.session_id}") as r:
                return str((await r.json())["data"]["code"]) if r.status == 200 else None
        except aiohttp.ClientError:
            return None

    async def run_round(
        self, n: int, http: aiohttp.ClientSession, providers: Any, observers: Any
    ) -> Round:
        ws_url = f"ws://127.0.0.1:{self.server.port}/ws/sessions"
        storm_s = self.rng.uniform(self.args.min_storm, self.args.max_storm)
        result = Round(n, storm_s, Typed())
        trouble_before = len(self.server.trouble)

        observer = f"obs{n}"
        await observers.connect(ws_url, self.session_id, client=observer)
        await observers.wait_synced(timeout=20, client=observer)
        seen: collections.deque[tuple[float, bytes]] = collections.deque(maxlen=200)
        watcher = asyncio.create_task(watch(observers, observer, seen))

        stop, down = asyncio.Event(), asyncio.Event()
        typists = [
            asyncio.create_task(
                type_until(
                    providers,
                    name,
                    random.Random(self.rng.random()),
                    stop,
                    down,
                    result.typed,
                    self.counters[name],
                    self.args.max_chars,
                )
            )
            for name in self.names
        ]
        await asyncio.sleep(storm_s)

        # ---- kill -9: whatever the observer holds now is what the server acknowledged
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        provider_mark, observer_mark = providers.mark(), observers.mark()
        killed = time.perf_counter()
        down.set()
        await self.server.kill9()
        await observers.wait_event("closed", timeout=10, since=observer_mark, client=observer)
        await observers.disconnect(client=observer)
        acked = await observers.encode_state(client=observer)
        await observers.destroy(client=observer)
        old = [update for at, update in seen if at <= killed - self.args.grace]
        disk = on_disk(self.server.db, self.session_id, self.scratch)
        result.acked_items = items_in(acked)
        if old:
            result.lost_on_disk, result.lost_deletes_on_disk = missing_from(disk, old[-1])
        result.not_yet_on_disk = missing_from(disk, acked)[0] - result.lost_on_disk

        # ---- restart on the same port and file; the providers type until LISTENING
        await self.server.start()
        result.listening_s = time.perf_counter() - killed
        stop.set()
        await asyncio.gather(*typists)

        async def resynced(name: str) -> float:
            await providers.wait_event(
                "synced", timeout=60, since=provider_mark, client=name, synced=True
            )
            return time.perf_counter() - killed

        result.synced_s = max(await asyncio.gather(*(resynced(name) for name in self.names)))
        texts: list[str | None] = []
        deadline = time.perf_counter() + self.args.converge_timeout
        while time.perf_counter() < deadline:
            texts = [await providers.text(client=name) for name in self.names]
            texts.append(await self.rest_code(http))
            if len(set(texts)) == 1:
                result.converged_s = time.perf_counter() - killed
                break
            await asyncio.sleep(0.1)

        # ---- a fresh client, then the checks
        fresh = f"fresh{n}"
        await observers.connect(ws_url, self.session_id, client=fresh)
        await observers.wait_synced(timeout=20, client=fresh)
        fresh_update = await observers.encode_state(client=fresh)
        final = doc_of(fresh_update)
        await observers.destroy(client=fresh)
        rest = await self.rest_code(http)
        final_text = code_of(final)
        clients = [await providers.text(client=name) for name in self.names] + [final_text]
        result.divergent = sum(text != rest for text in clients)
        result.lost, result.lost_deletes = missing_from(final, acked)
        result.duplicated = duplicated_markers(final_text)
        result.chars = len(final_text)
        result.trouble = self.server.trouble[trouble_before:]
        if not result.ok:
            await self.keep_evidence(n, http, providers, acked, fresh_update, disk)
        return result

    async def keep_evidence(
        self,
        n: int,
        http: aiohttp.ClientSession,
        providers: Any,
        acked: bytes,
        fresh: bytes,
        disk: Doc[Any],
    ) -> None:
        """A failed round leaves its documents (Yjs updates) and texts in scratch/round-N/."""
        where = self.scratch / f"round-{n}"
        where.mkdir(exist_ok=True)
        (where / "acked.bin").write_bytes(acked)
        (where / "fresh.bin").write_bytes(fresh)
        (where / "disk-at-kill.bin").write_bytes(disk.get_update())
        for name in self.names:
            (where / f"{name}.bin").write_bytes(await providers.encode_state(client=name))
            (where / f"{name}.txt").write_text(await providers.text(client=name))
        (where / "rest.txt").write_text(await self.rest_code(http) or "<none>")
        (where / "fresh.txt").write_text(code_of(doc_of(fresh)))
        shutil.copyfile(self.scratch / "at-kill.db", where / "at-kill.db")
        print(f"round {n} failed: evidence in {where}", flush=True)

    async def run(self) -> list[Round]:
        from support.node_client import NodeClient

        await self.server.start()
        rounds: list[Round] = []
        async with (
            aiohttp.ClientSession() as http,
            NodeClient.start() as providers,
            NodeClient.start() as observers,
        ):
            async with http.post(
                f"{self.server.url}/api/v1/sessions",
                json={"code": "def solve(xs):\n    return sorted(xs)\n", "language": "python"},
            ) as response:
                assert response.status == 201, await response.text()
                self.session_id = (await response.json())["data"]["id"]
            ws_url = f"ws://127.0.0.1:{self.server.port}/ws/sessions"
            for name in self.names:
                await providers.connect(
                    ws_url,
                    self.session_id,
                    client=name,
                    awareness={"user": {"name": name}, "cursor": None},
                )
            for name in self.names:
                await providers.wait_synced(timeout=20, client=name)
            for n in range(1, self.args.rounds + 1):
                result = await self.run_round(n, http, providers, observers)
                rounds.append(result)
                print(row(result), flush=True)
            for name in self.names:
                await providers.destroy(client=name)
        await self.server.stop()
        return rounds


# ------------------------------------------------------------------ report

HEADER = (
    "| round | storm s | typed ins/del/markers (offline) | acked items | lost | lost on disk "
    "(≥grace) | not yet on disk | duplicated | divergent | kill→LISTENING s | kill→synced s "
    "| kill→agreed s | chars | log errors |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
)


def row(r: Round) -> str:
    t = r.typed
    lost = f"{r.lost}{' +deletes' if r.lost_deletes else ''}"
    disk = f"{r.lost_on_disk}{' +deletes' if r.lost_deletes_on_disk else ''}"
    return (
        f"| {r.n} | {r.storm_s:.1f} | {t.inserts}/{t.deletes}/{t.markers} ({t.offline}) "
        f"| {r.acked_items} | {lost} | {disk} | {r.not_yet_on_disk} | {r.duplicated} "
        f"| {r.divergent} | {r.listening_s:.2f} | {r.synced_s:.2f} | {r.converged_s:.2f} "
        f"| {r.chars} | {len(r.trouble)} |"
    )


def summary(rounds: list[Round]) -> list[str]:
    def spread(values: list[float]) -> str:
        return f"median {statistics.median(values):.2f} s, max {max(values):.2f} s"

    lost = sum(r.lost for r in rounds) + sum(r.lost_deletes for r in rounds)
    disk = sum(r.lost_on_disk for r in rounds) + sum(r.lost_deletes_on_disk for r in rounds)
    typed = sum(r.typed.inserts + r.typed.deletes + r.typed.markers for r in rounds)
    return [
        f"- rounds: {len(rounds)}, all checks passed in {sum(r.ok for r in rounds)}",
        f"- edits typed: {typed} (of them offline, during the outage: "
        f"{sum(r.typed.offline for r in rounds)}; refused as stale: "
        f"{sum(r.typed.refused for r in rounds)})",
        f"- acknowledged edits lost after restart: {lost} (target 0)",
        f"- acknowledged ≥ grace before the kill but not on disk: {disk} (target 0); younger "
        f"ones not yet on disk, pushed back by the providers: "
        f"{sum(r.not_yet_on_disk for r in rounds)} items",
        f"- duplicated markers: {sum(r.duplicated for r in rounds)} (target 0)",
        f"- divergent clients: {sum(r.divergent for r in rounds)} (target 0)",
        f"- kill → LISTENING: {spread([r.listening_s for r in rounds])}",
        f"- kill → every provider synced: {spread([r.synced_s for r in rounds])}",
        f"- kill → all texts agree: {spread([r.converged_s for r in rounds])}",
        f"- server log ERROR/traceback lines: {sum(len(r.trouble) for r in rounds)}",
    ]


def tree_revision(tree: Path) -> str:
    out = subprocess.run(
        ["git", "-C", str(tree), "log", "-1", "--format=%h %s"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or "?"


async def main(args: argparse.Namespace) -> int:
    args.tree = use_tree(args.tree)
    scratch = Path(tempfile.mkdtemp(prefix="crash-rounds."))
    load_before = host_load()
    command = ".venv/bin/python bench/crash_rounds.py " + shlex.join(sys.argv[1:])
    started = time.strftime("%Y-%m-%d %H:%M")
    print(f"server tree: {args.tree} ({tree_revision(args.tree)}); scratch: {scratch}")
    print(HEADER, flush=True)
    rounds = await Campaign(args, scratch).run()
    lines = summary(rounds)
    print("\n".join(["", *lines]))
    trouble = [line for r in rounds for line in r.trouble]
    if trouble:
        print("\nserver log trouble:\n" + "\n".join(trouble[:20]))
    if args.out:
        report = [
            f"# crash rounds, {started}",
            "",
            f"- command: `{command}`",
            f"- server: `{args.tree}` at {tree_revision(args.tree)}",
            f"- host load (1/5/15 min) before: {load_before}; after: {host_load()}",
            f"- providers: {args.providers} stock y-websocket providers in one Node process; "
            f"storm {args.min_storm}-{args.max_storm} s; grace {args.grace} s; seed {args.seed}",
            "",
            HEADER,
            *[row(r) for r in rounds],
            "",
            *lines,
        ]
        if trouble:
            report += ["", "Server log trouble:", "", "```", *trouble[:40], "```"]
        Path(args.out).write_text("\n".join(report) + "\n", encoding="utf-8")
    return 0 if all(r.ok for r in rounds) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--providers", type=int, default=4, choices=range(1, 10))
    parser.add_argument("--tree", type=Path, default=REPO, help="checkout the server runs from")
    parser.add_argument("--min-storm", type=float, default=1.0, help="seconds before the kill")
    parser.add_argument("--max-storm", type=float, default=6.0)
    parser.add_argument(
        "--grace",
        type=float,
        default=1.0,
        help="edits acknowledged this long before the kill must be on disk",
    )
    parser.add_argument(
        "--max-chars", type=int, default=1500, help="past this length the typists mostly delete"
    )
    parser.add_argument("--converge-timeout", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", help="also write the Markdown report to this file")
    sys.exit(asyncio.run(main(parser.parse_args())))
