"""The WebSocket endpoint ``/ws/sessions/{sessionId}`` and its aiohttp adapter.

This is the only module of the live side that knows aiohttp. A socket is
accepted first and refused with a 44xx close code and a reason (the stock
y-websocket provider stops reconnecting on exactly that range). Otherwise
its protocol is picked with no configuration: ``?protocol=json`` or a text
first frame means the seed-000 JSON events, a binary first frame (or
``?protocol=yjs``) means y-websocket.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass

from aiohttp import WSMessage, WSMsgType, hdrs, web

from storage import ParticipantRecord, StorageError

from . import protocol
from .close_codes import CloseCode, close_for
from .connection import next_connection_id
from .core.actor import Actor, Role, Via
from .core.errors import Draining, Forbidden, InvalidInput, RateLimited, SessionError
from .core.quota import Pacer
from .core.sessions import actor_for
from .frames import TEXT, FrameCache, encode_frame
from .json_bridge import JsonClient
from .keys import LIVE, SETTINGS
from .limits import frame_limit
from .logs import CONNECTION_ID, ROLE
from .merge import MERGES
from .presence import Seat
from .protocol import DocumentFull, DocumentQuarantined, ProtocolError
from .room import Room
from .strict_json import JsonRejected, loads
from .turns import Turn
from .update_check import UpdateRejected, UpdateStats, check_update
from .workers import WORKERS

log = logging.getLogger(__name__)

PROTOCOLS = ("json", "yjs", "y-websocket")
#: When the socket's upgrade began (a request key): its sync time is measured from there.
_OPENED_AT = web.RequestKey("opened_at", float)
_CLIENT = web.RequestKey("client_address", str)  # "" when aiohttp knows no peer
_FORWARDED = "X-Forwarded-For"
#: A frame is written straight to the transport while less than this is buffered there.
_DIRECT_WRITE_BYTES = 64 * 1024
#: Updates at least this large are checked in a worker thread (the check is pure Python).
_CHECK_OFF_LOOP_BYTES = 64 * 1024


class Outbox:
    """Frames queued by the room, written in order; sending never blocks.

    While the socket keeps up (nothing queued, its transport's buffer low) a frame is
    written straight to the transport: no queue, no task switch, and a broadcast's frame is
    encoded once for every recipient. Otherwise frames wait in the queue for one pump task.
    A socket that does not read (or reads slower than its room writes) is closed with 1013
    once ``max_bytes`` are queued for it, instead of holding the memory.
    """

    def __init__(
        self,
        ws: web.WebSocketResponse,
        transport: asyncio.Transport | None,
        max_bytes: int,
        frames: FrameCache,
    ) -> None:
        self._ws = ws
        self._transport = transport
        self._frames = frames
        self._queue: deque[bytes | str] = deque()
        self._queued = 0  # bytes (or characters) waiting
        self._max = max_bytes
        self._sending = False  # the pump is inside a send: direct writes would overtake it
        self._wake = asyncio.Event()
        self.closing = False
        self._closer: asyncio.Task[None] | None = None
        self._pump: asyncio.Task[None] | None = asyncio.create_task(self._run())

    def send(self, data: bytes) -> None:
        if self._writable():
            assert self._transport is not None
            self._transport.write(self._frames.frame(data))
        else:
            self._push(data)

    def send_text(self, text: str) -> None:
        if self._writable():
            assert self._transport is not None
            self._transport.write(encode_frame(text.encode(), TEXT))
        else:
            self._push(text)

    def _writable(self) -> bool:
        transport = self._transport
        return (
            not self._queue
            and not self._sending
            and not self.closing
            and transport is not None
            and not transport.is_closing()
            and not self._ws.closed
            and transport.get_write_buffer_size() < _DIRECT_WRITE_BYTES
        )

    def _push(self, frame: bytes | str) -> None:
        if self.closing:
            return
        self._queued += len(frame)
        if self._queued > self._max:
            log.info("closing a socket that does not read: %d bytes queued", self._queued)
            self.closing = True  # now: nothing more is queued or answered for it
            self._queue.clear()
            self._queued = 0
            self._closer = asyncio.create_task(
                self.close(CloseCode.TRY_AGAIN_LATER, "too much data queued: read faster")
            )
            return
        self._queue.append(frame)
        self._wake.set()

    async def _run(self) -> None:
        ws, queue = self._ws, self._queue
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while queue:
                    frame = queue.popleft()
                    self._queued -= len(frame)
                    self._sending = True
                    try:
                        if isinstance(frame, bytes):
                            await ws.send_bytes(frame)
                        else:
                            await ws.send_str(frame)
                    finally:
                        self._sending = False
        except (ConnectionError, RuntimeError):
            self.closing = True  # the socket went away; the handler cleans up

    async def close(self, code: CloseCode, reason: str) -> None:
        self.closing = True
        # a close frame's payload is at most 125 bytes: the code's two, then the reason
        cut = reason.encode()[:123].decode(errors="ignore").encode()
        await self._ws.close(code=code, message=cut)

    async def stop(self) -> None:
        self.closing = True
        tasks = [task for task in (self._pump, self._closer) if task is not None]
        if self._pump is not None:
            self._pump.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # The cancelled pump keeps its CancelledError, whose traceback holds the pump's
        # frame, which holds this outbox: a cycle through the socket, its request and
        # buffers, freed only by a full cycle collection, minutes later on a busy server.
        self._pump = self._closer = None


class SocketPeer(Outbox):
    """A y-websocket client: a room :class:`~crdt_server.connection.Peer`."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        transport: asyncio.Transport | None,
        participant: ParticipantRecord | None,
        max_bytes: int,
        frames: FrameCache,
        role: Role | None = None,
        connection_id: int | None = None,
    ) -> None:
        super().__init__(ws, transport, max_bytes, frames)
        self.id = connection_id or next_connection_id()
        self.actor = actor_for(participant, Actor(Via.YJS, role=role, connection=self.id))
        self.synced = False
        self.denied = False  # told once that it is read-only

    def rebind(self, participant: ParticipantRecord) -> None:
        self.actor = actor_for(participant, Actor(Via.YJS, connection=self.id))


