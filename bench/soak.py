"""A soak: clients joining and leaving for minutes; is the server flat and are rooms released?

    .venv/bin/python bench/soak.py [--minutes 15] [--clients 200] [--rooms 40] [--seed 1]
        [--tree /tmp/snap-soak] [--out bench/results/2026-12-03-soak.md]

Wrap runs longer than a minute in ``flock /tmp/cpu-heavy.lock ...`` on a shared machine.

The server is started as a user does (``python -m crdt_server --port 0 --db FILE``, through
bench/live_server.py) with default settings except one: ``--max-sockets-per-client`` (64 by
default) is raised to twice ``--clients``, because every client here comes from 127.0.0.1,
and so is ``--max-sessions-per-client-per-hour`` (60) unless ``--interview 0 0``: the sessions
of ended interviews are replaced. The other per-address limits stay at their defaults and the
load is shaped to stay within them: REST requests and WebSocket upgrades together well under
20/s, 10 participants and 30 joins per minute per session.

Clients, ``--clients`` of them at all times (a slot whose client left gets a new one):

- 80 % stock y-websocket providers (bench/soak_clients.mjs, many in one Node process): half are
  typists (bursts of keystrokes at the cursor, 80-250 ms apart, pauses of 1-7 s), half watchers
  (cursor moves, now and then a few keystrokes); every keystroke moves the cursor (awareness,
  as y-monaco publishes it, plus the ``cursor`` field JSON clients receive). 30 % of them join
  over REST first and connect with ``?userId=``; 90 % of those remove themselves on leaving.
- 10 % JSON-event clients (aiohttp): whole-text ``code_change`` every 2-6 s, cursor positions;
  half join as participants first.
- 10 % REST clients: a GET of the session every 2-6 s, a PATCH with ``baseVersion`` in a
  quarter of them, participants and history now and then.

Every client lives 10-120 s, then leaves and a new one joins. Rooms come and go: about 70 % of
the ``--rooms`` sessions are open at a time, each for 1-5 minutes; a closing room takes no new
clients, empties as its clients leave, is unloaded after the grace period and is reopened
(reloaded) later. About once a minute a new session is created and an idle one deleted or
retired, and every third time an occupied session is deleted under its clients (4410).
Interviews end: each session takes clients for ``--interview`` (4-8 minutes) from its creation,
then is retired once empty and a new session takes its place, as on a server that runs
interviews all day. Without that, the documents the server holds grow with every keystroke
of the run (each keeps its whole history), and their growth cannot be told from a leak; the
"loaded docs KB" column (what storage holds for the loaded rooms) shows that size.

Every 10 s: the server's RSS (/proc/PID/status), open fds (/proc/PID/fd), established TCP
connections on its port (/proc/net/tcp), loaded rooms (its "room X loaded/unloaded" info log
lines; a deleted session's room is dropped without one, so the 204 of its DELETE removes it),
CPU, and the edit round-trip latency (a keystroke in one provider until another provider of the
room holds it, both in the Node process). At the end, with typing stopped: every room's clients
(providers and JSON), a fresh provider and the REST text must agree; then everyone leaves and,
after the grace period, no room may stay loaded and no participant online.

The figures compare the level after the warm-up (the median of the minute after ``--warmup``,
2 minutes: the server starts empty and fills up as the clients ramp in) with the middle and the
last minute of the load, not with the empty server.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import random
import shlex
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from live_server import REPO, LiveServer, host_load, use_tree

DRIVER = Path(__file__).resolve().parent / "soak_clients.mjs"
SAMPLE_S = 10.0
LIFE_S = (10.0, 120.0)
OPEN_S = (60.0, 300.0)
#: How long a session lives from its creation until its interview is over (then it is
#: retired once empty and a new session takes its place), so the documents the server holds
#: stay the size of a few minutes of typing instead of growing for the whole run.
INTERVIEW_S = (240.0, 480.0)
GRACE_S = 5.0  # the server's default --room-grace-seconds
REOPEN_AFTER_S = 20.0  # a closed room stays closed at least this long (so it unloads)
OPEN_FRACTION = 0.7
SESSIONS_PER_HOUR = 60  # the server's default --max-sessions-per-client-per-hour
REQUESTS_PER_S = 14.0  # all our requests and upgrades: under the default 20 per address
MAX_CHARS = 3000
WORDS = ["x", " = ", "return ", "(", ")", ":", "\n", "    ", "for i in xs", "é", "😀", "# ok"]
SEED_CODE = "def solve(xs):\n    return sorted(xs)\n"

JsonObject = dict[str, Any]


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def edit_text(text: str, rng: random.Random) -> str:
    """A small whole-text edit, on code points (never inside a surrogate pair)."""
    if text and rng.random() < (0.8 if len(text) > MAX_CHARS else 0.25):
        start = rng.randrange(len(text))
        return text[:start] + text[start + rng.randint(1, 4) :]
    at = rng.randint(0, len(text))
    return text[:at] + rng.choice(WORDS) + text[at:]


def cursor_at(text: str, rng: random.Random) -> JsonObject:
    lines = text.split("\n")
    line = rng.randrange(len(lines))
    return {"lineNumber": line + 1, "column": rng.randint(1, len(lines[line]) + 1)}


async def first_of(*events: asyncio.Event) -> None:
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def tcp_established(port: int) -> int:
    """Established TCP connections whose local port is the server's (its ends of them)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    count += 1
    return count


