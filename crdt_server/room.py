"""A room: one session's live document, its peers, and the broadcast path.

Everything here is synchronous and runs on the event loop, so a message is
applied, forwarded and queued for the log without yielding in between. A
client's update is forwarded to the other synced peers as the very bytes it
arrived in; server-side edits (REST, JSON clients) go through :meth:`Room.edit`
and :meth:`Room.write_code`. Every change names its :class:`~crdt_server.core.actor.Actor`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Hashable
from typing import Any, Protocol, TypeVar

from pycrdt import MapEvent, TransactionEvent, merge_updates

from storage import ParticipantRecord, SessionEvent, SessionRecord
from storage.base import EVENTS_KEPT

from . import protocol
from .awareness import NULL_STATE, Awareness, Change
from .clock import now_ms
from .close_codes import CloseCode
from .connection import Peer
from .core.actor import Actor, Via
from .core.errors import SessionEnded
from .core.permissions import Action, allows
from .document import LANGUAGE, YDoc, code_text, meta_map, read_code, read_language
from .limits import Limits
from .merge import (
    OFF_LOOP_CHARS,
    Base,
    Bases,
    Plan,
    closest,
    edit_of,
    plan_write,
    version_tag,
)
from .metrics import Metrics
from .protocol import (
    EMPTY_UPDATE,
    DocumentFull,
    DocumentQuarantined,
    MessageType,
    ProtocolError,
    RoomReset,
    SyncType,
    Unintegrable,
)
from .surrogates import PairHalves
from .textdiff import replace_text, utf8_len
from .update_check import (
    UpdateRejected,
    UpdateStats,
    check_state_vector,
    check_update,
    missing,
    read_state_vector,
)
from .update_log import UpdateLog
from .workers import INLINE_STATE_BYTES, WORKERS, deadline_s

log = logging.getLogger(__name__)
T = TypeVar("T")


class RoomListener(Protocol):
    """Something that follows a room without speaking y-websocket (a JSON client)."""

    @property
    def actor(self) -> Actor:
        """Who speaks through this connection."""

    def rebind(self, participant: ParticipantRecord) -> None:
        """The connection's participant changed (its role, say): act as the new record."""

    def document_changed(self, actor: Actor) -> None:
        """The code or the metadata changed, by ``actor``."""

    def awareness_changed(self, changes: list[Change], connection: int | None) -> None:
        """Awareness entries changed, sent by ``connection`` (None: the server)."""

    def presence_changed(self, participant: ParticipantRecord, online: bool) -> None:
        """A participant's first socket opened, or their last one closed."""

    def notes_changed(self, notes: dict[str, Any]) -> None:
        """The interviewers' notes changed (only a listener that may read them says so)."""

    async def close(self, code: CloseCode, reason: str) -> None:
        """Close the connection behind the listener."""


def _is_panic(exc: BaseException) -> bool:
    """pyo3's PanicException derives from BaseException; treat it as a bad input."""
    return type(exc).__name__ == "PanicException"


