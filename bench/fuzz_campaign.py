"""Hostile y-websocket frames and JSON events against live rooms with real clients in them.

    flock /tmp/cpu-heavy.lock .venv/bin/python bench/fuzz_campaign.py --frames 200000 --seed 1 \\
        --tree /tmp/snap-fuzz --out bench/results/2026-12-03-fuzz.md

The server is ``python -m crdt_server --port 0 --db FILE`` from ``--tree`` (bench/live_server.py).
Each fuzzed session has real clients for the whole run: ``--providers`` stock y-websocket
``WebsocketProvider``s (tests/node/yclient.mjs, one Node process) and one seed-000 JSON client,
all typing. ``--attackers`` sockets send the frames of bench/fuzz_frames.py (mutated real frames,
crafted updates, state vectors and awareness at the integer bounds, malformed JSON events) and
reconnect whenever the server closes them. After every frame an attacker sends a WebSocket ping
and waits for its pong: aiohttp answers a ping only when the handler reads its next frame, so
the pong (or the close frame) says exactly what that frame did, and the close code is counted
for the generator kind that caused it. The frame pool also collects what the server sends the
attackers (the real clients' updates and awareness, relayed), so runs with one seed send the
same crafted frames but not byte-identical mutations.

Checks (targets: 0, 0, yes, yes):

- the server process never died (a death is recorded with the frames in flight, and the server is
  restarted so the campaign goes on), and no ERROR/CRITICAL line or traceback in its log;
- the real clients converge: every provider, the JSON client and REST agree on the text (and the
  language), and a fresh provider gets the same text;
- after a clean restart on the same database, every fuzzed session loads: REST GET (read from
  storage, no room) and a fresh y-websocket sync give the same text as before the restart.

Also: frames/s, server RSS at start, end and peak, a bystander's /health latency, and the close
codes per generator kind. ``--limits raised`` (the default) lifts the per-socket pacing so
200 000 frames go through in minutes; ``--default-frames N`` then repeats a short run with every
setting at its default. Frames that were in flight when a log line of trouble appeared are kept
in the scratch directory (suspects.jsonl, hex).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import random
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import fuzz_frames as ff
from live_server import REPO, LiveServer, use_tree

RAISED = [
    "--socket-messages-per-second",
    "1000000",
    "--socket-bytes-per-second",
    "1000000000",
    "--requests-per-second",
    "10000",
]
#: Share of frames that write under a real client's id in the ``--impersonate-frames`` run.
IMPERSONATION = 0.05
BARRIER_TIMEOUT_S = 20.0  # no pong within this: a stall
POOL_MAX, POOL_FRAME_MAX = 400, 16 * 1024
#: Another client address for everyone but the attackers (and the Node providers, which
#: share 127.0.0.1 with them): the server's per-address limits count them apart.
HONEST = ("127.0.0.2", 0)
ABNORMAL = 1006  # the connection ended without a close frame
SEED_CODE = "def solve(xs):\n    # résumé 😀\n    return sorted(xs)\n"
WORDS = ["x", "élan", "😀", "\n", "ab", "  ", "ñ", "🎉z"]


# ------------------------------------------------------------------ tallies


@dataclass
class Kind:
    sent: int = 0
    closes: collections.Counter[int] = field(default_factory=collections.Counter)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)


@dataclass
class Fuzzed:
    id: str
    participants: list[str]
    before: str = ""  # the converged text before the restart


@dataclass
class Results:
    profile: str
    flags: list[str]
    frames: int = 0
    connections: int = 0
    connect_failures: collections.Counter[str] = field(default_factory=collections.Counter)
    seconds: float = 0.0
    kinds: dict[str, Kind] = field(default_factory=lambda: collections.defaultdict(Kind))
    stalls: list[dict[str, Any]] = field(default_factory=list)
    crashes: list[dict[str, Any]] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)
    fds: list[int] = field(default_factory=list)
    health_ms: list[float] = field(default_factory=list)
    health_failures: int = 0
    typed: int = 0
    json_edits: int = 0
    real_closes: collections.Counter[str] = field(default_factory=collections.Counter)
    real_errors: list[str] = field(default_factory=list)
    converged: dict[str, bool] = field(default_factory=dict)
    divergence: list[str] = field(default_factory=list)
    frozen_clients: set[str] = field(default_factory=set)  # Node clients that stopped answering
    converge_s: float = float("nan")
    fresh_equal: dict[str, bool] = field(default_factory=dict)
    text_chars: dict[str, int] = field(default_factory=dict)
    shutdown: str = ""
    loads_after_restart: dict[str, str] = field(default_factory=dict)
    trouble: list[str] = field(default_factory=list)
    warnings: collections.Counter[str] = field(default_factory=collections.Counter)
    suspects: int = 0
    broken: list[str] = field(default_factory=list)


def consume_events(node: Any) -> list[dict[str, Any]]:
    """Take the Node client's events so far and forget them: every ``text_changed`` carries the
    whole text, and hours of them would not fit in memory (nobody waits on events meanwhile)."""
    events: list[dict[str, Any]] = node._events
    taken = list(events)
    events.clear()
    return taken


async def provider_language(node: Any, name: str) -> str:
    """A provider's ``meta.language``; read from its whole document when its meta map holds
    what JSON cannot carry (an attacker's BigInt)."""
    from pycrdt import Doc, Map
    from support.node_client import NodeCommandError

    try:
        return repr((await node.meta(client=name)).get("language"))
    except NodeCommandError:
        doc: Doc[Any] = Doc()
        try:
            doc.apply_update(await node.encode_state(client=name))
            return repr(doc.get("meta", type=Map).get("language"))
        except BaseException as exc:  # a pycrdt panic is a BaseException
            return f"unreadable: {exc!r}"


# ------------------------------------------------------------------ sockets


class Wire:
    """One attacker socket: reads everything, answers pings, and ends each barrier when the
    pong of our ping (or the end of the socket) arrives."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, keep: Callable[[bytes], None]) -> None:
        self.ws = ws
        self.keep = keep
        self.code = ""  # the text and language this JSON socket last received
        self.language: Any = None
        self.failure = ""  # what the client side made of a broken stream
        self.errors: list[str] = []
        self.done = False
        self._pong = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            while True:
                message = await self.ws.receive()
                if message.type == aiohttp.WSMsgType.BINARY:
                    self.keep(message.data)
                elif message.type == aiohttp.WSMsgType.TEXT:
                    self._event(message.data)
                elif message.type == aiohttp.WSMsgType.PING:
                    await self.ws.pong(message.data)
                elif message.type == aiohttp.WSMsgType.PONG:
                    self._pong.set()
                elif message.type == aiohttp.WSMsgType.ERROR:
                    self.failure = repr(message.data)[:300]
                    break
                else:
                    break
        except (aiohttp.ClientError, ConnectionError, RuntimeError):
            pass
        finally:
            self.done = True
            self._pong.set()

    def _event(self, text: str) -> None:
        try:
            event = json.loads(text)
            if event["type"] == "code_change":
                self.code = event["data"]["code"]
            elif event["type"] == "language_change":
                self.language = event["data"]["language"]
            elif event["type"] == "error":
                self.errors.append(event["data"]["code"])
        except (ValueError, KeyError, TypeError):
            self.errors.append("CLIENT_COULD_NOT_READ_EVENT")

    async def send(self, payload: bytes | str) -> bool:
        """Send one frame and wait until the server has read it; False once the socket ended."""
        if self.done:
            return False
        self._pong.clear()
        try:
            if isinstance(payload, bytes):
                await self.ws.send_bytes(payload)
            else:
                await self.ws.send_str(payload)
            await self.ws.ping()
        except (aiohttp.ClientError, ConnectionError, RuntimeError):
            pass
        async with asyncio.timeout(BARRIER_TIMEOUT_S):
            await self._pong.wait()
        return not self.done

    async def close_code(self) -> int:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await self._reader
        return self.ws.close_code or ABNORMAL

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)


class JsonTypist:
    """The real seed-000 client of a room: edits the text it last received, moves its cursor,
    and reconnects if it is ever closed (which is counted: it should not be)."""

    def __init__(self, campaign: Campaign, room: Fuzzed, rng: random.Random) -> None:
        self.c, self.room, self.rng = campaign, room, rng
        self.wire: Wire | None = None
        self.typing = True
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while self.typing:
            query = f"?protocol=json&userId={self.room.participants[0]}"
            url = f"{self.c.ws_base}/{self.room.id}{query}"
            try:
                self.wire = Wire(
                    await self.c.honest.ws_connect(url, autoping=False), lambda _: None
                )
            except (aiohttp.ClientError, OSError):
                await asyncio.sleep(0.5)
                continue
            while self.typing and not self.wire.done:
                await asyncio.sleep(self.rng.uniform(0.2, 0.8))
                await self._act(self.wire)
            if self.wire.done and self.typing:
                self.c.results.real_closes[f"json {await self.wire.close_code()}"] += 1

    async def _act(self, wire: Wire) -> None:
        if self.rng.random() < 0.7 and wire.code:
            points = list(wire.code)
            at = self.rng.randrange(len(points) + 1)
            points[at:at] = self.rng.choice(WORDS)
            wire.code = "".join(points)  # typed here first, as in an editor
            event = {"type": "code_change", "data": {"code": wire.code}}
            self.c.results.json_edits += 1
        else:
            position = {"lineNumber": self.rng.randrange(1, 5), "column": self.rng.randrange(1, 9)}
            event = {"type": "cursor_position", "data": {"position": position}}
        with contextlib.suppress(TimeoutError):
            await wire.send(json.dumps(event))
        self.c.results.real_errors += [f"json client got error {code}" for code in wire.errors]
        wire.errors.clear()

    async def stop_typing(self) -> None:
        self.typing = False
        await self.task


# ------------------------------------------------------------------ the campaign


class Campaign:
    def __init__(self, args: argparse.Namespace, profile: str, frames: int, scratch: Path) -> None:
        self.args, self.budget, self.scratch = args, frames, scratch
        self.impersonation = IMPERSONATION if profile == "impersonate" else 0.0
        flags = ["--log-level", "info"] + (RAISED if profile != "default" else [])
        self.results = Results(profile, flags)
        self.server = LiveServer(
            args.tree, scratch / f"{profile}.db", scratch / f"{profile}.log", flags
        )
        self.rng = random.Random(f"{args.seed}:{profile}")
        self.pool = ff.seed_frames(self.rng)
        self.seeds = len(self.pool)
        self.rooms: list[Fuzzed] = []
        self.recent: collections.deque[tuple[float, int, str, str]] = collections.deque(maxlen=48)
        self.fuzzing = True
        #: with --record: every binary frame the server read and kept the socket open after
        self.record = (scratch / f"accepted-{profile}.jsonl").open("a", encoding="utf-8")
        self.http: aiohttp.ClientSession  # the attackers, from 127.0.0.1
        self.honest: aiohttp.ClientSession  # REST checks, bystander, JSON client: 127.0.0.2

    @property
    def ws_base(self) -> str:
        return f"ws://127.0.0.1:{self.server.port}/ws/sessions"

    def keep(self, data: bytes) -> None:
        """A frame the server sent: into the mutation pool (seed frames stay)."""
        if len(data) > POOL_FRAME_MAX:
            return
        if len(self.pool) < POOL_MAX:
            self.pool.append(bytes(data))
        else:
            self.pool[self.rng.randrange(self.seeds, POOL_MAX)] = bytes(data)

    # ------------------------------------------------------------ attackers

    async def attack(self, n: int) -> None:
        rng = random.Random(f"{self.args.seed}:{self.results.profile}:attacker{n}")
        while self.results.frames < self.budget:
            room = rng.choice(self.rooms).id
            speaks_json = rng.random() < self.args.json_share
            opening = rng.randrange(3)
            query = ""
            if opening == 2:
                query = "?protocol=json" if speaks_json else "?protocol=yjs"
            try:
                ws = await self.http.ws_connect(
                    f"{self.ws_base}/{room}{query}", autoping=False, max_msg_size=0
                )
            except aiohttp.WSServerHandshakeError as exc:
                self.results.connect_failures[f"HTTP {exc.status}"] += 1
                await asyncio.sleep(0.2)
                continue
            except (aiohttp.ClientError, OSError) as exc:
                self.results.connect_failures[type(exc).__name__] += 1
                await asyncio.sleep(0.2)
                continue
            self.results.connections += 1
            wire = Wire(ws, self.keep)
            try:
                if opening == 1 and not speaks_json:  # as a real client opens
                    if not await self.sent(wire, "open:sync-step1", ff.sync_step1(b"\x00")):
                        continue
                await self.fuzz(n, rng, wire, room, speaks_json, rng.randrange(1, 300))
            finally:
                await wire.close()

    async def sent(self, wire: Wire, kind: str, payload: bytes | str) -> bool | None:
        """Send one frame and wait for the server to read it: whether the socket lives on,
        None (a stall counted) when the server did not read it within BARRIER_TIMEOUT_S."""
        try:
            return await wire.send(payload)
        except TimeoutError:
            shown = payload.hex() if isinstance(payload, bytes) else payload
            self.results.stalls.append({"kind": kind, "frame": shown[:4000]})
            self.results.kinds[kind].closes[0] += 1  # 0: no answer within BARRIER_TIMEOUT_S
            return None

    async def fuzz(
        self, n: int, rng: random.Random, wire: Wire, room: str, speaks_json: bool, length: int
    ) -> None:
        for _ in range(length):
            if self.results.frames >= self.budget:
                return
            frames: list[tuple[str, bytes | str]]
            if rng.random() < 0.01:  # a frame of the other protocol
                frames = [("cross:text", "{}")] if not speaks_json else [("cross:binary", b"\0")]
            elif speaks_json:
                frames = [ff.json_frame(rng, wire.code)]
            else:
                frames = list(ff.binary_frame(rng, self.pool, self.impersonation))
            for kind, payload in frames:
                tally = self.results.kinds[kind]
                tally.sent += 1
                self.results.frames += 1
                shown = payload.hex() if isinstance(payload, bytes) else payload
                self.recent.append((time.time(), n, kind, shown[:4000]))
                alive = await self.sent(wire, kind, payload)
                if alive is None:
                    return
                tally.errors.update(wire.errors)
                wire.errors.clear()
                if alive and self.args.record and isinstance(payload, bytes):
                    self.record.write(json.dumps([room, kind, payload.hex()]) + "\n")
                if not alive:
                    code = await wire.close_code()
                    tally.closes[code] += 1
                    if wire.failure:
                        self.results.broken.append(
                            f"{kind} {code} {wire.failure} after {shown[:300]}"
                        )
                    return

    # ------------------------------------------------------------ watchers

    async def watch(self) -> None:
        """Every 0.25 s: server alive (restarted if not), new trouble in its log (keep the
        frames in flight), RSS; a bystander's /health every 0.5 s."""
        seen, tick = 0, 0
        while self.fuzzing:
            await asyncio.sleep(0.25)
            tick += 1
            assert self.server.proc is not None
            if self.server.proc.returncode is not None:
                self.results.crashes.append(
                    {"returncode": self.server.proc.returncode, "frames": list(self.recent)}
                )
                self.dump_suspects("crash")
                await self.server.start()
                continue
            if len(self.server.trouble) > seen:
                seen = len(self.server.trouble)
                self.dump_suspects(self.server.trouble[-1])
            if tick % 2 == 0:
                await self.probe_health()
            if tick % 4 == 0:
                with contextlib.suppress(OSError, ValueError):
                    self.results.rss.append(self.server.rss_mb())
                    self.results.fds.append(self.server.fds())

    async def probe_health(self) -> None:
        started = time.perf_counter()
        try:
            async with self.honest.get(f"{self.server.url}/api/v1/health") as response:
                await response.read()
                if response.status != 200:
                    self.results.health_failures += 1
        except aiohttp.ClientError:
            self.results.health_failures += 1
        self.results.health_ms.append((time.perf_counter() - started) * 1000)

    def dump_suspects(self, why: str) -> None:
        self.results.suspects += 1
        with (self.scratch / "suspects.jsonl").open("a", encoding="utf-8") as out:
            out.write(json.dumps({"why": why, "frames": list(self.recent)}) + "\n")

    # ------------------------------------------------------------ REST

    async def rest(self, session_id: str) -> dict[str, Any] | None:
        try:
            async with self.honest.get(f"{self.server.url}/api/v1/sessions/{session_id}") as r:
                if r.status != 200:
                    return None
                data: dict[str, Any] = (await r.json())["data"]
                return data
        except (aiohttp.ClientError, ValueError):
            return None

    async def create_rooms(self) -> None:
        for _ in range(self.args.rooms):
            body = {"code": SEED_CODE, "language": "python", "creator": {"name": "Ada"}}
            async with self.honest.post(f"{self.server.url}/api/v1/sessions", json=body) as r:
                assert r.status == 201, await r.text()
                data = (await r.json())["data"]
            ids = [data["creatorId"]]
            for i in range(self.args.providers):
                join = f"{self.server.url}/api/v1/sessions/{data['id']}/join"
                async with self.honest.post(join, json={"user": {"name": f"p{i}"}}) as r:
                    assert r.status == 200, await r.text()
                    ids.append((await r.json())["data"]["participants"][-1]["id"])
            self.rooms.append(Fuzzed(data["id"], ids))

    # ------------------------------------------------------------ the run

    async def run(self) -> Results:
        from support.node_client import NodeClient

        await self.server.start()
        async with (
            aiohttp.ClientSession() as self.http,
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=HONEST)) as self.honest,
            NodeClient.start() as providers,
            NodeClient.start() as fresh,
        ):
            await self.create_rooms()
            names = await self.connect_providers(providers)
            typists = [JsonTypist(self, room, random.Random(room.id)) for room in self.rooms]
            stop = asyncio.Event()
            typing = [
                asyncio.create_task(self.type_provider(providers, name, stop)) for name in names
            ]
            await asyncio.sleep(1.0)
            self.results.rss.append(self.server.rss_mb())
            watcher = asyncio.create_task(self.watch())
            started = time.perf_counter()
            progress = asyncio.create_task(self.progress(started))
            await asyncio.gather(*(self.attack(n) for n in range(self.args.attackers)))
            self.results.seconds = time.perf_counter() - started
            self.fuzzing = False
            progress.cancel()
            await asyncio.gather(watcher, progress, return_exceptions=True)
            self.results.rss.append(self.server.rss_mb())
            stop.set()
            await asyncio.gather(*typing, *(t.stop_typing() for t in typists))
            self.count_real_events(providers)
            await self.converge(providers, names, typists)
            await self.check_fresh(fresh, "fresh", self.results.fresh_equal)
            for name in names:
                await providers.destroy(client=name)
            for typist in typists:
                if typist.wire is not None:
                    await typist.wire.close()
            self.count_real_events(providers)
            await self.restart(fresh)
        self.read_log()
        self.record.close()
        return self.results

    async def connect_providers(self, node: Any) -> list[str]:
        names = []
        for r, room in enumerate(self.rooms):
            for i in range(self.args.providers):
                name = f"r{r}p{i}"
                await node.connect(
                    self.ws_base,
                    room.id,
                    params={"userId": room.participants[i + 1]},
                    awareness={
                        "user": {"name": name, "color": "#30bced"},
                        "cursor": {"lineNumber": 1, "column": 1},
                    },
                    client=name,
                )
                names.append(name)
        for name in names:
            await node.wait_synced(timeout=20, client=name)
        return names

    async def type_provider(self, node: Any, name: str, stop: asyncio.Event) -> None:
        from support.node_client import NodeClientError

        rng, long = random.Random(f"{self.args.seed}:{name}"), False
        while not stop.is_set():
            try:
                reply = await node.random_edits(
                    rng.randint(1, 3),
                    seed=rng.randrange(2**31),
                    delete_probability=0.9 if long else 0.3,
                    client=name,
                )
                self.results.typed += reply["inserts"] + reply["deletes"]
                long = len(reply["text"]) > 4000
            except (NodeClientError, TimeoutError) as exc:
                self.results.real_errors.append(f"{name}: {exc}"[:300])
            await asyncio.sleep(rng.uniform(0.05, 0.3))
            if name.endswith("p0") and rng.random() < 0.2:
                self.count_real_events(node)

    def count_real_events(self, node: Any) -> None:
        for event in consume_events(node):
            if event.get("event") == "closed" and not event.get("local"):
                reason = str(event.get("reason"))[:60]
                self.results.real_closes[f"provider {event.get('code')} {reason}"] += 1
            elif event.get("event") in ("error", "connection_error"):
                self.results.real_errors.append(json.dumps(event)[:300])

    async def progress(self, started: float) -> None:
        step = max(self.budget // 10, 1)
        mark = step
        while True:
            await asyncio.sleep(1)
            if self.results.frames >= mark:
                rate = self.results.frames / (time.perf_counter() - started)
                rss = self.results.rss[-1] if self.results.rss else float("nan")
                print(
                    f"  {self.results.profile}: {self.results.frames} frames, "
                    f"{self.results.connections} sockets, {rate:.0f}/s, RSS {rss:.0f} MB, "
                    f"trouble {len(self.server.trouble)}",
                    flush=True,
                )
                mark += step

    async def converge(self, node: Any, names: list[str], typists: list[JsonTypist]) -> None:
        """Until every provider, the JSON client and REST agree on each room's text and language;
        what each one held is kept in the scratch directory when they never do."""
        started = time.perf_counter()
        deadline = started + self.args.converge_timeout
        pending = {room.id for room in self.rooms}
        seen: dict[str, dict[str, tuple[str, str]]] = {}
        while pending and time.perf_counter() < deadline:
            for r, room in enumerate(self.rooms):
                if room.id not in pending:
                    continue
                held: dict[str, tuple[str, str]] = {}
                for name in (n for n in names if n.startswith(f"r{r}p")):
                    try:
                        text = await node.text(client=name)
                        held[name] = (text, await provider_language(node, name))
                    except TimeoutError:  # a client the fuzzed room froze: a finding, not the end
                        held[name] = ("<no answer from the Node client>", "")
                        self.results.frozen_clients.add(name)
                wire = typists[r].wire
                held["json"] = (wire.code, repr(wire.language)) if wire else ("", "")
                data = await self.rest(room.id)
                held["rest"] = ("", "") if data is None else (data["code"], repr(data["language"]))
                seen[room.id] = held
                if len(set(held.values())) == 1:
                    pending.discard(room.id)
                    room.before = held["rest"][0]
            if pending:
                await asyncio.sleep(0.2)
        for room in self.rooms:
            self.results.converged[room.id] = room.id not in pending
            self.results.text_chars[room.id] = len(seen[room.id]["rest"][0])
            if room.id in pending:
                for who, (text, language) in seen[room.id].items():
                    where = self.scratch / f"{self.results.profile}-{room.id}-{who}.txt"
                    where.write_text(f"{language}\n{text}", encoding="utf-8", errors="replace")
                    self.results.divergence.append(
                        f"{room.id} {who}: {len(text)} chars, language {language}"
                    )
        self.results.converge_s = time.perf_counter() - started

    async def check_fresh(self, node: Any, tag: str, into: dict[str, bool]) -> None:
        from support.node_client import NodeClientError

        for room in self.rooms:
            name = f"{tag}-{room.id}"
            await node.connect(self.ws_base, room.id, client=name)
            try:
                await node.wait_synced(timeout=20, client=name)
                into[room.id] = await node.text(client=name) == room.before
            except (NodeClientError, TimeoutError):
                into[room.id] = False  # never synced: see the log (quarantined?)
            await node.destroy(client=name)
        consume_events(node)

    async def restart(self, fresh: Any) -> None:
        """SIGTERM, start on the same database, then each session from storage (REST, no room)
        and from a fresh y-websocket sync (the room loads)."""
        began = time.perf_counter()
        code = await self.server.stop()
        stopped = time.perf_counter() - began
        listening = await self.server.start()
        self.results.shutdown = f"exit {code} in {stopped:.2f} s; LISTENING {listening:.2f} s"
        synced: dict[str, bool] = {}
        stored: dict[str, str | None] = {}
        for room in self.rooms:
            data = await self.rest(room.id)
            stored[room.id] = None if data is None else data["code"]
        await self.check_fresh(fresh, "reload", synced)
        for room in self.rooms:
            rest_ok = stored[room.id] == room.before
            self.results.loads_after_restart[room.id] = (
                "yes" if rest_ok and synced[room.id] else f"REST {rest_ok}, sync {synced[room.id]}"
            )
        await self.server.stop()

    def read_log(self) -> None:
        self.results.trouble = list(self.server.trouble)
        for line in self.server.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split(" ", 4)
            if len(parts) == 5 and parts[2] == "WARNING":
                self.results.warnings[parts[4][:90]] += 1


# ------------------------------------------------------------------ report


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"median {ordered[len(ordered) // 2]:.1f}, p99 {p99:.1f}, max {ordered[-1]:.1f}"


TITLES = {
    "raised": "Raised limits (no per-socket pacing)",
    "default": "Default settings",
    "impersonate": f"Raised limits, {IMPERSONATION:.0%} of the binary frames impersonating a "
    "real client (upd:impersonate)",
}
CODES = [1003, 1007, 1008, 1009, 1013]


def kinds_table(results: Results) -> list[str]:
    lines = [
        "| generator kind | sent | kept open | " + " | ".join(map(str, CODES)) + " | other | "
        "JSON error events |",
        "| --- | --- | --- |" + " --- |" * len(CODES) + " --- | --- |",
    ]
    for name in sorted(results.kinds):
        kind = results.kinds[name]
        closed = sum(kind.closes.values())
        other = ", ".join(f"{c}×{n}" for c, n in sorted(kind.closes.items()) if c not in CODES)
        errors = ", ".join(f"{c} {n}" for c, n in kind.errors.most_common())
        cells = " | ".join(str(kind.closes.get(code, "")) for code in CODES)
        lines.append(
            f"| {name} | {kind.sent} | {kind.sent - closed} | {cells} | {other} | {errors} |"
        )
    return lines


def verdict(ok: bool) -> str:
    return "yes" if ok else "NO"


def section(results: Results) -> list[str]:
    tracebacks = sum("Traceback" in line for line in results.trouble)
    errors = sum(" ERROR " in line or " CRITICAL " in line for line in results.trouble)
    rate = results.frames / results.seconds if results.seconds else 0.0
    rss = results.rss
    loads = all(v == "yes" for v in results.loads_after_restart.values())
    closes = dict(results.real_closes) or "none"
    lines = [
        f"### {TITLES[results.profile]}",
        "",
        f"- server flags: `{' '.join(results.flags) or '(none)'}`",
        f"- frames: {results.frames} on {results.connections} attacker sockets in "
        f"{results.seconds:.1f} s: **{rate:.0f} frames/s**; refused connects: "
        f"{dict(results.connect_failures) or 'none'}",
        f"- server crashes: **{len(results.crashes)}** (target 0)",
        f"- tracebacks in the log: **{tracebacks}**; ERROR/CRITICAL lines: **{errors}** "
        f"(target 0); frame snapshots kept for trouble: {results.suspects}",
        f"- stalls (a frame not read within {BARRIER_TIMEOUT_S:.0f} s): {len(results.stalls)}",
        f"- real clients converged (providers, JSON client, REST; text and language): "
        f"**{verdict(all(results.converged.values()))}** in {results.converge_s:.1f} s; a fresh "
        f"provider got the same text: **{verdict(all(results.fresh_equal.values()))}**",
        f"- after a restart every fuzzed session loads (REST GET from storage = fresh sync = "
        f"text before): **{verdict(loads)}** ({results.shutdown})",
        f"- texts at the end (characters): {', '.join(map(str, results.text_chars.values()))}",
        f"- server RSS MB: start {rss[0]:.0f}, end {rss[-1]:.0f}, peak {max(rss):.0f}; open fds "
        f"{min(results.fds, default=0)}-{max(results.fds, default=0)}",
        f"- bystander GET /health ms: {spread(results.health_ms)} ({results.health_failures} "
        "failed)",
        f"- real clients: {results.typed} provider edits, {results.json_edits} JSON edits; "
        f"closes the server sent them while fuzzing: {closes}; errors they saw: "
        f"{len(results.real_errors)}",
        "",
        *kinds_table(results),
    ]
    if results.frozen_clients:
        frozen = ", ".join(sorted(results.frozen_clients))
        lines += ["", f"Node clients that stopped answering: {frozen}"]
    if results.divergence:
        lines += ["", "Divergent at the end:", "", *[f"- {d}" for d in results.divergence]]
    if results.broken:
        lines += ["", "Streams the attacker's client could not parse (first 10):", "", "```"]
        lines += [*results.broken[:10], "```"]
    if results.real_errors:
        lines += ["", "Real-client errors (first 10):", "", "```", *results.real_errors[:10], "```"]
    if results.trouble:
        lines += ["", "Server log trouble (first 30):", "", "```", *results.trouble[:30], "```"]
    if results.stalls:
        lines += ["", "Stalls (first 5):", "", "```"]
        lines += [json.dumps(s)[:600] for s in results.stalls[:5]] + ["```"]
    if results.warnings:
        lines += ["", "Log warnings:", ""]
        lines += [f"- {n}× {text}" for text, n in results.warnings.most_common(8)]
    return lines + [""]


def revision(tree: Path) -> str:
    out = subprocess.run(
        ["git", "-C", str(tree), "log", "-1", "--format=%H %s"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or "?"


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


async def replay(args: argparse.Namespace, frames: list[str]) -> int:
    """Send frames (hex; ``json:`` + text for a text frame) on one socket of a fresh session of a
    fresh server, and print what each did, the close frame as sent, and the log's trouble."""
    scratch = Path(tempfile.mkdtemp(prefix="fuzz-replay."))
    server = LiveServer(args.tree, scratch / "replay.db", scratch / "replay.log", [])
    await server.start()
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.url}/api/v1/sessions", json={"code": SEED_CODE}) as r:
            session_id = (await r.json())["data"]["id"]
        ws = await http.ws_connect(
            f"ws://127.0.0.1:{server.port}/ws/sessions/{session_id}", autoping=False
        )
        wire = Wire(ws, lambda _: None)
        for raw in frames:
            payload: bytes | str = raw[5:] if raw.startswith("json:") else bytes.fromhex(raw)
            alive = await wire.send(payload)
            print(f"{raw[:60]}: {'read' if alive else 'closed'} {wire.errors or ''}")
            if not alive:
                print(f"close code {await wire.close_code()} {wire.failure}")
                break
        await wire.close()
    code = await server.stop()
    print(f"server exit {code}; log trouble: {server.trouble or 'none'}; log {server.log_path}")
    return 0


async def main(args: argparse.Namespace) -> int:
    args.tree = use_tree(args.tree)
    if args.replay:
        return await replay(args, args.replay)
    scratch = Path(tempfile.mkdtemp(prefix="fuzz-campaign."))
    command = ".venv/bin/python bench/fuzz_campaign.py " + shlex.join(sys.argv[1:])
    load_before, started = uptime(), time.strftime("%Y-%m-%d %H:%M")
    print(f"server tree {args.tree} ({revision(args.tree)}); scratch {scratch}", flush=True)
    runs: list[Callable[[], Awaitable[Results]]] = []
    if args.frames:
        runs.append(Campaign(args, args.limits, args.frames, scratch).run)
    if args.default_frames and args.limits != "default":
        runs.append(Campaign(args, "default", args.default_frames, scratch).run)
    if args.impersonate_frames:
        runs.append(Campaign(args, "impersonate", args.impersonate_frames, scratch).run)
    results = [await run() for run in runs]
    report = [
        f"# Fuzz campaign, {started}",
        "",
        f"- command: `{command}`",
        f"- server: `python -m crdt_server --port 0 --db FILE` from `{args.tree}` at "
        f"{revision(args.tree)}",
        f"- machine before: `{load_before}`; after: `{uptime()}`",
        f"- rooms: {args.rooms}, each with {args.providers} stock y-websocket providers (typing) "
        f"and one JSON client (typing); {args.attackers} attacker sockets, "
        f"{args.json_share:.0%} of them JSON; seed {args.seed}; scratch `{scratch}`",
        "",
    ]
    for result in results:
        report += section(result)
    text = "\n".join(report)
    print(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    ok = all(
        not r.crashes
        and not r.trouble
        and all(r.converged.values())
        and all(r.fresh_equal.values())
        and all(v == "yes" for v in r.loads_after_restart.values())
        for r in results
    )
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", help="write the Markdown report to this file")
    parser.add_argument("--tree", type=Path, default=REPO, help="checkout the server runs from")
    parser.add_argument("--rooms", type=int, default=2)
    parser.add_argument("--providers", type=int, default=2, help="stock providers per room")
    parser.add_argument("--attackers", type=int, default=8, help="attacker sockets at once")
    parser.add_argument("--json-share", type=float, default=0.3, help="attackers speaking JSON")
    parser.add_argument(
        "--limits",
        choices=["raised", "default"],
        default="raised",
        help="raised: no per-socket pacing (flags in the report); default: every default",
    )
    parser.add_argument(
        "--default-frames",
        type=int,
        default=5000,
        help="then a short run at default settings (0: none)",
    )
    parser.add_argument(
        "--impersonate-frames",
        type=int,
        default=0,
        help=f"then a run (raised limits) where {IMPERSONATION * 100:.0f}%% of the binary "
        "frames write under a real client's id",
    )
    parser.add_argument("--converge-timeout", type=float, default=60.0)
    parser.add_argument(
        "--record",
        action="store_true",
        help="keep every binary frame the server accepted in scratch/accepted-PROFILE.jsonl",
    )
    parser.add_argument(
        "--replay",
        nargs="+",
        metavar="FRAME",
        help="only send these frames (hex, or json:TEXT) on one socket of a fresh server",
    )
    sys.exit(asyncio.run(main(parser.parse_args())))
