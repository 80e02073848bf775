"""A seed-000 JSON WebSocket client for tests: send events, wait for the ones you expect."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp

Event = dict[str, Any]


class JsonWs:
    """Collects every event the server sends; ``expect`` waits for a matching one."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.events: list[Event] = []
        self.binary_frames = 0
        self.close_code: int | None = None
        self._arrived = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, http: aiohttp.ClientSession, url: str) -> JsonWs:
        return cls(await http.ws_connect(url))

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                self.events.append(json.loads(message.data))
            elif message.type == aiohttp.WSMsgType.BINARY:
                self.binary_frames += 1
            self._arrived.set()
        self.close_code = self.ws.close_code
        self._arrived.set()

    async def send(self, kind: str, data: Any) -> None:
        await self.ws.send_str(json.dumps({"type": kind, "data": data}))

    async def expect(
        self,
        kind: str,
        where: Callable[[Event], bool] = lambda e: True,
        timeout: float = 5.0,
        since: int = 0,
    ) -> Event:
        """The first event of ``kind`` from index ``since`` on that satisfies ``where``."""
        index = since
        async with asyncio.timeout(timeout):
            while True:
                while index < len(self.events):
                    event = self.events[index]
                    index += 1
                    if event["type"] == kind and where(event["data"]):
                        return event
                if self._reader.done():
                    raise AssertionError(f"closed ({self.close_code}) before {kind}: {self.events}")
                self._arrived.clear()
                await self._arrived.wait()

    def mark(self) -> int:
        return len(self.events)

    async def closed(self, timeout: float = 5.0) -> int | None:
        async with asyncio.timeout(timeout):
            await self._reader
        return self.close_code

    async def close(self) -> None:
        await self.ws.close()
        await self._reader
