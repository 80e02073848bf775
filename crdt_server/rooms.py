"""The room registry: load once, keep while used, flush and unload when idle.

Fifty clients arriving together at a new room share one load. A room with no
peers is flushed, compacted and dropped after a grace time, unless something
changed or someone joined meanwhile. Deleting a session closes its sockets.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from pycrdt import Doc

from storage import (
    DocumentStore,
    HistoryStore,
    ParticipantRecord,
    StorageError,
    StoredDocument,
)

from . import memory
from .clock import now_ms
from .close_codes import CloseCode, close_for
from .connection import Peer
from .core.actor import Role
from .core.errors import SessionDeleted, SessionError, SessionExpired
from .document import YDoc
from .limits import Limits
from .logs import job_context
from .metrics import Metrics
from .protocol import RoomCrowded
from .room import Room, RoomListener
from .surrogates import PairHalves
from .update_check import UpdateRejected, check_update
from .update_log import UpdateLog
from .workers import WORK_FOR, WORKERS, TooCostly

if TYPE_CHECKING:
    from .relay import Relay

log = logging.getLogger(__name__)

#: How long a deleted session's id is remembered, so that a socket admitted just before
#: the deletion cannot load its room again (far longer than any join takes).
GONE_FOR_S = 300.0


class RoomStore(DocumentStore, HistoryStore, Protocol):
    """What rooms persist: their documents and the timed history of their code."""


def participant_fields(record: ParticipantRecord) -> dict[str, Any]:
    """A participant record as JSON fields (what another process rebuilds it from)."""
    return {name: getattr(record, name) for name in ParticipantRecord.__dataclass_fields__}


def stored_parts(stored: StoredDocument) -> list[bytes]:
    """What a document is built from, in order: its snapshot, then its log tail."""
    return ([stored.snapshot] if stored.snapshot else []) + stored.updates


async def load_doc(
    stored: StoredDocument, session_id: str, limits: Limits, pairs: PairHalves | None = None
) -> tuple[YDoc, str | None]:
    """:func:`build_doc`, once a worker has timed it within the loop's budget. One that
    would hold the loop longer is not built: the session is read-only and empty, its log
    kept as stored for an operator (a hostile shape, 10k interleaved client ids, took 6.4 s
    for 2.3 MB)."""
    try:
        await WORKERS.check_load(limits, stored_parts(stored))
    except TooCostly as exc:
        reason = f"the stored document is too costly to load ({exc})"
        log.error("session %s quarantined: %s", session_id, reason)
        return Doc(), reason
    return build_doc(stored, session_id, pairs)


def build_doc(
    stored: StoredDocument, session_id: str, pairs: PairHalves | None = None
) -> tuple[YDoc, str | None]:
    """A document from its snapshot and log tail, and why it holds only part of them.

    Every stored entry is checked before pycrdt sees it; at the first bad one the load
    stops with the good prefix (a Doc that raised is rebuilt from that prefix, never read
    again), so a damaged log is quarantined instead of crashing whoever opens it.
    """
    parts = stored_parts(stored)
    doc: YDoc = Doc()
    for index, update in enumerate(parts):
        try:
            stats = check_update(update)
        except UpdateRejected as exc:
            reason = f"stored entry {index} of {len(parts)} is invalid ({exc})"
            log.error("session %s quarantined: %s", session_id, reason)
            return doc, reason
        try:
            doc.apply_update(update)
        except BaseException as exc:
            if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
                raise
            reason = f"stored entry {index} of {len(parts)} could not be applied"
            log.error("session %s quarantined: %s", session_id, reason)
            good: YDoc = Doc()
            for update in parts[:index]:
                good.apply_update(update)
            return good, reason
        if pairs is not None:
            pairs.add(stats.pair_halves)
    return doc, None


class RoomManager:
    """Owns every loaded room and their background work."""

    def __init__(
        self,
        storage: RoomStore,
        update_log: UpdateLog,
        *,
        grace_s: float,
        history_interval_s: float,
        limits: Limits | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.storage = storage
        self.metrics = metrics
        self.limits = limits or Limits()
        self.log = update_log
        self.rooms: dict[str, Room] = {}
        self._grace = grace_s
        self._history_interval = history_interval_s
        self._loads: dict[str, asyncio.Task[Room]] = {}
        self._gone: dict[str, tuple[float, SessionError]] = {}  # deleted lately, oldest first
        self._tasks: set[asyncio.Task[None]] = set()
        self._history_task: asyncio.Task[None] | None = None
        self.trimmer = memory.Trimmer()  # unloaded documents' pages, back to the system
        self.relay: Relay | None = None  # the other processes sharing these sessions, if any

    def snapshot_of(self, session_id: str) -> bytes | None:
        """The full state of a loaded document (the update log's compaction source)."""
        room = self.rooms.get(session_id)
        if room is None or room.quarantined is not None:
            return None  # a damaged log is kept as it is, for an operator to look at
        state = room.base().state
        room.size = len(state)  # compaction folds history: the document is this big now
        return state

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._history_task = asyncio.create_task(self._history_loop(), name="history")

    async def close_peers(self) -> None:
        """Close every socket (shutdown step one: handlers return, nothing new arrives)."""
        peers = [peer for room in self.rooms.values() for peer in room.connections()]
        reason = "server restarting; reconnect"
        await asyncio.gather(*(peer.close(CloseCode.SERVICE_RESTART, reason) for peer in peers))

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
            try:  # one room that cannot be saved must not keep the others (or exit) waiting
                await self._persist(room)
            except Exception:
                log.exception("room %s could not be saved at shutdown", room.session_id)
            del self.rooms[room.session_id]
        await self.trimmer.close()
        await asyncio.to_thread(WORKERS.close)

    # ------------------------------------------------------------ loading
    async def get(self, session_id: str) -> Room:
        """The loaded room of a session, loading it at most once at a time; the session's
        refusal when it was deleted or expired meanwhile."""
        self._refuse_gone(session_id)
        room = self.rooms.get(session_id)
        if room is not None:
            return room
        task = self._loads.get(session_id)
        if task is None:
            task = asyncio.create_task(
                self._load(session_id), name=f"load-{session_id}", context=job_context(session_id)
            )
            self._loads[session_id] = task
            task.add_done_callback(lambda _t: self._loads.pop(session_id, None))
        return await asyncio.shield(task)

    async def stored(self, session_id: str) -> tuple[YDoc, str | None]:
        """The session's document as stored, without loading a room (a read of an idle one),
        and why it is quarantined, if it is."""
        await self.log.flush()  # what the last incarnation accepted is in storage first
        stored = await self.storage.load_document(session_id)
        return await load_doc(stored, session_id, self.limits)

    async def _load(self, session_id: str) -> Room:
        # everyone joining waits for this load: it is the session's work, not the work of the
        # client that asked first (whose line in the workers it would otherwise wait in)
        WORK_FOR.set(f"session:{session_id}")  # this task's own context
        await self.log.flush()  # updates of an earlier incarnation must be in storage first
        if self.relay is None:
            return await self._build(session_id)
        await self.relay.follow(session_id)  # before the read: nothing committed is missed
        try:
            return await self._build(session_id)
        except BaseException:
            await self.relay.unfollow(session_id)
            raise

    async def _build(self, session_id: str) -> Room:
        stored = await self.storage.load_document(session_id)
        pairs = PairHalves()
        doc, damaged = await load_doc(stored, session_id, self.limits, pairs)
        room = Room(
            session_id, doc, self.log, self.limits, on_broken=self.retire, metrics=self.metrics
        )
        room.pairs = pairs
        room.quarantined = damaged
        room.ended = stored.ended
        room.bases.remember(room.base())  # what a reader of the idle session saw
        room.size = len(room.base().state)
        self._refuse_gone(session_id)  # deleted while we loaded: nobody may get this room
        self.rooms[session_id] = room
        self.log.track(session_id, len(stored.updates), stored.tail_bytes, stored.last_seq)
        if self.relay is not None:
            self.relay.loaded(room, stored.last_seq)
        self._schedule_unload(room)
        log.info("room %s loaded (%d logged updates)", session_id, len(stored.updates))
        return room

    # ------------------------------------------------------------ peers
    async def _claim(self, session_id: str) -> Room:
        """The loaded room, kept from unloading: someone is about to join it (if it has room:
        else RoomCrowded)."""
        room = await self.get(session_id)
        if len(room.peers) + len(room.listeners) >= self.limits.max_sockets:
            raise RoomCrowded(self.limits.max_sockets)
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
        room.unload_timer = loop.call_later(
            self._grace, self._spawn_unload, room, context=job_context(room.session_id)
        )

    def _spawn_unload(self, room: Room) -> None:
        room.unload_timer = None
        self._spawn(room.session_id, self._unload(room))

    async def _unload(self, room: Room) -> None:
        version = room.version
        await self._persist(room)
        # Nothing may have happened while we awaited: else keep the room.
        if not room.empty or room.version != version or self.rooms.get(room.session_id) is not room:
            self._schedule_unload(room)
            return
        del self.rooms[room.session_id]
        self.log.forget(room.session_id)
        if self.relay is not None:
            await self.relay.unfollow(room.session_id)
        log.info("room %s unloaded", room.session_id)
        self.trimmer.request()

    async def _persist(self, room: Room) -> None:
        """Flush the log, compact the document and take a history snapshot if it changed."""
        await self.log.compact(room.session_id)
        await self._record_history(room)

    def retire(self, room: Room) -> None:
        """Drop a room whose Doc raised, unread and uncompacted: its accepted updates are in
        the log queue, so the next load rebuilds it from storage. Its sockets are told to
        reconnect."""
        if self.rooms.get(room.session_id) is room:
            del self.rooms[room.session_id]
            self.log.forget(room.session_id)
            if self.relay is not None:
                self._spawn(room.session_id, self.relay.unfollow(room.session_id))
        if room.unload_timer is not None:
            room.unload_timer.cancel()
            room.unload_timer = None
        for connection in room.connections():
            reconnect = connection.close(CloseCode.TRY_AGAIN_LATER, "document reset; reconnect")
            self._spawn(room.session_id, reconnect)

    def _spawn(self, session_id: str, work: Coroutine[Any, Any, None]) -> None:
        """Run a room's job in a context naming its session only (see :mod:`.logs`)."""
        task = asyncio.create_task(work, context=job_context(session_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def participant_changed(
        self,
        session_id: str,
        participant_id: str,
        record: ParticipantRecord | None,
        *,
        share: bool = True,
    ) -> None:
        """Apply a participant's new record (a new role) to its open sockets at once; a
        removed participant's sockets are closed (4401: its token no longer works). On
        every process (``share`` False: the news came from another one)."""
        if share and self.relay is not None:
            details = None if record is None else participant_fields(record)
            self.relay.control(session_id, "participant", id=participant_id, record=details)
        room = self.rooms.get(session_id)
        if room is None:
            return
        if record is None:
            room.participants.pop(participant_id, None)
        else:
            room.participants[participant_id] = record
        for connection in room.connections():
            if connection.actor.participant_id != participant_id:
                continue
            if record is None:
                removed = connection.close(CloseCode.UNAUTHORIZED, "removed from the session")
                self._spawn(session_id, removed)
            else:
                connection.rebind(record)

    def invite_rotated(self, session_id: str, role: Role, *, share: bool = True) -> None:
        """Close the sockets that came in on the rotated invite (they have no participant),
        on every process."""
        if share and self.relay is not None:
            self.relay.control(session_id, "invite", role=str(role))
        room = self.rooms.get(session_id)
        for connection in [] if room is None else room.connections():
            actor = connection.actor
            if actor.participant_id is None and actor.role is role:
                rotated = connection.close(CloseCode.UNAUTHORIZED, "the invite was rotated")
                self._spawn(session_id, rotated)

    # ------------------------------------------------------------ deletion
    async def discard(self, session_id: str, why: SessionError, *, share: bool = True) -> None:
        """Close a deleted or expired session's sockets and drop its room unsaved, on every
        process; a load in flight and a socket admitted just before are refused with ``why``."""
        if self.relay is not None:
            if share:
                gone = "expired" if isinstance(why, SessionExpired) else "deleted"
                self.relay.control(session_id, "gone", why=gone)
            await self.relay.unfollow(session_id)
        now = time.monotonic()
        while self._gone and next(iter(self._gone.values()))[0] < now - GONE_FOR_S:
            del self._gone[next(iter(self._gone))]
        self._gone[session_id] = (now, why)
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
        self.trimmer.request()

    def mark_ended(self, room: Room) -> None:
        """The interview ended: no update of anyone's applies, on any process."""
        room.ended = True
        if self.relay is not None:
            self.relay.control(room.session_id, "ended")

    def notes_changed(self, session_id: str, view: dict[str, Any], *, share: bool = True) -> None:
        """Pass new notes to the room's listeners that may read them, on every process."""
        if share and self.relay is not None:
            self.relay.control(session_id, "notes", notes=view)
        room = self.rooms.get(session_id)
        if room is not None:
            room.notes_changed(view)

    def share_with(self, relay: Relay) -> None:
        """Share these rooms with other processes: what happens to a session here is told
        to them, and what they tell is applied here."""
        self.relay = relay
        relay.on_control("gone", self._remote_gone)
        relay.on_control("ended", self._remote_ended)
        relay.on_control("participant", self._remote_participant)
        relay.on_control("invite", self._remote_invite)
        relay.on_control("notes", self._remote_notes)

    def _remote_gone(self, session_id: str, _process: bytes, what: dict[str, Any]) -> None:
        why = SessionExpired("session expired") if what.get("why") == "expired" else None
        gone = why or SessionDeleted("session deleted")
        self._spawn(session_id, self.discard(session_id, gone, share=False))

    def _remote_ended(self, session_id: str, _process: bytes, _what: dict[str, Any]) -> None:
        room = self.rooms.get(session_id)
        if room is not None:
            room.ended = True

    def _remote_participant(self, session_id: str, _process: bytes, what: dict[str, Any]) -> None:
        fields = what.get("record")
        record = ParticipantRecord(**fields) if isinstance(fields, dict) else None
        if isinstance(what.get("id"), str):
            self.participant_changed(session_id, what["id"], record, share=False)

    def _remote_invite(self, session_id: str, _process: bytes, what: dict[str, Any]) -> None:
        if what.get("role") in tuple(Role):
            self.invite_rotated(session_id, Role(what["role"]), share=False)

    def _remote_notes(self, session_id: str, _process: bytes, what: dict[str, Any]) -> None:
        if isinstance(what.get("notes"), dict):
            self.notes_changed(session_id, what["notes"], share=False)

    def revive(self, session_id: str) -> None:
        """A session was created with this id: it is not gone any more."""
        self._gone.pop(session_id, None)

    def _refuse_gone(self, session_id: str) -> None:
        gone = self._gone.get(session_id)
        if gone is not None:
            raise gone[1]

    # ------------------------------------------------------------ history
    async def record_history(self, room: Room) -> None:
        """A history snapshot of the room's code now, unless the last one holds it."""
        await self._record_history(room)

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