class Room:
    """The live state of one session."""

    def __init__(
        self,
        session_id: str,
        doc: YDoc,
        update_log: UpdateLog,
        limits: Limits | None = None,
        on_broken: Callable[[Room], None] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.session_id = session_id
        self.metrics = metrics
        self.doc = doc
        self.limits = limits or Limits()
        self.peers: dict[int, Peer] = {}
        self.awareness = Awareness(self.limits)
        self.size = 0  # the document's bytes, roughly: its state at load plus what was accepted
        self.broken = False  # the Doc raised: it is never read again
        self.quarantined: str | None = None  # why the stored document loaded only in part
        self.pairs = PairHalves()  # where its text may not be cut
        # what connections are admitted with, without storage (see SessionCore.admitted)
        self.record: SessionRecord | None = None
        self.participants: dict[str, ParticipantRecord] = {}
        self.ended = False  # the interview ended: every client's update is refused
        self.version = 0  # bumped on every accepted change
        self.history_version = 0  # the version last written to history
        self.changed_at = 0  # when the last change was accepted (Unix ms)
        self.listeners: dict[int, RoomListener] = {}
        self.unload_timer: asyncio.TimerHandle | None = None
        self.bases = Bases()  # versions REST clients were shown, for their next write
        self._log = update_log
        self._on_broken = on_broken
        self._cached_at = -1  # the version the cached views below belong to
        self._code: str | None = None
        self._base: Base | None = None
        self._state: bytes | None = None
        self._fresh_step2: bytes | None = None  # the whole state as sync step 2, once per version
        self._clocks: dict[int, int] | None = None  # the state vector; None: read it again
        self._code_text = code_text(doc)
        self._meta = meta_map(doc)  # its observer lives as long as it does
        self._meta_watch = self._meta.observe(self._meta_changed)
        self._new_language: str | None = None  # what the update being applied set it to
        self._focused: dict[int, bool] = {}  # awareness client id: its editor has focus
        self._event_counts: dict[tuple[str, str | None], int] = {}  # timeline events queued
        #: Awareness this process's connections set, shared with the other processes (the
        #: message, and the connection that sent it; None: the server); None: one process.
        self.on_awareness: Callable[[bytes, int | None], None] | None = None

    # ------------------------------------------------------------ views
    def _usable(self) -> None:
        if self.broken:
            raise RoomReset()

    def _writable(self) -> None:
        self._usable()
        if self.quarantined is not None:
            raise DocumentQuarantined(self.quarantined)
        if self.ended:
            raise SessionEnded("the interview ended: the session is frozen")

    def _break(self) -> None:
        """pycrdt raised inside the Doc: retire the room without reading the Doc again."""
        self.broken = True
        log.error("room %s retired: its document raised while applying an update", self.session_id)
        if self._on_broken is not None:
            self._on_broken(self)

    def _state_clocks(self) -> dict[int, int]:
        """The document's state vector, read from pycrdt once and then kept current."""
        if self._clocks is None:
            self._clocks = read_state_vector(self.doc.get_state())
        return self._clocks

    def _cache(self) -> None:
        if self._cached_at != self.version:
            self._cached_at, self._code, self._base = self.version, None, None
            self._state = self._fresh_step2 = None

    @property
    def code(self) -> str:
        """The code, read once per version however many clients ask."""
        self._usable()
        self._cache()
        if self._code is None:
            self._code = self._read(read_code)
        return self._code

    @property
    def language(self) -> str:
        self._usable()
        return self._read(read_language)

    def state(self) -> bytes:
        """The current version's full state, encoded once per version."""
        self._usable()
        self._cache()
        if self._state is None:
            self._state = self._read(lambda doc: doc.get_update())
        return self._state

    def base(self) -> Base:
        """The current version with its tag, code and full state, made once per version."""
        state = self.state()
        if self._base is None:
            self._base = Base(version_tag(state), self.code, state)
        return self._base

    def _encoded_version(self) -> str | None:
        """The current version's tag if it was encoded already (no encode for it: a version
        never encoded was never handed to a writer as a base)."""
        self._cache()
        return None if self._base is None else self._base.version

    def _read(self, read: Callable[[YDoc], T]) -> T:
        """Read the Doc; one that raises or panics (text that is not valid UTF-8 inside
        yrs, a corrupt block store) is retired, never read again."""
        try:
            return read(self.doc)
        except BaseException as exc:
            if isinstance(exc, Exception) or _is_panic(exc):
                self._break()
                raise RoomReset("the document could not be read; it was reset") from exc
            raise

    # ------------------------------------------------------------ peers
    def add(self, peer: Peer) -> None:
        """Admit a binary peer: our sync step 1 and everyone's awareness go out first."""
        self.peers[peer.id] = peer
        peer.send(protocol.sync_step1(self.doc.get_state()))
        snapshot = self.awareness.snapshot()
        if snapshot is not None:
            peer.send(snapshot)

    def remove(self, peer: Peer) -> None:
        """Forget a peer and tell the others its cursors are gone."""
        if self.peers.pop(peer.id, None) is not None:
            self._drop_awareness(peer.id)

    def add_listener(self, listener_id: int, listener: RoomListener) -> None:
        self.listeners[listener_id] = listener

    def remove_listener(self, listener_id: int) -> None:
        if self.listeners.pop(listener_id, None) is not None:
            self._drop_awareness(listener_id)

    def presence_changed(self, participant: ParticipantRecord, online: bool) -> None:
        for listener in list(self.listeners.values()):
            listener.presence_changed(participant, online)

    def notes_changed(self, notes: dict[str, Any]) -> None:
        """Pass new notes to the listeners whose actor may read them, and no one else."""
        for listener in list(self.listeners.values()):
            if allows(listener.actor, Action.NOTES):
                listener.notes_changed(notes)

    def connections(self) -> list[Peer | RoomListener]:
        return [*self.peers.values(), *self.listeners.values()]

    @property
    def empty(self) -> bool:
        return not self.peers and not self.listeners

    def _drop_awareness(self, owner: Hashable, *, share: bool = True) -> None:
        removal, changes = self.awareness.remove_owned_by(owner)
        if removal is not None:
            self.broadcast(removal, exclude=None, awareness=True)
            self._awareness_changed(changes, None)
            if share and isinstance(owner, int):
                self._share_awareness(removal, owner)

    def _share_awareness(self, message: bytes, owner: int | None) -> None:
        if self.on_awareness is not None:
            self.on_awareness(message, owner)

    # ------------------------------------------------------------ broadcast
    def broadcast(self, message: bytes, exclude: Peer | None, *, awareness: bool = False) -> None:
        """The one fan-out path: document updates reach synced peers only."""
        for peer in self.peers.values():
            if peer is not exclude and (awareness or peer.synced):
                peer.send(message)

    # ------------------------------------------------------------ incoming
    def receive(self, peer: Peer, frame: bytes, *, stats: UpdateStats | None = None) -> int:
        """Handle one binary frame of ``peer``; raises ProtocolError on bad input. Returns
        the bytes sent back to ``peer`` alone (a sync step 2, awareness asked for), which
        the socket charges to the peer's byte rate: asking is cheap, answering is not.

        ``stats``: the frame's update already passed :func:`check_update` (the socket
        handler checks large ones off the event loop).
        """
        self._usable()
        message = protocol.decode(frame)
        if message.type == MessageType.SYNC:
            if message.subtype == SyncType.STEP1:
                return self._answer_step1(peer, message.payload)
            if self.ended or not allows(peer.actor, Action.EDIT):
                self._deny(peer, message.payload)
            else:
                exact = message.subtype == SyncType.UPDATE and message.exact
                try:
                    self.apply_update(
                        message.payload,
                        peer.actor,
                        frame if exact else None,
                        exclude=peer,
                        stats=stats,
                    )
                except Unintegrable as exc:  # ask for the rest: its sync step 2 brings it all
                    log.info("asking a peer of %s to sync again: %s", self.session_id, exc)
                    ask = protocol.sync_step1(self.doc.get_state())
                    peer.send(ask)
                    return len(ask)
        elif message.type == MessageType.AWARENESS:
            self.apply_awareness(message.payload, peer, frame if message.exact else None)
        else:  # query awareness
            snapshot = self.awareness.snapshot()
            if snapshot is not None:
                peer.send(snapshot)
                return len(snapshot)
        return 0

    def _deny(self, peer: Peer, update: bytes) -> None:
        """A read-only peer's update: never applied, broadcast or logged; the first one gets
        y-websocket's permission-denied message, and the socket stays open."""
        if update == EMPTY_UPDATE:
            return
        if self.metrics is not None:
            self.metrics.refused.inc()
        if not peer.denied:
            peer.denied = True
            peer.send(protocol.permission_denied("read-only"))

    def _answer_step1(self, peer: Peer, state_vector: bytes) -> int:
        try:
            clients = check_state_vector(state_vector)
        except UpdateRejected as exc:
            raise ProtocolError(f"invalid state vector in sync step 1: {exc}") from None
        if clients == 0:  # a fresh client: the same bytes for all of them, once per version
            answer = self._fresh_answer()
        else:
            try:
                answer = protocol.sync_step2(self.doc.get_update(state_vector))
            except BaseException as exc:
                if _is_panic(exc):
                    self._break()
                    raise RoomReset() from exc
                if isinstance(exc, Exception):
                    raise ProtocolError("invalid state vector in sync step 1") from exc
                raise
        peer.send(answer)
        peer.synced = True
        return len(answer)

    def _fresh_answer(self) -> bytes:
        state = self.state()  # also settles the cache for this version
        if self._fresh_step2 is None:
            self._fresh_step2 = protocol.sync_step2(state)
        return self._fresh_step2

    def apply_update(
        self,
        update: bytes,
        actor: Actor,
        frame: bytes | None = None,
        *,
        exclude: Peer | None = None,
        stats: UpdateStats | None = None,
    ) -> bool:
        """Check ``actor``'s update, apply it, forward it to the others, queue it for the log.

        Nothing reaches pycrdt, storage or another client unless it is well-formed and
        keeps the document within its size limit. ``frame`` is the update's message as it
        arrived, forwarded as is when given; ``exclude`` is the peer it came from, which
        does not get it back. Returns False for an empty update (nothing applied).
        """
        self._writable()
        if update == EMPTY_UPDATE:
            return False
        if stats is None:
            try:
                stats = check_update(update)
            except UpdateRejected as exc:
                raise ProtocolError(str(exc)) from None
        if self.pairs.splits(stats):
            raise ProtocolError("the update cuts a character in two (a UTF-16 surrogate pair)")
        own, clocks = self.doc.client_id, self._state_clocks()
        if any(client == own and end > clocks.get(own, 0) for client, _, end in stats.runs):
            # an echo of the server's own edits is harmless; something new under its id is not
            raise ProtocolError("the update writes under the server's own client id")
        lacking = missing(stats, clocks)
        if lacking is not None:
            raise Unintegrable(f"the update depends on what the document lacks: {lacking}")
        self.fits(len(update))
        self._has_room_for(stats, clocks)
        self._new_language = None  # set by this update only
        fresh = any(end > clocks.get(client, 0) for client, _, end in stats.runs)
        before = len(self._code_text) if stats.deleted_ranges else 0  # typing deletes nothing
        try:
            self.doc.apply_update(update)
            if stats.objects:
                dropped = self._drop_code_objects(update, stats)
                if dropped is not None:
                    update, frame = dropped, None
        except BaseException as exc:
            if isinstance(exc, Exception) or _is_panic(exc):
                self._break()
                raise RoomReset("the update could not be applied; the document was reset") from exc
            raise
        self.size += len(update)
        self.pairs.add(stats.pair_halves)
        for client, _, end in stats.runs:
            clocks[client] = max(clocks.get(client, 0), end)
        self.broadcast(frame or protocol.sync_update(update), exclude=exclude)
        self._accepted(update, actor, self._typed(before, stats, fresh))
        return True

    def _drop_code_objects(self, update: bytes, stats: UpdateStats) -> bytes | None:
        """Delete what an applied update put into the code besides characters.

        A Yjs text may also hold values, binaries, embeds and types, one position each. No
        editor writes them into the code, and pycrdt counts them without showing them, so the
        server's edits (made on the characters) would land off by one per item, cutting
        characters in two. They are found by the length they add and deleted, every object
        of the update at once (the update is hostile), and the deletion goes out merged into
        the update, so no client's editor ever shows them. Returns that merged update, or
        None when the code holds only characters.
        """
        text = code_text(self.doc)
        if len(text) == utf8_len(str(text)):
            return None
        removal = protocol.deletion_update(stats.objects)
        self.doc.apply_update(removal)
        if len(text) != utf8_len(str(text)):  # held one before this update: not ours to fix
            raise ValueError("the code holds items that are not characters")
        log.warning("deleted the items an update put into the code of %s", self.session_id)
        return merge_updates(update, removal)

    def apply_awareness(self, update: bytes, origin: Peer | None, frame: bytes | None) -> None:
        connection = None if origin is None else origin.id
        changes, rewritten = self.awareness.apply(update, connection)
        if not changes:
            return
        message = rewritten or frame or protocol.awareness_message(update)
        self.broadcast(message, exclude=None, awareness=True)
        self._awareness_changed(changes, connection)
        self._share_awareness(message, connection)

    def set_awareness(self, owner: int, client_id: int, state: dict[str, Any] | None) -> None:
        """Publish an awareness state on behalf of a connection that is not a Yjs client."""
        message, change = self.awareness.set_local(client_id, state, owner)
        self.broadcast(message, exclude=None, awareness=True)
        self._awareness_changed([change], owner)
        self._share_awareness(message, owner)

    # ------------------------------------------------------------ other processes
    def apply_remote_awareness(self, update: bytes, owner: Hashable) -> None:
        """Awareness a connection of another process set (``owner`` names both): applied
        and forwarded to this process's peers, not shared again. Raises ProtocolError past
        the room's bounds, as a local connection's would."""
        changes, rewritten = self.awareness.apply(update, owner)
        if changes:
            message = rewritten or protocol.awareness_message(update)
            self.broadcast(message, exclude=None, awareness=True)
            self._awareness_changed(changes, None)

    def drop_remote_awareness(self, gone: Callable[[Hashable], bool]) -> None:
        """Remove the states of the remote owners ``gone`` says are gone (their process died)."""
        for owner in [owner for owner in self.awareness.owners() if gone(owner)]:
            self._drop_awareness(owner, share=False)

    def owned_awareness(self) -> dict[int, bytes]:
        """The live states this process's connections set, as one awareness update per
        connection (what a process loading the room asks the others for)."""
        return self.awareness.updates_by_owner(lambda owner: isinstance(owner, int))

    def apply_remote(self, update: bytes, author: str | None) -> bool:
        """An update another process accepted and committed: applied and forwarded to this
        process's peers, never logged again (storage has it). Returns False when the room
        held it already; raises Unintegrable when it needs an entry this room lacks."""
        self._usable()
        if update == EMPTY_UPDATE:
            return False
        try:
            stats = check_update(update)
        except UpdateRejected as exc:
            raise ProtocolError(str(exc)) from None
        clocks = self._state_clocks()
        fresh = any(end > clocks.get(client, 0) for client, _, end in stats.runs)
        if not fresh and not stats.deleted_ranges:
            return False  # an entry this room made, or one a catch-up brought already
        lacking = missing(stats, clocks)
        if lacking is not None:
            raise Unintegrable(f"a relayed update depends on what the document lacks: {lacking}")
        try:
            self.doc.apply_update(update)
        except BaseException as exc:
            if isinstance(exc, Exception) or _is_panic(exc):
                self._break()
                raise RoomReset("a relayed update could not be applied; reset") from exc
            raise
        self._new_language = None  # the timeline's language events are the origin's to record
        if fresh:  # one this room held already (deletions again, a snapshot) adds nothing
            self.size += len(update)
        self.pairs.add(stats.pair_halves)
        for client, _, end in stats.runs:
            clocks[client] = max(clocks.get(client, 0), end)
        self.broadcast(protocol.sync_update(update), exclude=None)
        self.version += 1
        self.changed_at = now_ms()
        actor = Actor(Via.RELAY, author)
        for listener in list(self.listeners.values()):
            listener.document_changed(actor)
        return True

    def _awareness_changed(self, changes: list[Change], connection: int | None) -> None:
        self._follow_focus(changes, connection)
        for listener in list(self.listeners.values()):
            listener.awareness_changed(changes, connection)

    # ------------------------------------------------------------ playback's timeline
    def _follow_focus(self, changes: list[Change], connection: int | None) -> None:
        """An editor losing or regaining focus (its awareness ``focused``) is a timeline
        event of the participant whose socket said so."""
        sender = None if connection is None else (
            self.peers.get(connection) or self.listeners.get(connection)
        )  # fmt: skip
        for change in changes:
            if change.state == NULL_STATE:
                self._focused.pop(change.client_id, None)
                continue
            before = self._focused.get(change.client_id)
            if before is not None and before is ('"focused":false' not in change.state):
                continue  # as it was (a cursor moved): not parsed again
            focused = focus_of(change.state)
            if focused is None or focused == before or sender is None:
                continue
            self._focused[change.client_id] = focused
            if not focused or before is False:
                kind = "focusBack" if focused else "focusLost"
                self._timeline_event(kind, sender.actor.participant_id, {})

    def _meta_changed(self, event: MapEvent) -> None:
        change = event.keys.get(LANGUAGE)  # type: ignore[attr-defined]  # missing from the stub
        if change is not None and isinstance(change.get("newValue"), str):
            self._new_language = change["newValue"]

    def _timeline_event(self, kind: str, participant: str | None, data: dict[str, Any]) -> None:
        """Queue an event for the log; past :data:`EVENTS_KEPT` of one kind and participant
        (a client looping on it) the room stops queueing them."""
        key = (kind, participant)
        count = self._event_counts.get(key, 0)
        if count < EVENTS_KEPT:
            self._event_counts[key] = count + 1
            at = now_ms()
            self._log.event(SessionEvent(self.session_id, at, kind, participant, json.dumps(data)))

    # ------------------------------------------------------------ server edits
    def edit(self, change: Callable[[YDoc], Any], actor: Actor) -> bool:
        """Run ``change`` in one transaction and share the result like a client's update."""
        updates: list[bytes] = []

        def collect(event: TransactionEvent) -> None:
            updates.append(event.update)

        self._writable()
        self._new_language = None  # set by this edit only
        before = len(self._code_text)  # one transaction: one update, typed from here
        subscription = self.doc.observe(collect)
        try:
            with self.doc.transaction(origin=actor.label):
                change(self.doc)
        except BaseException as exc:
            if _is_panic(exc):  # the Doc may be corrupted: never touch it again
                self._break()
                raise RoomReset("a server edit raised; the document was reset") from exc
            self.doc.unobserve(subscription)
            raise
        self.doc.unobserve(subscription)
        self._clocks = None  # the server's own client moved on
        changed = False
        for update in updates:
            if update != EMPTY_UPDATE:
                self.size += len(update)
                try:
                    stats = check_update(update)
                except UpdateRejected as exc:  # pycrdt wrote what it would refuse to read
                    self._break()
                    raise RoomReset("a server edit made an invalid update; reset") from exc
                self.pairs.add(stats.pair_halves)  # a server edit's new text
                self.broadcast(protocol.sync_update(update), exclude=None)
                self._accepted(update, actor, self._typed(before, stats, fresh=True))
                changed = True
        return changed

    def _has_room_for(self, stats: UpdateStats, clocks: dict[int, int]) -> None:
        """Raise DocumentFull if the update would take the document past its client ids."""
        limit = self.limits.max_document_clients
        if len(clocks) + len(stats.runs) <= limit:
            return  # the common case, without looking at which clients are new
        new = {client for client, _, _ in stats.runs if client not in clocks}
        if len(clocks) + len(new) > limit:
            raise DocumentFull(f"the document would pass its limit of {limit} Yjs client ids")

    def fits(self, size: int) -> None:
        """Raise DocumentFull unless ``size`` more bytes keep the document within its limit."""
        if self.size + size > self.limits.max_document_bytes:
            raise DocumentFull(
                f"the document would pass its limit of {self.limits.max_document_bytes} bytes"
            )

    def write_code(
        self, text: str, actor: Actor, base: Base | None = None, remember: Bases | None = None
    ) -> bool:
        """Make the code ``text`` as an edit of ``base`` (None: of the current version).

        Edits others made since ``base`` survive: they merge with this one. ``remember``
        keeps the writer's resulting version, the base of its next write.
        """
        self._writable()
        self.fits(utf8_len(text))
        # one encode (shared by every reader of this version) instead of rebuilding the
        # base in a shadow document when the writer's base is the current version anyway
        if base is None or self.base().version == base.version:
            made_from = base.version if base is not None else self._encoded_version()
            changed = self.edit(lambda doc: replace_text(code_text(doc), text), actor)
            if remember is not None:
                remember.remember(self.base(), own=True, made_from=made_from)
            return changed
        updates, shadow = edit_of(base, text)
        changed = False
        for update in updates:
            changed = self.apply_update(update, actor) or changed
        if remember is not None:
            state = shadow.get_update()
            made = Base(version_tag(state), text, state)
            remember.remember(made, own=True, made_from=base.version)
        return changed

    def closest_base(self, text: str, bases: Bases) -> Base | None:
        """The version of ``bases`` ``text`` was made from; None when it is the current one."""
        return closest(self.code, bases.newest_first(), text)

    def apply_plan(self, plan: Plan, actor: Actor, remember: Bases) -> bool:
        """Apply a write worked out by :func:`plan_write` (off the loop)."""
        self._writable()
        self.fits(utf8_len(plan.result.text))
        changed = False
        for update in plan.updates:
            changed = self.apply_update(update, actor) or changed
        remember.remember(plan.result, own=True, made_from=plan.made_from)
        return changed

    def _typed(self, before: int, stats: UpdateStats, fresh: bool) -> tuple[int, int]:
        """Characters an update just applied typed into the code, and UTF-8 bytes it
        deleted from it, given the code's length before it (for playback: pastes, how much
        each person typed).

        Read from the update's strings and the code's length, not from pycrdt's text delta,
        which walks the text from its start on every change: half a millisecond a keystroke
        in a document of 20 000 items. The code is the only text of a session, so the
        strings of an update are typed into it (a client writing into a text of its own
        making counts that as its own typing); an update that carries nothing new (``fresh``
        false: a replay) typed nothing.
        """
        typed, typed_bytes = (stats.text_chars, stats.text_bytes) if fresh else (0, 0)
        if not stats.deleted_ranges:
            return typed, 0  # nothing deleted: the code's length need not be read
        return typed, max(0, typed_bytes - (len(self._code_text) - before))

    def _accepted(self, update: bytes, actor: Actor, typed: tuple[int, int]) -> None:
        self.version += 1
        self.changed_at = now_ms()
        if self.metrics is not None:
            self.metrics.applied.inc()
            self.metrics.update_bytes.observe(len(update))
        inserted, deleted = typed
        author = actor.participant_id
        if self._new_language is not None:
            self._timeline_event("language", author, {"language": self._new_language})
            self._new_language = None
        if inserted > self.limits.paste_chars and actor.via is not Via.SYSTEM:
            self._timeline_event("paste", author, {"chars": inserted})
        self._log.append(self.session_id, update, self.changed_at, author, inserted, deleted)
        for listener in list(self.listeners.values()):
            listener.document_changed(actor)


def focus_of(state: str) -> bool | None:
    """An awareness state's ``focused`` flag, if it has one (the demo page sets it)."""
    if '"focused"' not in state:
        return None
    try:
        value = json.loads(state)
    except ValueError:
        return None
    focused = value.get("focused") if isinstance(value, dict) else None
    return focused if isinstance(focused, bool) else None


async def write_text(
    room: Room, text: str, actor: Actor, bases: Bases, base: Base | None = None
) -> bool:
    """A whole-text write merged as an edit of ``base`` (None: the closest of ``bases``).

    A small one on a small or current base runs inline. Others are worked out in a worker
    process (a 512K-character diff, or a shadow document whose state may cost seconds to
    read back: workers.py) and applied here in one go; one past its deadline is refused.
    """
    if len(text) + len(room.code) < OFF_LOOP_CHARS:
        chosen = base or room.closest_base(text, bases)
        if chosen is None or len(chosen.state) < INLINE_STATE_BYTES:
            return room.write_code(text, actor, chosen, bases)
        current = room.base()
        if chosen.version == current.version:
            return room.write_code(text, actor, chosen, bases)
        base, candidates = chosen, []
    else:
        current, candidates = room.base(), bases.newest_first()
    size = len(current.state) + sum(len(b.state) for b in candidates)
    timeout = deadline_s(room.limits, size)
    plan = await WORKERS.run(timeout, plan_write, current, candidates, text, base)
    return room.apply_plan(plan, actor, bases)
