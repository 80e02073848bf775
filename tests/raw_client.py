"""A bare y-websocket client on aiohttp and pycrdt, to look at exactly what goes over the wire."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from pycrdt import Doc, Text

from crdt_server import protocol
from crdt_server.protocol import Message, MessageType, SyncType


class RawClient:
    """One socket, one pycrdt Doc; frames are decoded but nothing happens behind the test's back."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.doc: Doc[Any] = Doc()
        self.text = self.doc.get("code", type=Text)

    @classmethod
    async def connect(cls, http: aiohttp.ClientSession, url: str, **kwargs: Any) -> RawClient:
        return cls(await http.ws_connect(url, **kwargs))

    async def frame(self, timeout: float = 5.0) -> bytes:
        async with asyncio.timeout(timeout):
            message = await self.ws.receive()
        assert message.type == aiohttp.WSMsgType.BINARY, message
        return bytes(message.data)

    async def message(self, timeout: float = 5.0) -> Message:
        return protocol.decode(await self.frame(timeout))

    async def handshake(self) -> list[Message]:
        """Send our step 1, apply the server's step 2; returns what arrived before that answer.

        On a socket that already synced this is the positive marker for "nothing else came":
        the server answers through the same queue, in order, as everything it sends this
        socket, so what it had sent before it read our step 1 is in the returned list.
        """
        await self.ws.send_bytes(protocol.sync_step1(self.doc.get_state()))
        before: list[Message] = []
        while True:
            message = await self.message()
            if message.type == MessageType.SYNC and message.subtype == SyncType.STEP2:
                self.doc.apply_update(message.payload)
                return before
            before.append(message)

    async def frames_before_pong(self, timeout: float = 5.0) -> list[bytes]:
        """Ping, read up to the pong; returns the frames that came first (needs autoping=False).

        aiohttp answers a ping only when the handler reads, so before the server has chosen
        the protocol (no ``?protocol=``) the pong marks "the server is waiting for us": a frame
        it sent before reading arrives before the pong.
        """
        await self.ws.ping(b"marker")
        frames: list[bytes] = []
        async with asyncio.timeout(timeout):
            while True:
                message = await self.ws.receive()
                if message.type == aiohttp.WSMsgType.PONG:
                    return frames
                assert message.type == aiohttp.WSMsgType.BINARY, message
                frames.append(bytes(message.data))

    async def edit(self, index: int, text: str) -> bytes:
        """Insert locally and send the update; returns the frame sent."""
        state = self.doc.get_state()
        self.text.insert(index, text)
        frame = protocol.sync_update(self.doc.get_update(state))
        await self.ws.send_bytes(frame)
        return frame

    async def close_code(self, timeout: float = 5.0) -> tuple[int | None, str]:
        """Read until the server closes; returns its code and reason."""
        async with asyncio.timeout(timeout):
            while True:
                message = await self.ws.receive()
                if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                    return self.ws.close_code, str(message.extra or "")