@dataclass(frozen=True, slots=True)
class Admission:
    """Who a socket speaks for: a participant, or (an invite holder) only a role."""

    participant: ParticipantRecord | None
    role: Role | None  # the role without a participant; None on an open server


def _token_in(text: str | None) -> str | None:
    """A seed client's token, sent as ``token`` in its first event (or in its data)."""
    try:
        event = loads(text) if text is not None else None
    except JsonRejected:
        return None
    if not isinstance(event, dict):
        return None
    data = event.get("data")
    token = event.get("token") or (data.get("token") if isinstance(data, dict) else None)
    return token if isinstance(token, str) else None


async def _admit(request: web.Request, session_id: str, first: WSMessage | None) -> Admission:
    """Who this socket is, from its token (``?token=``, or a JSON client's first event) or,
    on an open server, its ``?userId=``; raises the session core's refusals."""
    protocol = request.query.get("protocol")
    if protocol is not None and protocol not in PROTOCOLS:
        raise InvalidInput("unknown protocol: use json or yjs")
    live, user_id = request.app[LIVE], request.query.get("userId")
    if live.access.open:
        _, participant = await live.sessions.admit(session_id, user_id)
        return Admission(participant, None)
    text = first.data if first is not None and first.type == WSMsgType.TEXT else None
    token = request.query.get("token") or _token_in(text)
    grant = await live.access.grant(token, session_id, Via.YJS, client_key(request))
    if user_id is not None and (grant.participant is None or grant.participant.id != user_id):
        raise Forbidden("userId is not the token's participant")
    return Admission(grant.participant, None if grant.participant else grant.actor.role)


def client_key(request: web.Request) -> str:
    """The key a client's quotas are counted under, on every transport: its address."""
    return f"ip:{client_address(request)}"


def client_address(request: web.Request) -> str | None:
    """The client's address: the peer's, or the one a trusted proxy forwarded for."""
    if _CLIENT not in request:
        proxies = request.app[LIVE].proxies
        found = proxies.client_of(request.remote, request.headers.get(_FORWARDED))
        request[_CLIENT] = found or ""
    return request[_CLIENT] or None


