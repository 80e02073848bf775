# Talk to a session with the JSON events (text frames), no CRDT library needed.
#
#   .venv/bin/python examples/json_client.py http://127.0.0.1:8000 SESSION_ID \
#       [--name Bot | --user-id PARTICIPANT_ID] [--append TEXT] [--cursor LINE:COLUMN] \
#       [--exit-after-ms N]
#
# (the project's venv has aiohttp; elsewhere `pip install aiohttp`). Connects to
# /ws/sessions/ID?protocol=json&userId=..., so the server sends the current state at once
# (code_change, language_change, cursor_position of everyone present) and then every change.
# Prints each event it receives as one JSON line. --name joins over REST first (a new
# participant); --append sends a code_change with TEXT added to the code; --cursor sends a
# cursor_position, which Monaco pages show as this participant's cursor. Stops after
# --exit-after-ms, on Ctrl-C, or when the server closes for good (exit status 2 for
# 4400-4499); after 1001, 1012 (a restart), 1013 or a dropped connection it reconnects,
# backing off, and gets the current state again.
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import uuid
from typing import Any
from urllib.parse import urlencode

import aiohttp


async def join(http: aiohttp.ClientSession, base: str, session_id: str, name: str) -> str:
    """Join as a new participant; we bring our own id, so we know which one we are."""
    user_id = str(uuid.uuid4())
    url = f"{base}/api/v1/sessions/{session_id}/join"
    async with http.post(url, json={"user": {"id": user_id, "name": name}}) as response:
        body = await response.json()
        if response.status != 200:
            raise SystemExit(f"join failed: {response.status} {body}")
    return user_id


async def send(ws: aiohttp.ClientWebSocketResponse, kind: str, data: dict[str, Any]) -> None:
    await ws.send_str(json.dumps({"type": kind, "data": data}))


#: Close codes after which the server expects us back: going away, restarting (1012, a
#: drain), try again later; and a connection that dropped without one (1006).
RECONNECT_ON = {1001, 1006, 1011, 1012, 1013}
BACKOFF_S = (0.25, 0.5, 1.0, 2.0, 5.0)


async def main(args: argparse.Namespace) -> int:
    base = args.base_url.rstrip("/")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if args.exit_after_ms is not None:
        loop.call_later(args.exit_after_ms / 1000, stop.set)

    async with aiohttp.ClientSession() as http:
        user_id = args.user_id or (args.name and await join(http, base, args.session_id, args.name))
        query = {"protocol": "json", **({"userId": user_id} if user_id else {})}
        url = f"{base.replace('http', 'ws', 1)}/ws/sessions/{args.session_id}?{urlencode(query)}"
        acted: set[str] = set()  # an edit is sent once, not again after a reconnect
        attempt = 0
        while True:
            code = await connect_once(http, url, args, user_id, stop, acted)
            if stop.is_set() or code not in RECONNECT_ON:
                break
            delay = BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)]
            attempt = 0 if code == 1012 else attempt + 1  # a restart: the server is back soon
            print(json.dumps({"event": "reconnecting", "code": code, "inS": delay}), flush=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                break
    if stop.is_set():  # we were told to stop (the time is up, or Ctrl-C)
        return 0
    print(json.dumps({"event": "closed", "code": code}), flush=True)
    return 2 if code is not None and 4400 <= code < 4500 else 1


async def connect_once(
    http: aiohttp.ClientSession,
    url: str,
    args: argparse.Namespace,
    user_id: str | None,
    stop: asyncio.Event,
    acted: set[str],
) -> int | None:
    """One connection, until it closes or we stop: its close code (1006 when it dropped)."""
    try:
        async with http.ws_connect(url) as ws:
            reader = asyncio.create_task(read_events(ws, args, user_id, acted))
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait([reader, stopping], return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not reader.done():
                await ws.close()
            await reader
            return ws.close_code
    except (aiohttp.ClientError, OSError):  # refused, reset, or a 503 while it drains
        return 1006


async def read_events(
    ws: aiohttp.ClientWebSocketResponse,
    args: argparse.Namespace,
    user_id: str | None,
    acted: set[str],
) -> None:
    """Print every event; act once the first code_change (the current code) has arrived."""
    async for message in ws:
        if message.type != aiohttp.WSMsgType.TEXT:
            continue
        event = json.loads(message.data)
        print(json.dumps(event, ensure_ascii=False), flush=True)
        if event["type"] == "code_change" and "first state" not in acted:
            acted.add("first state")
            if args.append:
                code = event["data"]["code"] + args.append
                await send(ws, "code_change", {"code": code, "userId": user_id})
            if args.cursor:
                line, column = (int(n) for n in args.cursor.split(":"))
                position = {"lineNumber": line, "column": column}
                await send(ws, "cursor_position", {"position": position, "userId": user_id})


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="A JSON event client for a session.")
    parser.add_argument("base_url", help="the server, e.g. http://127.0.0.1:8000")
    parser.add_argument("session_id")
    who = parser.add_mutually_exclusive_group()
    who.add_argument("--name", help="join as a new participant with this name")
    who.add_argument("--user-id", help="connect as this existing participant")
    parser.add_argument("--append", help="send a code_change adding TEXT to the code")
    parser.add_argument("--cursor", help="send a cursor_position, LINE:COLUMN (from 1)")
    parser.add_argument("--exit-after-ms", type=int, help="stop after this many milliseconds")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args(sys.argv[1:]))))
