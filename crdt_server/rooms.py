"""The room registry: load once, keep while used, flush and unload when idle.

Fifty clients arriving together at a new room share one load. A room with no
peers is flushed, compacted and dropped after a grace time, unless something
changed or someone joined meanwhile. Deleting a session closes its sockets.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from pycrdt import Doc

from storage import DocumentStore, HistoryStore, StorageError, StoredDocument

from .clock import now_ms
from .close_codes import CloseCode, close_for
from .connection import Peer
from .core.errors import SessionError
from .document import YDoc
from .room import Room, RoomListener
from .update_log import UpdateLog

log = logging.getLogger(__name__)


class RoomStore(DocumentStore, HistoryStore, Protocol):
    """What rooms persist: their documents and the timed history of their code."""


def build_doc(stored: StoredDocument, session_id: str) -> YDoc:
    """A document from its snapshot and log tail; an unreadable entry is skipped and logged."""
    doc: YDoc = Doc()
    for update in ([stored.snapshot] if stored.snapshot else []) + stored.updates:
        try:
            doc.apply_update(update)
        except Exception:
            log.exception("skipping an unreadable stored update of %s", session_id)
    return doc


class RoomManager:
    """Owns every loaded room and their background work."""

    def __init__(
        self,
        storage: RoomStore,
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
        return None if room is None else room.base().state

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._history_task = asyncio.create_task(self._history_loop(), name="history")

    async def close_peers(self) -> None:
        """Close every socket (shutdown step one: handlers return, nothing new arrives)."""
        peers = [peer for room in self.rooms.values() for peer in room.connections()]
        await asyncio.gather(
            *(peer.close(CloseCode.GOING_AWAY, "server shutting down") for peer in peers)
        )

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

    async def stored(self, session_id: str) -> YDoc:
        """The session's document as stored, without loading a room (a read of an idle one)."""
        await self.log.flush()  # what the last incarnation accepted is in storage first
        return build_doc(await self.storage.load_document(session_id), session_id)

    async def _load(self, session_id: str) -> Room:
        await self.log.flush()  # updates of an earlier incarnation must be in storage first
        stored = await self.storage.load_document(session_id)
        room = Room(session_id, build_doc(stored, session_id), self.log)
        room.bases.remember(room.base())  # what a reader of the idle session saw
        self.rooms[session_id] = room
        self.log.track(session_id, len(stored.updates), stored.tail_bytes, stored.last_seq)
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
        await self.log.compact(room.session_id)
        await self._record_history(room)

    # ------------------------------------------------------------ deletion
    async def discard(self, session_id: str, why: SessionError) -> None:
        """Close a deleted or expired session's sockets and drop its room unsaved."""
        room = self.rooms.pop(session_id, None)
        self.log.forget(session_id)
        if room is None:
            return
        if room.unload_timer is not None:
            room.unload_timer.cancel()
        code, reason = close_for(why)
        await asyncio.gather(*(peer.close(code, reason) for peer in room.connections()))
        room.peers.clear()
        room.listeners.clear()

    # ------------------------------------------------------------ history
    async def _record_history(self, room: Room) -> None:
        if room.version == room.history_version:
            return
        version = room.version
        try:
            await self.storage.add_history(room.session_id, now_ms(), room.code, room.language)
        except StorageError:
            log.exception("history snapshot of %s failed", room.session_id)
            return
        room.history_version = version

    async def _history_loop(self) -> None:
        while True:
            await asyncio.sleep(self._history_interval)
            for room in list(self.rooms.values()):
                if not room.empty:
                    await self._record_history(room)
