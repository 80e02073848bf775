# Follow and edit a session from Python: a pycrdt Doc synced by pycrdt.Provider over aiohttp.
#
#   .venv/bin/python examples/python_client.py http://127.0.0.1:8000 SESSION_ID \
#       [--user-id PARTICIPANT_ID] [--insert TEXT] [--exit-after-ms N]
#
# (the project's venv has pycrdt and aiohttp; elsewhere `pip install pycrdt aiohttp`).
# Prints one JSON object per line: {"event": "synced", "code": ..., "language": ...}, then
# "change" for every later change of the code. --insert appends TEXT once synced. Stops after
# --exit-after-ms, on Ctrl-C, or when the server closes the socket (exit status 2 for a permanent
# close, 4400-4499, e.g. the session was deleted). The server speaks y-websocket to this client
# because its first frame is binary: the Provider's sync step 1.
from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from typing import Any
from urllib.parse import urlencode

import aiohttp
from pycrdt import Doc, Map, Provider, Text, TextEvent


class AiohttpChannel:
    """pycrdt's ``Channel`` (send, recv, async iteration) over an aiohttp client WebSocket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, path: str) -> None:
        self._ws = ws
        self._path = path
        self.closed = asyncio.Event()

    @property
    def path(self) -> str:
        return self._path

    @property
    def close_code(self) -> int | None:
        return self._ws.close_code

    def __aiter__(self) -> AiohttpChannel:
        return self

    async def __anext__(self) -> bytes:
        return await self.recv()

    async def send(self, message: bytes) -> None:
        await self._ws.send_bytes(message)

    async def recv(self) -> bytes:
        while True:
            message = await self._ws.receive()
            if message.type == aiohttp.WSMsgType.BINARY:
                return bytes(message.data)
            if message.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSING,
                aiohttp.WSMsgType.CLOSED,
                aiohttp.WSMsgType.ERROR,
            ):
                self.closed.set()
                raise StopAsyncIteration
            # a y-websocket server never sends text to a Yjs client; ignore anything else


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}, ensure_ascii=False), flush=True)


def websocket_url(base: str, session_id: str, user_id: str | None) -> str:
    query = f"?{urlencode({'userId': user_id})}" if user_id else ""
    return f"{base.rstrip('/').replace('http', 'ws', 1)}/ws/sessions/{session_id}{query}"


async def main(args: argparse.Namespace) -> int:
    doc: Doc[Any] = Doc()
    code = doc.get("code", type=Text)
    meta = doc.get("meta", type=Map)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if args.exit_after_ms is not None:
        loop.call_later(args.exit_after_ms / 1000, stop.set)

    url = websocket_url(args.base_url, args.session_id, args.user_id)
    async with aiohttp.ClientSession() as http, http.ws_connect(url, max_msg_size=0) as ws:
        channel = AiohttpChannel(ws, f"/ws/sessions/{args.session_id}")
        async with Provider(doc, channel) as provider:
            synced = asyncio.create_task(provider.synced.wait())
            closed = asyncio.create_task(channel.closed.wait())
            await asyncio.wait([synced, closed], return_when=asyncio.FIRST_COMPLETED)
            if provider.synced.is_set():
                emit("synced", code=str(code), language=meta.get("language"))

                def changed(_: TextEvent) -> None:
                    emit("change", code=str(code))

                code.observe(changed)
                if args.insert:
                    code += args.insert
                waiting = asyncio.create_task(stop.wait())
                await asyncio.wait([waiting, closed], return_when=asyncio.FIRST_COMPLETED)
                waiting.cancel()
            synced.cancel()
            closed.cancel()
    if channel.closed.is_set():
        emit("closed", code=channel.close_code)
        return 2 if channel.close_code is not None and 4400 <= channel.close_code < 4500 else 1
    return 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Follow and edit a session with pycrdt.")
    parser.add_argument("base_url", help="the server, e.g. http://127.0.0.1:8000")
    parser.add_argument("session_id")
    parser.add_argument("--user-id", help="a participant id: marks that participant online")
    parser.add_argument("--insert", help="text to append to the code once synced")
    parser.add_argument("--exit-after-ms", type=int, help="stop after this many milliseconds")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args(sys.argv[1:]))))