@dataclass(slots=True)
class Pacing:
    """How one socket is held back: its own message and byte rate, its turns on the loop,
    and its client's share of the loop."""

    pacer: Pacer
    turn: Turn
    session_id: str
    told_held_back: bool = False

    async def after(self, size: int) -> None:
        """The frame of ``size`` bytes just handled: wait as long as that calls for (the
        first wait for each reason logged)."""
        wait = self.pacer.delay(size)
        if wait and self.pacer.throttled == 1:
            log.info("slowing a socket of %s down to its message and byte rate", self.session_id)
        await self.turn.end(wait)
        if self.turn.held_back and not self.told_held_back:
            self.told_held_back = True
            log.info("holding back a socket of %s: its client is past its share", self.session_id)


async def _serve_yjs(
    ws: web.WebSocketResponse,
    room: Room,
    peer: SocketPeer,
    first: bytes | None,
    pacing: Pacing,
    opened_at: float,
) -> None:
    """Feed binary frames to the room until the socket closes or misbehaves."""
    metrics = room.metrics
    frame = first
    while True:
        if frame is not None:
            try:
                answered = room.receive(peer, frame, stats=await _checked_off_loop(frame, room))
            except ProtocolError as exc:
                log.info("closing socket %s of %s: %s", peer.id, room.session_id, exc)
                if metrics is not None:
                    refused = isinstance(exc, DocumentFull | DocumentQuarantined)
                    (metrics.refused if refused else metrics.invalid).inc()
                await peer.close(exc.close_code, str(exc))
                return
            if peer.synced and opened_at and metrics is not None:
                metrics.sync_seconds.observe(time.monotonic() - opened_at)
                opened_at = 0.0  # once per socket
            if peer.closing:
                return  # given up on (it does not read): what it sent next is not read
            await pacing.after(len(frame) + answered)
        message = await ws.receive()
        await pacing.turn.start()
        if message.type == WSMsgType.BINARY:
            frame = message.data
        elif message.type == WSMsgType.TEXT:
            reason = "text frames are not part of the y-websocket protocol"
            await peer.close(CloseCode.UNSUPPORTED_DATA, reason)
            return
        else:
            return


def pacing_for(request: web.Request, session_id: str) -> Pacing:
    """One socket's pacing: a whole document may arrive at once, then the byte rate holds;
    its loop time is charged to its client's address."""
    settings = request.app[SETTINGS]
    pacer = Pacer(
        settings.socket_messages_per_second,
        settings.socket_bytes_per_second,
        burst_bytes=settings.max_document_bytes + 64 * 1024,
    )
    return Pacing(pacer, Turn(request.app[LIVE].loop_shares, client_key(request)), session_id)


async def _checked_off_loop(frame: bytes, room: Room) -> UpdateStats | None:
    """Check a large update in a worker thread, so the loop keeps serving everyone else;
    its stats, or None when it is left to the room (small ones are checked inline). One
    past the document's limit is refused first: that costs nothing."""
    if len(frame) < _CHECK_OFF_LOOP_BYTES:
        return None
    message = protocol.decode(frame)
    if message.type != protocol.MessageType.SYNC or message.subtype == protocol.SyncType.STEP1:
        return None
    room.fits(len(message.payload))
    try:
        loop = asyncio.get_running_loop()
        stats = await loop.run_in_executor(MERGES, check_update, message.payload)
    except UpdateRejected as exc:
        raise ProtocolError(str(exc)) from None
    await WORKERS.check_update(room.limits, room.state(), message.payload)
    return stats


async def _serve_json(
    ws: web.WebSocketResponse,
    client: JsonClient,
    outbox: Outbox,
    first: str | None,
    pacing: Pacing,
) -> None:
    if first is not None:
        await client.receive(first)
        await pacing.after(len(first))
    while not outbox.closing:  # given up on (it does not read): what it sent next is not read
        message = await ws.receive()
        await pacing.turn.start()
        if message.type == WSMsgType.TEXT:
            await client.receive(message.data)
            await pacing.after(len(message.data))
        elif message.type == WSMsgType.BINARY:
            reason = "binary frames are not part of the JSON protocol"
            await client.close(CloseCode.UNSUPPORTED_DATA, reason)
            return
        else:
            return


