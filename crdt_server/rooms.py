"""The room registry: load once, keep while used, flush and unload when idle.

Fifty clients arriving together at a new room share one load. A room with no
peers is flushed, compacted and dropped after a grace time, unless something
changed or someone joined meanwhile. Deleting a session closes its sockets.
"""

from __future__ import annotations

import asyncio
import logging

from pycrdt import Doc

from storage import Storage

from .connection import Peer
from .document import YDoc, read_code, read_language
from .room import Room, RoomListener
from .update_log import UpdateLog, now_ms

log = logging.getLogger(__name__)

GOING_AWAY = 1001


class RoomManager:
    """Owns every loaded room and their background work."""

    def __init__(
        self,
        storage: Storage,
        update_log: UpdateLog,
        *,
        grace_s: float,
        history_interval_s: float,
    ) -> None:
        self.storage = storage
        self.log = update_log
        self.rooms: dict[str, Room] = {}
        self._grace = grace_s
        self._history_interval = history_interval_s
        self._loads: dict[str, asyncio.Task[Room]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._history_task: asyncio.Task[None] | None = None

    def snapshot_of(self, session_id: str) -> bytes | None:
        """The full state of a loaded document (the update log's compaction source)."""
        room = self.rooms.get(session_id)
        return None if room is None else room.doc.get_update()

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._history_task = asyncio.create_task(self._history_loop(), name="history")

    async def close_peers(self) -> None:
        """Close every socket (shutdown step one: handlers return, nothing new arrives)."""
        peers = [peer for room in self.rooms.values() for peer in room.connections()]
        await asyncio.gather(*(peer.close(GOING_AWAY, "server shutting down") for peer in peers))

    async def close(self) -> None:
        """Flush and compact every room (graceful shutdown)."""
        if self._history_task is not None:
            self._history_task.cancel()
            await asyncio.gather(self._history_task, return_exceptions=True)
        await self.close_peers()
        for room in self.rooms.values():
            if room.unload_timer is not None:
                room.unload_timer.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for room in list(self.rooms.values()):
            await self._persist(room)
            del self.rooms[room.session_id]

    # ------------------------------------------------------------ loading
    async def get(self, session_id: str) -> Room:
        """The loaded room of a session, loading it at most once at a time."""
        room = self.rooms.get(session_id)
        if room is not None:
            return room
        task = self._loads.get(session_id)
        if task is None:
            task = asyncio.create_task(self._load(session_id), name=f"load-{session_id}")
            self._loads[session_id] = task
            task.add_done_callback(lambda _t: self._loads.pop(session_id, None))
        return await asyncio.shield(task)

    async def _load(self, session_id: str) -> Room:
        await self.log.flush()  # updates of an earlier incarnation must be in storage first
        stored = await self.storage.load_document(session_id)
        doc: YDoc = Doc()
        for update in ([stored.snapshot] if stored.snapshot else []) + stored.updates:
            try:
                doc.apply_update(update)
            except Exception:
                log.exception("skipping an unreadable stored update of %s", session_id)
        room = Room(session_id, doc, self.log)
        self.rooms[session_id] = room
        self.log.track(session_id, len(stored.updates), stored.tail_bytes)
        self._schedule_unload(room)
        log.info("room %s loaded (%d logged updates)", session_id, len(stored.updates))
        return room

    # ------------------------------------------------------------ peers
    async def _claim(self, session_id: str) -> Room:
        """The loaded room, kept from unloading: someone is about to join it."""
        room = await self.get(session_id)
        if room.unload_timer is not None:
            room.unload_timer.cancel()
            room.unload_timer = None
        return room

    async def join(self, session_id: str, peer: Peer) -> Room:
        room = await self._claim(session_id)
        room.add(peer)
        return room

    def leave(self, room: Room, peer: Peer) -> None:
        room.remove(peer)
        self._schedule_unload(room)

    async def attach(self, session_id: str, listener_id: int, listener: RoomListener) -> Room:
        """Add a non-Yjs connection (a JSON client) to a session's room."""
        room = await self._claim(session_id)
        room.add_listener(listener_id, listener)
        return room

    def detach(self, room: Room, listener_id: int) -> None:
        room.remove_listener(listener_id)
        self._schedule_unload(room)

    # ------------------------------------------------------------ unloading
    def _schedule_unload(self, room: Room) -> None:
        if not room.empty or self.rooms.get(room.session_id) is not room:
            return
        if room.unload_timer is not None:
            room.unload_timer.cancel()
        loop = asyncio.get_running_loop()
        room.unload_timer = loop.call_later(self._grace, self._spawn_unload, room)

    def _spawn_unload(self, room: Room) -> None:
        room.unload_timer = None
        task = asyncio.create_task(self._unload(room), name=f"unload-{room.session_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _unload(self, room: Room) -> None:
        version = room.version
        await self._persist(room)
        # Nothing may have happened while we awaited: else keep the room.
        if not room.empty or room.version != version or self.rooms.get(room.session_id) is not room:
            self._schedule_unload(room)
            return
        del self.rooms[room.session_id]
        self.log.forget(room.session_id)
        log.info("room %s unloaded", room.session_id)

    async def _persist(self, room: Room) -> None:
        """Flush the log, compact the document and take a history snapshot if it changed."""
        await self.log.compact(room.session_id, room.doc.get_update())
        await self._record_history(room)

    # ------------------------------------------------------------ deletion
    async def discard(self, session_id: str, code: int, reason: str) -> None:
        """Close a deleted or expired session's sockets and drop its room unsaved."""
        room = self.rooms.pop(session_id, None)
        self.log.forget(session_id)
        if room is None:
            return
        if room.unload_timer is not None:
            room.unload_timer.cancel()
        await asyncio.gather(*(peer.close(code, reason) for peer in room.connections()))
        room.peers.clear()
        room.listeners.clear()

    # ------------------------------------------------------------ history
    async def _record_history(self, room: Room) -> None:
        if room.version == room.history_version:
            return
        version = room.version
        try:
            await self.storage.add_history(
                room.session_id, now_ms(), read_code(room.doc), read_language(room.doc)
            )
        except Exception:
            log.exception("history snapshot of %s failed", room.session_id)
            return
        room.history_version = version

    async def _history_loop(self) -> None:
        while True:
            await asyncio.sleep(self._history_interval)
            for room in list(self.rooms.values()):
                if not room.empty:
                    await self._record_history(room)
