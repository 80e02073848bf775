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

    async def handshake(self) -> None:
        """Send our step 1, apply the server's step 2 (skipping its step 1 and awareness)."""
        await self.ws.send_bytes(protocol.sync_step1(self.doc.get_state()))
        while True:
            message = await self.message()
            if message.type == MessageType.SYNC and message.subtype == SyncType.STEP2:
                self.doc.apply_update(message.payload)
                return

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
