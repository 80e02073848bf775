"""A pycrdt ``Channel`` over an aiohttp client WebSocket, so ``pycrdt.Provider`` can join a room."""

from __future__ import annotations

import aiohttp


class ClientChannel:
    """What ``pycrdt.Provider`` needs: ``path``, ``send``, ``recv`` and async iteration."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, path: str) -> None:
        self._ws = ws
        self._path = path

    @property
    def path(self) -> str:
        return self._path

    def __aiter__(self) -> ClientChannel:
        return self

    async def __anext__(self) -> bytes:
        message = await self._ws.receive()
        if message.type != aiohttp.WSMsgType.BINARY:
            raise StopAsyncIteration
        return bytes(message.data)

    async def send(self, message: bytes) -> None:
        await self._ws.send_bytes(message)

    async def recv(self) -> bytes:
        return await self.__anext__()
