"""The WebSocket endpoint ``/ws/sessions/{sessionId}`` and its aiohttp adapter.

This is the only module of the live side that knows aiohttp. A socket is
accepted first and refused with a 44xx close code and a reason (the stock
y-websocket provider stops reconnecting on exactly that range), or wrapped in
a :class:`SocketPeer` and handed to its room.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import deque

from aiohttp import WSMsgType, web

from storage import StorageError

from .connection import next_connection_id
from .keys import ROOMS, SETTINGS, STORAGE
from .protocol import ProtocolError
from .room import Room
from .update_log import now_ms

log = logging.getLogger(__name__)

SESSION_ID = re.compile(r"^[0-9a-f]{8}$")
UNSUPPORTED = 1003
TRY_AGAIN_LATER = 1013


class SocketPeer:
    """A room peer over an aiohttp WebSocket; ``send`` queues, a pump task writes in order."""

    def __init__(self, ws: web.WebSocketResponse, user_id: str | None) -> None:
        self.id = next_connection_id()
        self.user_id = user_id
        self.synced = False
        self._ws = ws
        self._queue: deque[bytes] = deque()
        self._wake = asyncio.Event()
        self._closing = False
        self._pump = asyncio.create_task(self._run(), name=f"ws-pump-{self.id}")

    def send(self, data: bytes) -> None:
        if not self._closing:
            self._queue.append(data)
            self._wake.set()

    async def _run(self) -> None:
        ws, queue = self._ws, self._queue
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while queue:
                    await ws.send_bytes(queue.popleft())
        except (ConnectionError, RuntimeError):
            self._closing = True  # the socket went away; the handler cleans up

    async def close(self, code: int, reason: str) -> None:
        self._closing = True
        await self._ws.close(code=code, message=reason.encode())

    async def stop(self) -> None:
        self._closing = True
        self._pump.cancel()
        await asyncio.gather(self._pump, return_exceptions=True)


async def _refusal(request: web.Request, session_id: str) -> tuple[int, str] | None:
    """Why this socket may not join, as (close code, reason); None when it may."""
    if not SESSION_ID.match(session_id):
        return 4400, "malformed session id"
    try:
        record = await request.app[STORAGE].get_session(session_id)
    except StorageError:
        log.exception("session lookup failed for a socket")
        return TRY_AGAIN_LATER, "storage unavailable"
    if record is None:
        return 4404, "session not found"
    if record.expires_at <= now_ms():
        return 4410, "session expired"
    return None


async def _serve(ws: web.WebSocketResponse, room: Room, peer: SocketPeer) -> None:
    """Feed the socket's frames to its room until it closes or misbehaves."""
    async for message in ws:
        if message.type == WSMsgType.BINARY:
            try:
                room.receive(peer, message.data)
            except ProtocolError as exc:
                log.info("closing socket %s of %s: %s", peer.id, room.session_id, exc)
                await peer.close(exc.close_code, str(exc))
                return
        elif message.type == WSMsgType.TEXT:
            await peer.close(UNSUPPORTED, "text frames are not part of the y-websocket protocol")
            return


async def websocket(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    ws = web.WebSocketResponse(
        max_msg_size=settings.max_message_bytes,
        heartbeat=settings.heartbeat_seconds,
        compress=False,  # deflating every frame per recipient costs more CPU than it saves
    )
    await ws.prepare(request)
    session_id = request.match_info["sessionId"]
    refusal = await _refusal(request, session_id)
    if refusal is not None:
        await ws.close(code=refusal[0], message=refusal[1].encode())
        return ws
    rooms = request.app[ROOMS]
    peer = SocketPeer(ws, request.query.get("userId"))
    room: Room | None = None
    try:
        room = await rooms.join(session_id, peer)
        await _serve(ws, room, peer)
    finally:
        if room is not None:
            rooms.leave(room, peer)  # synchronous: survives the handler's cancellation
        await asyncio.shield(peer.stop())
        if not ws.closed:
            await ws.close()
    return ws


def add_websocket_routes(app: web.Application) -> None:
    # y-websocket does not URL-encode the room name: take the whole rest of the path.
    app.router.add_get("/ws/sessions/{sessionId:.*}", websocket)