@dataclass
class Room:
    id: str
    node: int
    state: str = "open"  # open, closing, closed, retired (never reopened), deleted
    until: float = 0.0  # an open room starts closing then
    ends: float = float("inf")  # its interview is over then: retired once empty, replaced
    since: float = 0.0  # a closed room closed then
    members: set[str] = field(default_factory=set)
    opened: int = 1


@dataclass
class JsonPeer:
    text: str | None = None
    leaving: bool = False  # we close the socket: not a close to count


@dataclass
class Sample:
    t: float
    rss_mb: float
    fds: int
    tcp: int
    loaded: int
    doc_kb: float  # what storage holds for the loaded rooms' documents (snapshot and log)
    occupied: int  # rooms with a client in them, as the soak sees it
    clients: int
    cpu_pct: float
    keystrokes: int
    json_edits: int
    rest_requests: int
    latencies: list[float]
    timeouts: int
    rest_ms: list[float]
    node_loop_p99: float
    closes: dict[str, int]

    def row(self) -> str:
        lat, rest = self.latencies, self.rest_ms
        closes = ", ".join(f"{code}×{n}" for code, n in sorted(self.closes.items())) or "-"
        return (
            f"| {self.t:.0f} | {self.rss_mb:.1f} | {self.fds} | {self.tcp} | {self.loaded} "
            f"| {self.doc_kb:.0f} "
            f"| {self.occupied} | {self.clients} | {self.cpu_pct:.0f} | {self.keystrokes} "
            f"| {self.json_edits} | {self.rest_requests} | {len(lat)} | {pct(lat, 0.5):.1f} "
            f"| {pct(lat, 0.99):.1f} | {self.timeouts} | {pct(rest, 0.5):.1f} "
            f"| {pct(rest, 0.99):.1f} | {self.node_loop_p99:.0f} | {closes} |"
        )


SAMPLE_HEADER = (
    "| t s | RSS MB | fds | TCP | loaded rooms | loaded docs KB | occupied | clients "
    "| server CPU % | keystrokes | JSON edits | REST req | latency n | p50 ms | p99 ms | timeouts "
    "| REST p50 ms | REST p99 ms | Node loop p99 ms | closes |\n" + "| --- " * 20 + "|"
)


@dataclass
class RoomCheck:
    room: str
    state: str
    views: dict[str, str]
    unsynced: int
    agree: bool