async def _first_frame(ws: web.WebSocketResponse, protocol: str | None) -> WSMessage | None:
    """The frame that decides the protocol, unless the query already did."""
    if protocol is not None:
        return None
    message = await ws.receive()
    return message if message.type in (WSMsgType.BINARY, WSMsgType.TEXT) else None


async def websocket(request: web.Request) -> web.StreamResponse:
    settings, live = request.app[SETTINGS], request.app[LIVE]
    if live.draining:  # the balancer has been told (readiness); the client retries elsewhere
        raise Draining("the server is shutting down; reconnect")
    ws = web.WebSocketResponse(
        max_msg_size=frame_limit(settings),
        heartbeat=settings.heartbeat_seconds,
        compress=False,  # deflating every frame per recipient costs more CPU than it saves
    )
    request[_OPENED_AT] = time.monotonic()
    CONNECTION_ID.set(next_connection_id())  # on every line this socket logs
    await ws.prepare(request)
    try:
        client = client_key(request)
        if not live.sockets.open(client):
            await ws.close(code=CloseCode.TRY_AGAIN_LATER, message=b"too many sockets from here")
            return ws
        try:
            await _serve(request, ws)
        finally:
            live.sockets.close(client)
        return ws
    finally:
        _unhook_heartbeat(request, ws)


def _unhook_heartbeat(request: web.Request, ws: web.WebSocketResponse) -> None:
    """Once the socket is closed, drop the heartbeat callback aiohttp's protocol keeps.

    aiohttp (3.14) gives the connection's protocol the response's heartbeat callback and
    never takes it back: protocol -> response -> request -> protocol, a cycle that keeps
    the request, the response and their buffers until a full cycle collection, which on a
    busy server runs minutes apart (a soak's RSS rose to that high-water). Its ``set_parser``
    is the only public way in, so the private slot is cleared here, once nothing is read.
    """
    protocol = request.protocol
    if ws.closed and getattr(protocol, "_data_received_cb", None) is not None:
        protocol._data_received_cb = None


async def _serve(request: web.Request, ws: web.WebSocketResponse) -> None:
    settings, live = request.app[SETTINGS], request.app[LIVE]
    session_id = request.match_info["sessionId"]
    protocol = request.query.get("protocol")
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is not None and not live.origins.allows(origin, request.host):
        await ws.close(code=CloseCode.FORBIDDEN, message=b"origin not allowed")
        return
    first: WSMessage | None = None
    try:
        async with asyncio.timeout(settings.join_timeout_seconds):
            token_first = not live.access.open and "token" not in request.query
            if token_first and protocol != "yjs":  # a seed client may send its token first
                first = await _first_frame(ws, None)
            admission = await _admit(request, session_id, first)
            room = await live.rooms.get(session_id)
            if room.quarantined is not None:
                damaged = b"the document is damaged and read-only"
                await ws.close(code=CloseCode.CONFLICT, message=damaged)
                return
            if first is None:
                first = await _first_frame(ws, protocol)
    except SessionError as exc:
        if isinstance(exc, RateLimited):
            live.metrics.rate_limited.labels("websocket").inc()
        code, reason = close_for(exc)
        if code == CloseCode.TRY_AGAIN_LATER:
            log.error("refusing a socket of %s: %s", session_id, exc)
        await ws.close(code=code, message=reason.encode())
        return
    except TimeoutError:
        await ws.close(code=CloseCode.POLICY_VIOLATION, message=b"no first frame in time")
        return
    except StorageError:
        log.exception("loading the room of %s for a socket failed", session_id)
        await ws.close(code=CloseCode.TRY_AGAIN_LATER, message=b"storage unavailable")
        return
    if protocol is None and first is None:
        return  # closed before saying anything
    data = None if first is None else first.data
    speaks_json = protocol == "json" or (first is not None and first.type == WSMsgType.TEXT)
    role = _role_label(admission)
    ROLE.set(role)
    open_now = live.metrics.connections.labels("json" if speaks_json else "yjs", role)
    open_now.inc()
    try:
        if speaks_json:
            await _run_json(request, ws, session_id, admission, data)
        else:
            await _run_yjs(request, ws, session_id, admission, data)
    finally:
        open_now.dec()


