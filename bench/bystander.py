"""A bystander that measures the server's latency while an attack runs; its own process.

    python bench/bystander.py URL OUT [--mode full|ticker] [--period-ms 20]

It runs in a process of its own so the attacker's work (building 16 MiB updates,
parsing 512K-character answers) never delays its clocks. It prints ``READY`` once its
clients are connected, then appends one JSON line per sample to OUT until SIGTERM:

* ``full``: every ~``period`` ms a ``GET /api/v1/health`` on a fresh TCP connection
  (rotating over three loopback source addresses, so each stays under the default
  ``--requests-per-second`` of 20), and an edit round trip in a session of its own: a
  y-websocket editor inserts a character, a second y-websocket client in the same session
  times its echo. Every 500 ms a new y-websocket client joins (connect, sync step 1,
  step 2) and leaves: what a newcomer sees.
* ``ticker``: sync step 1 -> step 2 round trips on an empty session every ``period`` ms
  (spread over three sockets, under the per-socket message rate); the worst gap between
  answers is the server's worst event-loop stall.

Both modes also record their own loop lag (``lag``), so a stall of the bench machine
itself can be told apart from one of the server. Samples: ``{"k": kind, "t": send time
(time.monotonic, system-wide), "lat": seconds, "ok": bool, "info": ...}``; a probe still
in flight at SIGTERM is written with ``"pending": true`` and its latency so far.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from pathlib import Path
from typing import IO, Any

import aiohttp
from pycrdt import Doc, Text

sys.path.insert(0, str(Path(__file__).resolve().parent))

from attack_kit import (  # noqa: E402
    STEP1,
    STEP2,
    create_session,
    decode,
    handshake,
    sync_step1,
    sync_update,
    ws_url,
)

HEALTH_ADDRESSES = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
WS_ADDRESS = "127.0.0.5"
TIMEOUT = 60.0


class Recorder:
    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.pending: dict[int, tuple[str, float]] = {}
        self._next = 0

    def start(self, kind: str) -> tuple[int, float]:
        self._next += 1
        at = time.monotonic()
        self.pending[self._next] = (kind, at)
        return self._next, at

    def done(self, token: int, ok: bool = True, info: Any = None) -> None:
        kind, at = self.pending.pop(token)
        self.write(kind, at, time.monotonic() - at, ok, info)

    def write(
        self, kind: str, at: float, lat: float, ok: bool, info: Any = None, **extra: Any
    ) -> None:
        row = {"k": kind, "t": round(at, 6), "lat": round(lat, 6), "ok": ok, **extra}
        if info is not None:
            row["info"] = info
        self.out.write(json.dumps(row) + "\n")

    def flush_pending(self) -> None:
        now = time.monotonic()
        for kind, at in self.pending.values():
            self.write(kind, at, now - at, False, "pending at stop", pending=True)
        self.pending.clear()
        self.out.flush()


def session_for(address: str) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(local_addr=(address, 0), force_close=True)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=TIMEOUT))


async def next_update(ws: aiohttp.ClientWebSocketResponse) -> bytes:
    while True:
        message = await ws.receive()
        if message.type != aiohttp.WSMsgType.BINARY:
            raise ConnectionError(f"socket ended: {message.type} {ws.close_code}")
        kind, sub, payload = decode(bytes(message.data))
        if kind == 0 and sub != STEP1:
            return payload


async def every(period: float, stop: asyncio.Event, probe: Any) -> None:
    """Run ``probe`` every ``period`` seconds, one at a time (a slow one delays the next)."""
    next_at = time.monotonic()
    while not stop.is_set():
        await probe()
        next_at = max(next_at + period, time.monotonic())
        try:
            await asyncio.wait_for(stop.wait(), max(0.0, next_at - time.monotonic()))
        except TimeoutError:
            pass


async def own_lag(rec: Recorder, stop: asyncio.Event) -> None:
    while not stop.is_set():
        at = time.monotonic()
        await asyncio.sleep(0.01)
        lag = time.monotonic() - at - 0.01
        if lag > 0.005:
            rec.write("lag", at, lag, True)


async def run_full(
    base: str, rec: Recorder, period: float, ready: asyncio.Event, stop: asyncio.Event
) -> None:
    async with session_for(WS_ADDRESS) as http:
        session_id = await create_session(http, base)
    url = ws_url(base, session_id)
    https = [session_for(a) for a in HEALTH_ADDRESSES]
    wsconn = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(WS_ADDRESS, 0)))
    editor_doc: Doc[Any] = Doc()
    editor_text = editor_doc.get("code", type=Text)
    editor = await wsconn.ws_connect(url, max_msg_size=0)
    watcher = await wsconn.ws_connect(url, max_msg_size=0)
    await handshake(editor, editor_doc)
    await handshake(watcher, Doc())
    turn = [0]

    async def health() -> None:
        http = https[turn[0] % len(https)]
        turn[0] += 1
        token, _ = rec.start("health")
        try:
            async with http.get(base + "/api/v1/health") as resp:
                await resp.read()
                rec.done(token, resp.status == 200, resp.status)
        except Exception as exc:  # noqa: BLE001 - every failure is a sample
            rec.done(token, False, f"{type(exc).__name__}: {exc}"[:200])

    async def edit() -> None:
        token, _ = rec.start("ws")
        try:
            state = editor_doc.get_state()
            editor_text.insert(0, "x" if len(editor_text) < 64 else "")
            if len(editor_text) >= 64:
                del editor_text[0:64]
            await editor.send_bytes(sync_update(editor_doc.get_update(state)))
            async with asyncio.timeout(TIMEOUT):
                await next_update(watcher)
            rec.done(token)
        except Exception as exc:  # noqa: BLE001
            rec.done(token, False, f"{type(exc).__name__}: {exc}"[:200])
            stop.set()  # the bystander's own clients are gone: nothing more to measure

    async def join() -> None:
        token, _ = rec.start("join")
        try:
            async with asyncio.timeout(TIMEOUT):
                ws = await wsconn.ws_connect(url, max_msg_size=0)
                await handshake(ws, Doc())
                await ws.close()
            rec.done(token)
        except Exception as exc:  # noqa: BLE001
            rec.done(token, False, f"{type(exc).__name__}: {exc}"[:200])

    ready.set()
    try:
        await asyncio.gather(
            every(period, stop, health), every(period, stop, edit), every(0.5, stop, join)
        )
    finally:
        await asyncio.gather(editor.close(), watcher.close(), return_exceptions=True)
        for http in [*https, wsconn]:
            await http.close()


async def run_ticker(
    base: str, rec: Recorder, period: float, ready: asyncio.Event, stop: asyncio.Event
) -> None:
    async with session_for(WS_ADDRESS) as setup:
        session_id = await create_session(setup, base)
    url = ws_url(base, session_id)
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(WS_ADDRESS, 0)))
    sockets = [await http.ws_connect(url, max_msg_size=0) for _ in range(3)]
    for ws in sockets:
        await handshake(ws, Doc())
    step1 = sync_step1(Doc().get_state())
    sent: list[list[float]] = [[] for _ in sockets]

    async def reader(i: int) -> None:
        ws = sockets[i]
        while True:
            message = await ws.receive()
            if message.type != aiohttp.WSMsgType.BINARY:
                stop.set()
                return
            _, sub, _ = decode(bytes(message.data))
            if sub == STEP2 and sent[i]:
                at = sent[i].pop(0)
                rec.write("tick", at, time.monotonic() - at, True)

    readers = [asyncio.create_task(reader(i)) for i in range(len(sockets))]
    turn = [0]

    async def tick() -> None:
        i = turn[0] % len(sockets)
        turn[0] += 1
        sent[i].append(time.monotonic())
        await sockets[i].send_bytes(step1)

    ready.set()
    try:
        await every(period, stop, tick)
    finally:
        now = time.monotonic()
        for queue in sent:
            for at in queue:
                rec.write("tick", at, now - at, False, "pending at stop", pending=True)
        for task in readers:
            task.cancel()
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
        await http.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url")
    parser.add_argument("out")
    parser.add_argument("--mode", choices=("full", "ticker"), default="full")
    parser.add_argument("--period-ms", type=float, default=20.0)
    args = parser.parse_args()
    stop, ready = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    with open(args.out, "a", buffering=1) as out:  # line-buffered: read while running
        rec = Recorder(out)
        run = run_full if args.mode == "full" else run_ticker
        task = asyncio.create_task(run(args.url, rec, args.period_ms / 1000, ready, stop))
        lag = asyncio.create_task(own_lag(rec, stop))
        waiter = asyncio.create_task(ready.wait())
        await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # raises: could not set up
        print("READY", flush=True)
        await stop.wait()
        try:
            async with asyncio.timeout(5):
                await task
        except TimeoutError:
            task.cancel()
        rec.flush_pending()
        await lag


if __name__ == "__main__":
    asyncio.run(main())