class Soak:
    def __init__(self, args: argparse.Namespace, scratch: Path) -> None:
        self.args = args
        self.scratch = scratch
        self.rng = random.Random(args.seed)
        settings = ["--max-sockets-per-client", str(2 * args.clients)]
        if args.interview[1] > 0:  # interviews end and new sessions replace them
            settings += ["--max-sessions-per-client-per-hour", "100000"]
        self.server_args = settings
        self.server = LiveServer(args.tree, scratch / "soak.db", scratch / "server.log", settings)
        self.duration = args.minutes * 60.0
        self.warmup = min(args.warmup, self.duration / 4)
        self.rooms: dict[str, Room] = {}
        self.nodes: list[Any] = []
        self.http: aiohttp.ClientSession | None = None
        self.json_peers: dict[str, JsonPeer] = {}
        self.gone: dict[str, asyncio.Event] = {}
        self.stopping, self.leaving = asyncio.Event(), asyncio.Event()
        self.paused = False
        self.count: collections.Counter[str] = collections.Counter()
        self.window: collections.Counter[str] = collections.Counter()
        self.rest_ms: list[float] = []
        self.samples: list[Sample] = []
        self.errors: list[str] = []
        self.t0 = 0.0
        self._cpu = (0.0, 0.0)
        self._next_request = 0.0

    # ------------------------------------------------------------ plumbing
    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.server.port}/ws/sessions"

    def note(self, what: str) -> None:
        self.count[what] += 1
        self.window[what] += 1

    def error(self, text: str) -> None:
        self.note("client errors")
        if len(self.errors) < 50:
            self.errors.append(f"{time.monotonic() - self.t0:.0f} s: {text}")

    async def pace(self) -> None:
        """Space every request and upgrade we send to REQUESTS_PER_S (one address)."""
        now = time.monotonic()
        turn = max(now, self._next_request)
        self._next_request = turn + 1 / REQUESTS_PER_S
        if turn > now:
            await asyncio.sleep(turn - now)

    async def call(self, method: str, path: str, body: JsonObject | None = None) -> tuple[int, Any]:
        assert self.http is not None
        await self.pace()
        started = time.perf_counter()
        try:
            url = f"{self.server.url}/api/v1{path}"
            async with self.http.request(method, url, json=body) as response:
                status = response.status
                data = await response.json() if response.content_type.endswith("json") else None
        except (aiohttp.ClientError, TimeoutError) as exc:
            status, data = 0, None
            self.error(f"{method} {path}: {exc!r}")
        self.rest_ms.append((time.perf_counter() - started) * 1000)
        self.note("rest requests")
        self.count[f"HTTP {status}"] += 1
        if status == 429 or status >= 500:
            self.error(f"{method} {path}: {status} {data}")
        return status, data

    async def start_node(self) -> Any:
        from support.node_client import _LINE_LIMIT, NodeClient, node_executable

        node = node_executable()
        if node is None:
            raise SystemExit("node is not installed")
        modules = (self.args.tree / "tests" / "node" / "node_modules").resolve()
        proc = await asyncio.create_subprocess_exec(
            node,
            str(DRIVER),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=_LINE_LIMIT,
            env={**os.environ, "SOAK_NODE_MODULES": str(modules)},
        )
        client = NodeClient(proc)
        await client.wait_event("ready", timeout=20)
        return client

    async def follow_node(self, node: Any) -> None:
        """Permanent closes (the session was deleted) end that client's life."""
        seen = 1  # the ready event
        while True:
            with contextlib.suppress(TimeoutError):
                await node.wait_for(lambda _e: True, timeout=3600, since=seen)
            events = node.events
            for event in events[seen:]:
                if event.get("event") == "closed":
                    self.note(f"yjs closed {event.get('code')}")
                    if (gone := self.gone.get(str(event.get("client")))) is not None:
                        gone.set()
                elif event.get("event") == "error":
                    self.error(f"node: {str(event.get('error'))[:300]}")
            seen = len(events)

    # ------------------------------------------------------------ rooms
    async def create_room(self) -> Room | None:
        body = {"code": SEED_CODE, "language": "python"}
        status, data = await self.call("POST", "/sessions", body)
        if status != 201:
            return None
        room = Room(data["data"]["id"], len(self.rooms) % len(self.nodes))
        room.until = time.monotonic() + self.rng.uniform(*self.args.open)
        if self.args.interview[1] > 0:
            room.ends = time.monotonic() + self.rng.uniform(*self.args.interview)
        self.rooms[room.id] = room
        self.note("rooms created")
        return room

    async def delete_room(self, room: Room) -> None:
        room.state = "deleted"
        status, _ = await self.call("DELETE", f"/sessions/{room.id}")
        if status == 204:  # its room is dropped at once, without a log line
            self.server.loaded.discard(room.id)
            self.note("rooms deleted" + (" under clients" if room.members else ""))

    async def schedule_rooms(self, new_total: int) -> None:
        """Open, close and reopen rooms; now and then create one and delete or retire one."""
        interval = self.duration / (new_total + 1)
        next_new, made = self.t0 + interval, 0
        while not self.stopping.is_set():
            now = time.monotonic()
            ended = 0
            for room in self.rooms.values():
                if room.state == "open" and now >= min(room.until, room.ends):
                    room.state = "closing"
                if room.state == "closing" and not room.members:
                    room.state, room.since = "closed", now
                if room.state == "closed" and now >= room.ends:
                    room.state, ended = "retired", ended + 1
            for _ in range(ended):
                self.note("rooms ended (interview over) and replaced")
                await self.create_room()
            live = [r for r in self.rooms.values() if r.state in ("open", "closing", "closed")]
            opened = [r for r in live if r.state == "open"]
            closed = [
                r
                for r in live
                if r.state == "closed" and now - r.since > REOPEN_AFTER_S and now < r.ends
            ]
            self.rng.shuffle(closed)
            while len(opened) < max(2, round(OPEN_FRACTION * len(live))) and closed:
                room = closed.pop()
                room.state, room.until = "open", now + self.rng.uniform(*self.args.open)
                room.opened += 1
                opened.append(room)
                self.note("rooms reopened")
            if made < new_total and now >= next_new:
                made += 1
                next_new += interval
                await self.create_room()
                if made % 3 == 0 and (occupied := [r for r in opened if r.members]):
                    await self.delete_room(self.rng.choice(occupied))
                elif idle := [r for r in live if r.state == "closed"]:
                    victim = self.rng.choice(idle)
                    if made % 3 == 1:
                        await self.delete_room(victim)
                    else:
                        victim.state = "retired"
            await asyncio.sleep(1.0)

    async def pick_room(self, rng: random.Random) -> Room | None:
        while not self.stopping.is_set():
            opened = sorted(r.id for r in self.rooms.values() if r.state == "open")
            if opened:
                return self.rooms[rng.choice(opened)]
            await asyncio.sleep(0.5)
        return None

    # ------------------------------------------------------------ clients
    async def slot(self, index: int, kind: str) -> None:
        rng = random.Random(f"{self.args.seed}:{index}")
        await asyncio.sleep(index * self.args.ramp / self.args.clients)
        lives = 0
        while not self.stopping.is_set():
            room = await self.pick_room(rng)
            if room is None:
                return
            lives += 1
            name = f"{kind}{index}.{lives}"
            life = rng.uniform(*self.args.life)
            self.note(f"{kind} joins")
            try:
                if kind == "yjs":
                    await self.yjs_life(name, room, life, rng)
                elif kind == "json":
                    await self.json_life(name, room, life, rng)
                else:
                    await self.rest_life(room, life, rng)
            except Exception as exc:  # one broken client must not stop the soak
                self.error(f"{name} in {room.id}: {exc!r}")
            await asyncio.sleep(rng.uniform(0.2, 2.0))

    async def live_for(self, life: float, gone: asyncio.Event) -> None:
        """Until the life ends or the room is gone; at the end of the run, until all leave."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(life):
                await first_of(gone, self.stopping)
        if self.stopping.is_set() and not gone.is_set():
            await first_of(gone, self.leaving)

    async def join_participant(self, room: Room, name: str) -> str | None:
        participant = str(uuid.uuid4())
        user = {"id": participant, "name": name}
        status, _ = await self.call("POST", f"/sessions/{room.id}/join", {"user": user})
        self.note(f"participant join {status}")
        return participant if status == 200 else None

    async def leave_participant(
        self, room: Room, participant: str | None, rng: random.Random
    ) -> None:
        if participant is not None and room.state != "deleted" and rng.random() < 0.9:
            status, _ = await self.call("DELETE", f"/sessions/{room.id}/participants/{participant}")
            self.note(f"participant delete {status}")

    async def yjs_life(self, name: str, room: Room, life: float, rng: random.Random) -> None:
        node = self.nodes[room.node]
        participant = await self.join_participant(room, name) if rng.random() < 0.3 else None
        gone = self.gone[name] = asyncio.Event()
        room.members.add(name)
        user = {"name": name, "color": f"hsl({rng.randrange(360)}, 70%, 45%)"}
        try:
            await self.pace()
            await node.request(
                "connect",
                client=name,
                url=self.ws_url,
                room=room.id,
                params={"userId": participant} if participant else {},
                user=user,
                typist=rng.random() < 0.5,
                seed=rng.randrange(2**31),
            )
            await self.live_for(life, gone)
        finally:
            room.members.discard(name)
            del self.gone[name]
            await node.request("leave", client=name)
        await self.leave_participant(room, participant, rng)

    async def json_life(self, name: str, room: Room, life: float, rng: random.Random) -> None:
        assert self.http is not None
        participant = await self.join_participant(room, name) if rng.random() < 0.5 else None
        query = "?protocol=json" + (f"&userId={participant}" if participant else "")
        gone = asyncio.Event()
        await self.pace()
        async with self.http.ws_connect(f"{self.ws_url}/{room.id}{query}") as ws:
            peer = self.json_peers[name] = JsonPeer()
            room.members.add(name)
            reader = asyncio.create_task(self.json_read(ws, peer, gone))
            writer = asyncio.create_task(self.json_write(ws, peer, rng))
            try:
                await self.live_for(life, gone)
            finally:
                writer.cancel()
                await asyncio.gather(writer, return_exceptions=True)
                room.members.discard(name)
                del self.json_peers[name]
                peer.leaving = True
                await ws.close()
                await reader
        await self.leave_participant(room, participant, rng)

    async def json_read(
        self, ws: aiohttp.ClientWebSocketResponse, peer: JsonPeer, gone: asyncio.Event
    ) -> None:
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            event = json.loads(message.data)
            if event.get("type") == "code_change":
                peer.text = event["data"]["code"]
            elif event.get("type") == "error":
                self.error(f"JSON error event: {event.get('data')}")
        if not peer.leaving:
            self.note(f"json closed {ws.close_code}")
        gone.set()

    async def json_write(
        self, ws: aiohttp.ClientWebSocketResponse, peer: JsonPeer, rng: random.Random
    ) -> None:
        while True:
            await asyncio.sleep(rng.uniform(2.0, 6.0))
            if self.paused or peer.text is None:
                continue
            peer.text = edit_text(peer.text, rng)
            await ws.send_str(json.dumps({"type": "code_change", "data": {"code": peer.text}}))
            self.note("json edits")
            if rng.random() < 0.5:
                data = {"position": cursor_at(peer.text, rng)}
                await ws.send_str(json.dumps({"type": "cursor_position", "data": data}))

    async def rest_life(self, room: Room, life: float, rng: random.Random) -> None:
        ends = time.monotonic() + life
        base = f"/sessions/{room.id}"
        while time.monotonic() < ends and not self.stopping.is_set() and room.state != "deleted":
            roll = rng.random()
            if roll < 0.85:
                status, data = await self.call("GET", base)
                if roll >= 0.6 and status == 200 and room.state != "deleted":
                    session = data["data"]
                    body = {"code": edit_text(session["code"], rng)}
                    body["baseVersion"] = session["version"]
                    await self.call("PATCH", base, body)
                    self.note("rest writes")
            else:
                await self.call("GET", base + ("/participants" if roll < 0.95 else "/history"))
            await asyncio.sleep(rng.uniform(2.0, 6.0))

    # ------------------------------------------------------------ samples
    async def sample(self) -> Sample:
        stats = [await node.request("stats") for node in self.nodes]
        now = time.monotonic()
        cpu = self.server.cpu_seconds()
        cpu_pct = 100 * (cpu - self._cpu[1]) / max(1e-9, now - self._cpu[0]) if self._cpu[0] else 0
        self._cpu = (now, cpu)
        window, self.window = self.window, collections.Counter()
        rest_ms, self.rest_ms = self.rest_ms, []
        closes: collections.Counter[str] = collections.Counter()
        for s in stats:
            closes.update({f"yjs {code}": n for code, n in s["closes"].items()})
        closes.update({k: v for k, v in window.items() if k.startswith("json closed")})
        return Sample(
            t=now - self.t0,
            rss_mb=self.server.rss_mb(),
            fds=self.server.fds(),
            tcp=tcp_established(self.server.port),
            loaded=len(self.server.loaded),
            doc_kb=await asyncio.to_thread(self.stored_kb, sorted(self.server.loaded)),
            occupied=sum(1 for r in self.rooms.values() if r.members),
            clients=sum(len(r.members) for r in self.rooms.values()),
            cpu_pct=cpu_pct,
            keystrokes=sum(s["keystrokes"] for s in stats),
            json_edits=window["json edits"],
            rest_requests=window["rest requests"],
            latencies=[x for s in stats for x in s["latencies"]],
            timeouts=sum(s["timeouts"] for s in stats),
            rest_ms=rest_ms,
            node_loop_p99=max(s["loopDelayP99"] for s in stats),
            closes=dict(closes),
        )

    def stored_kb(self, sessions: list[str]) -> float:
        """The bytes storage holds for these sessions' documents (snapshot plus log), in KB:
        what the loaded rooms hold grows with it, however flat the rest of the server is."""
        if not sessions:
            return 0.0
        marks = ",".join("?" * len(sessions))
        uri = f"file:{self.server.db}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=5)) as db:
            total = 0
            for table, column in (("doc_snapshots", "state"), ("doc_log", "data")):
                query = f"SELECT sum(length({column})) FROM {table} WHERE session_id IN ({marks})"
                total += db.execute(query, sessions).fetchone()[0] or 0
        return total / 1024

    async def sampler(self) -> None:
        while not self.stopping.is_set():
            await asyncio.sleep(SAMPLE_S - (time.monotonic() - self.t0) % SAMPLE_S)
            sample = await self.sample()
            self.samples.append(sample)
            print(sample.row(), flush=True)

    # ------------------------------------------------------------ end checks
    async def check_room(self, room: Room) -> RoomCheck:
        node = self.nodes[room.node]
        deadline = time.monotonic() + 30
        while True:
            views: dict[str, str] = {}
            reply = await node.request("texts", room=room.id)
            unsynced = sum(not v["synced"] for v in reply["texts"].values())
            views.update({name: v["text"] for name, v in reply["texts"].items()})
            for name in sorted(room.members):
                if (peer := self.json_peers.get(name)) is not None:
                    views[name] = peer.text if peer.text is not None else "<nothing received>"
            status, data = await self.call("GET", f"/sessions/{room.id}")
            views["REST"] = data["data"]["code"] if status == 200 else f"<HTTP {status}>"
            agree = len(set(views.values())) == 1 and not unsynced and status == 200
            if agree or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        try:
            await self.pace()
            fresh = await node.request("fresh", url=self.ws_url, room=room.id, timeout=35)
            views["fresh"] = fresh["text"]
        except Exception as exc:
            views["fresh"] = f"<{exc!r}>"
        agree = len(set(views.values())) == 1 and not unsynced
        if not agree:
            where = self.scratch / f"divergent-{room.id}"
            where.mkdir(exist_ok=True)
            for name, text in views.items():
                (where / f"{name}.txt").write_text(text)
        return RoomCheck(room.id, room.state, views, unsynced, agree)

    async def drain(self, slots: list[asyncio.Task[None]]) -> tuple[list[str], float, int, int]:
        """Everyone leaves; wait for the rooms to unload. Returns leaked rooms, the seconds
        until none was loaded, participants left online and participants kept."""
        self.leaving.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(60):
                await asyncio.gather(*slots, return_exceptions=True)
        for node in self.nodes:  # a backstop: every client has left by itself
            await node.request("leave_all", timeout=60)
        left = time.monotonic()
        deadline = left + GRACE_S + 30
        while self.server.loaded and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        unloaded_s = time.monotonic() - left
        online = kept = 0
        for room in self.rooms.values():
            if room.state == "deleted":
                continue
            status, data = await self.call("GET", f"/sessions/{room.id}/participants")
            if status == 200:
                kept += len(data["participants"])
                online += sum(bool(p["isOnline"]) for p in data["participants"])
            await asyncio.sleep(0.1)
        return sorted(self.server.loaded), unloaded_s, online, kept

    # ------------------------------------------------------------ the run
    async def run(self) -> Report:
        await self.server.start()
        nodes = max(1, self.args.node_processes)
        self.nodes = [await self.start_node() for _ in range(nodes)]
        followers = [asyncio.create_task(self.follow_node(node)) for node in self.nodes]
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(timeout=timeout) as self.http:
            for _ in range(self.args.rooms):
                if await self.create_room() is None:
                    raise SystemExit("could not create the rooms")
                await asyncio.sleep(0.1)
            for room in self.rooms.values():  # about OPEN_FRACTION open at the start
                if self.rng.random() > OPEN_FRACTION:
                    room.state, room.since = "closed", time.monotonic() - REOPEN_AFTER_S
            new_total = min(int(self.args.minutes), SESSIONS_PER_HOUR - self.args.rooms - 2)
            self.t0 = time.monotonic()
            self._cpu = (self.t0, self.server.cpu_seconds())
            baseline = await self.sample()
            self.samples.append(baseline)
            print(SAMPLE_HEADER + "\n" + baseline.row(), flush=True)
            kinds = self.mix()
            slots = [asyncio.create_task(self.slot(i, kind)) for i, kind in enumerate(kinds)]
            background = [
                asyncio.create_task(self.sampler()),
                asyncio.create_task(self.schedule_rooms(max(0, new_total))),
            ]
            await asyncio.sleep(self.duration + 0.5)  # the sampler takes the one at the end
            self.stopping.set()
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            self.paused = True
            for node in self.nodes:
                await node.request("pause")
            await asyncio.sleep(3)  # let the last edits arrive
            checks = []
            for room in sorted(self.rooms.values(), key=lambda r: r.id):
                if room.state != "deleted":
                    checks.append(await self.check_room(room))
            leaked, unloaded_s, online, kept = await self.drain(slots)
        await asyncio.sleep(1)  # our REST keep-alive connections are closed too
        drained = await self.sample()
        for task in followers:
            task.cancel()
        node_stderr = [node.stderr_tail(10) for node in self.nodes]
        for node in self.nodes:
            await node.close()
        stopped = time.perf_counter()
        exit_code = await self.server.stop()
        return Report(
            self,
            baseline,
            drained,
            checks,
            leaked,
            unloaded_s,
            online,
            kept,
            exit_code,
            time.perf_counter() - stopped,
            [s for s in node_stderr if s],
        )

    def mix(self) -> list[str]:
        n = self.args.clients
        json_n, rest_n = round(self.args.mix[1] * n), round(self.args.mix[2] * n)
        kinds = ["yjs"] * (n - json_n - rest_n) + ["json"] * json_n + ["rest"] * rest_n
        random.Random(self.args.seed).shuffle(kinds)
        return kinds


# ------------------------------------------------------------------ report


@dataclass
class Report:
    soak: Soak
    baseline: Sample
    drained: Sample
    checks: list[RoomCheck]
    leaked: list[str]
    unloaded_s: float
    online: int
    kept: int
    exit_code: int
    stop_s: float
    node_stderr: list[str]

    def level(self, start: float, end: float) -> dict[str, float]:
        window = [s for s in self.soak.samples[1:] if start <= s.t < end] or self.soak.samples[-1:]
        lat = [x for s in window for x in s.latencies]
        return {
            "RSS MB": statistics.median(s.rss_mb for s in window),
            "open fds": statistics.median(s.fds for s in window),
            "TCP connections": statistics.median(s.tcp for s in window),
            "loaded rooms": statistics.median(s.loaded for s in window),
            "loaded documents KB (stored)": statistics.median(s.doc_kb for s in window),
            "socket clients": statistics.median(s.clients for s in window),
            "edit latency p50 ms": pct(lat, 0.5),
            "edit latency p99 ms": pct(lat, 0.99),
        }

    def figures(self) -> list[str]:
        soak, d = self.soak, self.soak.duration
        warm = self.level(soak.warmup, soak.warmup + 60)
        middle = self.level(d / 2 - 30, d / 2 + 30)
        end = self.level(d - 60, d + 1)
        b, dr = self.baseline, self.drained
        empty = {"RSS MB": b.rss_mb, "open fds": b.fds, "TCP connections": b.tcp}
        empty |= {"loaded rooms": b.loaded, "socket clients": 0}
        empty |= {"loaded documents KB (stored)": b.doc_kb}
        after = {"RSS MB": dr.rss_mb, "open fds": dr.fds, "TCP connections": dr.tcp}
        after |= {"loaded rooms": dr.loaded, "socket clients": 0}
        after |= {"loaded documents KB (stored)": dr.doc_kb}

        def drift(now: float, then: float) -> str:
            return f"{100 * (now - then) / then:+.1f} %" if then else "-"

        rows = [
            "| figure | empty server | after warm-up | middle | end | middle vs warm-up "
            "| end vs warm-up | all left |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for key in warm:
            cells = [empty.get(key), warm[key], middle[key], end[key]]
            text = ["-" if v is None else f"{v:.1f}" for v in cells]
            done = after.get(key)
            rows.append(
                f"| {key} | {' | '.join(text)} | {drift(middle[key], warm[key])} "
                f"| {drift(end[key], warm[key])} | {'-' if done is None else f'{done:.1f}'} |"
            )
        return rows

    def lines(self, command: str, started: str, load_before: str) -> list[str]:
        soak, args = self.soak, self.soak.args
        bad = [c for c in self.checks if not c.agree]
        trouble = soak.server.trouble
        log = soak.server.log_path.read_text(errors="replace").splitlines()
        warnings = collections.Counter(
            line.split(" ", 3)[-1][:120] for line in log if " WARNING " in line
        )
        warm = [s for s in soak.samples if s.t >= soak.warmup] or soak.samples
        after_warmup = [x for s in warm for x in s.latencies]
        count = soak.count
        http = ", ".join(f"{k[5:]}×{v}" for k, v in sorted(count.items()) if k.startswith("HTTP "))
        joins = ", ".join(f"{k}: {v}" for k, v in sorted(count.items()) if k.endswith(" joins"))
        rooms = ", ".join(f"{k}: {v}" for k, v in sorted(count.items()) if k.startswith("rooms "))
        seen: collections.Counter[str] = collections.Counter()
        for sample in soak.samples:
            seen.update(sample.closes)
        closes = ", ".join(f"{k}×{v}" for k, v in sorted(seen.items()))
        ends = ", ".join(f"{k}×{v}" for k, v in sorted(count.items()) if k.startswith("yjs closed"))
        parts = ", ".join(
            f"{k}×{v}" for k, v in sorted(count.items()) if k.startswith("participant ")
        )
        out = [
            f"# soak, {started}",
            "",
            f"- command: `{command}`",
            f"- server: `{args.tree}` at {tree_revision(args.tree)}; "
            f"`python -m crdt_server --port 0 --db FILE {' '.join(soak.server_args)}`, every "
            f"other setting at its default (room grace {GRACE_S:g} s)",
            f"- host load (1/5/15 min) before: {load_before}; after: {host_load()}",
            f"- {args.minutes:g} minutes, {args.clients} clients "
            f"({', '.join(mix_text(soak.mix()))}),"
            f" lives {args.life[0]:g}-{args.life[1]:g} s, rooms open"
            f" {args.open[0]:g}-{args.open[1]:g} s at a time, interviews over after"
            f" {args.interview[0]:g}-{args.interview[1]:g} s, ramp {args.ramp:g} s,"
            f" {args.rooms} rooms to start with, {len(soak.nodes)} Node process(es),"
            f" seed {args.seed}",
            f"- clients joined: {joins}; rooms: {rooms}; "
            f"loads logged {soak.server.loads}, unloads {soak.server.unloads}",
            "",
            "## Figures",
            "",
            f"Levels are medians of the 10 s samples in a one-minute window: after warm-up "
            f"= [{soak.warmup:.0f}, {soak.warmup + 60:.0f}) s, middle = the minute around "
            f"{soak.duration / 2:.0f} s, end = the last minute of the load. Drift is against "
            f"the level after warm-up, not the empty server: the server starts with nothing "
            f"loaded and fills up while the clients ramp in and the first lives end (see "
            f'the warm-up note below). "all left" is after every client left and the '
            f"rooms unloaded.",
            "",
            *self.figures(),
            "",
            f"- edit round-trip latency after warm-up (keystroke in one provider until another "
            f"provider of the room holds it): n = {len(after_warmup)}, p50 "
            f"{pct(after_warmup, 0.5):.1f} ms, p99 {pct(after_warmup, 0.99):.1f} ms, max "
            f"{max(after_warmup, default=float('nan')):.1f} ms; timeouts (15 s) "
            f"{sum(s.timeouts for s in soak.samples)}",
            f"- peak after warm-up: RSS {max(s.rss_mb for s in warm):.1f} MB, "
            f"fds {max(s.fds for s in warm)}, loaded rooms {max(s.loaded for s in warm)}",
            "",
            "## Checks",
            "",
            f"- rooms converged at the end: {len(self.checks) - len(bad)} of {len(self.checks)}"
            f" (every provider and JSON client of the room, a fresh provider and the REST text "
            f"equal; {sum(len(c.views) - 2 for c in self.checks)} clients compared)",
            f"- rooms still loaded after everyone left and the grace period: {len(self.leaked)}"
            f" {self.leaked or ''} (none loaded {self.unloaded_s:.1f} s after the last left)",
            f"- participants still online after everyone left: {self.online} (of {self.kept} "
            f"kept: each session's creator, and the 10 % of participant clients that do not "
            f"remove themselves)",
            f"- server log: {len(trouble)} ERROR/traceback lines, "
            f"{sum(warnings.values())} warnings",
            f"- shutdown (SIGTERM): exit {self.exit_code} in {self.stop_s:.2f} s",
            f"- HTTP statuses: {http}",
            f"- participants: {parts}",
            f"- closes by the server seen by clients: {closes or 'none'}; permanent ones "
            f"(the session deleted under its providers): {ends or 'none'}",
            f"- client-side errors: {count['client errors']}",
        ]
        for check in bad:
            lengths = {name: len(text) for name, text in check.views.items()}
            out.append(
                f"  - room {check.room} ({check.state}) diverged: {check.unsynced} unsynced, "
                f"lengths {lengths}; texts in {soak.scratch}/divergent-{check.room}/"
            )
        if trouble:
            out += ["", "Server log trouble (first 30):", "", "```", *trouble[:30], "```"]
        if warnings:
            out += ["", "Server warnings:", ""]
            out += [f"- {n}× {text}" for text, n in warnings.most_common(10)]
        if soak.errors:
            out += ["", "Client errors (first 50):", "", "```", *soak.errors, "```"]
        if self.node_stderr:
            out += ["", "Node stderr:", "", "```", *self.node_stderr, "```"]
        out += [
            "",
            "## Warm-up",
            "",
            f"The empty server is the first row below. The clients ramp in over {args.ramp:g} s "
            f"and the first lives end from {args.life[0]:g} s on; the churn is steady once every "
            f"slot has been through a life or two. Rooms, connections, Python's allocator and "
            f"SQLite's page cache grow in that time, so the flatness target is measured from "
            f"the level at {soak.warmup:.0f} s.",
            "",
            "## Samples (every 10 s)",
            "",
            SAMPLE_HEADER,
            *[s.row() for s in soak.samples],
            f"{self.drained.row()[:-2]} (all left) |",
            "",
            f"Scratch directory (database, server log): `{soak.scratch}`",
        ]
        return out

    @property
    def ok(self) -> bool:
        return not self.leaked and all(c.agree for c in self.checks) and not self.online


def mix_text(kinds: list[str]) -> list[str]:
    counts = collections.Counter(kinds)
    names = {"yjs": "stock y-websocket providers", "json": "JSON-event clients", "rest": "REST"}
    return [f"{counts[k]} {names[k]}" for k in ("yjs", "json", "rest")]


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
    if args.rooms > SESSIONS_PER_HOUR - 3:
        raise SystemExit(f"--rooms must stay below {SESSIONS_PER_HOUR - 2} (sessions per hour)")
    scratch = Path(tempfile.mkdtemp(prefix="soak."))
    load_before = host_load()
    command = ".venv/bin/python bench/soak.py " + shlex.join(sys.argv[1:])
    started = time.strftime("%Y-%m-%d %H:%M")
    print(f"server tree: {args.tree} ({tree_revision(args.tree)}); scratch: {scratch}")
    report = await Soak(args, scratch).run()
    lines = report.lines(command, started, load_before)
    print("\n".join(lines))
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    if not args.keep:
        for name in ("soak.db", "soak.db-wal", "soak.db-shm"):
            (scratch / name).unlink(missing_ok=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rooms", type=int, default=40, help="sessions created at the start")
    parser.add_argument("--tree", type=Path, default=REPO, help="checkout the server runs from")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--ramp", type=float, default=60.0, help="seconds to bring clients in")
    parser.add_argument("--warmup", type=float, default=120.0, help="seconds before the level")
    parser.add_argument("--node-processes", type=int, default=1)
    parser.add_argument(
        "--mix",
        type=float,
        nargs=3,
        default=(0.8, 0.1, 0.1),
        metavar=("YJS", "JSON", "REST"),
        help="shares of the client kinds (JSON and REST are rounded, Yjs takes the rest)",
    )
    parser.add_argument("--life", type=float, nargs=2, default=LIFE_S, metavar=("MIN", "MAX"))
    parser.add_argument(
        "--interview",
        type=float,
        nargs=2,
        default=INTERVIEW_S,
        metavar=("MIN", "MAX"),
        help="seconds from a session's creation until its interview is over (0 0: never)",
    )
    parser.add_argument(
        "--open",
        type=float,
        nargs=2,
        default=OPEN_S,
        metavar=("MIN", "MAX"),
        help="seconds a room stays open (short for smoke runs)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database in scratch")
    parser.add_argument("--out", help="also write the Markdown report to this file")
    sys.exit(asyncio.run(main(parser.parse_args())))