def _role_label(admission: Admission) -> str:
    """The role a socket speaks with, for metrics: "open" on a server without tokens."""
    if admission.participant is not None:
        return admission.participant.role
    return admission.role.value if admission.role is not None else "open"


async def _run_yjs(
    request: web.Request,
    ws: web.WebSocketResponse,
    session_id: str,
    admission: Admission,
    first: bytes | None,
) -> None:
    live = request.app[LIVE]
    rooms = live.rooms
    participant = admission.participant
    settings = request.app[SETTINGS]
    peer = SocketPeer(
        ws,
        request.transport,
        participant,
        settings.max_outbox_bytes,
        live.frames,
        admission.role,
        CONNECTION_ID.get(),
    )
    seat = Seat(live.presence, session_id)
    room: Room | None = None
    try:
        if participant is not None:
            await seat.take(participant.id)  # before the first frame we send: REST agrees
        try:
            room = await rooms.join(session_id, peer)
        except ProtocolError as exc:  # the session has its maximum of sockets
            await peer.close(exc.close_code, str(exc))
            return
        except SessionError as exc:  # deleted or expired since the socket was admitted
            await peer.close(*close_for(exc))
            return
        await _serve_yjs(
            ws, room, peer, first, pacing_for(request, session_id), request[_OPENED_AT]
        )
    finally:
        if room is not None:
            rooms.leave(room, peer)  # synchronous: survives the handler's cancellation
        await asyncio.shield(_finish(ws, peer, seat))


async def _run_json(
    request: web.Request,
    ws: web.WebSocketResponse,
    session_id: str,
    admission: Admission,
    first: str | None,
) -> None:
    live, settings = request.app[LIVE], request.app[SETTINGS]
    participant = admission.participant
    rooms = live.rooms
    outbox = Outbox(ws, request.transport, settings.max_outbox_bytes, live.frames)
    seat = Seat(live.presence, session_id)
    try:
        room = await rooms.get(session_id)
    except SessionError as exc:  # deleted or expired since the socket was admitted
        await outbox.close(*close_for(exc))
        await outbox.stop()
        return

    async def bind(client: JsonClient, candidate: str) -> bool:
        """A seed client names itself in its first event instead of ``?userId=`` (only on an
        open server: with tokens, a socket is who its token says). The client is passed in,
        not captured: a closure over it would be a cycle (client -> bind -> client)."""
        if not live.access.open:
            return False
        try:
            record = await live.sessions.participant(session_id, candidate)
        except SessionError:
            return False
        if client.participant is not None:
            return False
        client.participant = record
        await seat.take(candidate)
        return True

    client = JsonClient(
        room,
        outbox,
        participant,
        max_errors=settings.json_max_errors,
        max_code_chars=settings.max_code_chars,
        bind=bind,
        role=admission.role,
        connection_id=CONNECTION_ID.get(),
    )
    attached: Room | None = None
    try:
        if participant is not None:
            await seat.take(participant.id)
        try:
            attached = client.room = await rooms.attach(session_id, client.id, client)
            client.start()
        except ProtocolError as exc:  # crowded, or the room was reset meanwhile
            await outbox.close(exc.close_code, str(exc))
            return
        except SessionError as exc:  # deleted or expired since the socket was admitted
            await outbox.close(*close_for(exc))
            return
        await _serve_json(ws, client, outbox, first, pacing_for(request, session_id))
    finally:
        client.stop()
        if attached is not None:
            rooms.detach(attached, client.id)
        await asyncio.shield(_finish(ws, outbox, seat))


async def _finish(ws: web.WebSocketResponse, outbox: Outbox, seat: Seat) -> None:
    await outbox.stop()
    await seat.release()
    if not ws.closed:
        await ws.close()


def add_websocket_routes(app: web.Application) -> None:
    # y-websocket does not URL-encode the room name: take the whole rest of the path.
    app.router.add_get("/ws/sessions/{sessionId:.*}", websocket)
