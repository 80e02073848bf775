"""Rooms shared by several server processes: Redis carries hints, the database the truth.

Each process keeps its own copy of a loaded room. What one process's clients change goes to
its own peers at once, as on one process, and to the other processes only after the
database has it: the update log's commit hands each session's newly numbered entries to
:meth:`Relay.committed`, which publishes them on the session's Redis channel. A process
that has the room loaded applies them in order, and forwards them to its peers, without
logging them again.

Redis pub/sub may drop a message (a restart, a dropped subscription, a slow subscriber), so
nothing depends on it. Entries are numbered per session by the database, so a hole in what
a room has seen is a lost message: the room reads what it lacks from the database. Every
``--relay-check-seconds`` the log heads of all loaded rooms are read in one query, which
finds a message lost at the end of a burst, a deletion or an end missed, and everything
missed while Redis was down. A room subscribes before it reads the database when it loads,
so nothing committed in between is missed either.

Awareness (cursors, names) is relayed the same way, with no database behind it: each
process says it is alive every few seconds, and the states of a process not heard from for
:data:`DEAD_AFTER_S` are removed everywhere.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import struct
import time
from collections.abc import Callable, Hashable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from storage import DocumentStore, PendingUpdate, StorageError

from . import protocol
from .metrics import Metrics
from .protocol import ProtocolError, RoomReset, Unintegrable

if TYPE_CHECKING:
    from .room import Room
    from .rooms import RoomManager

log = logging.getLogger(__name__)

#: Every session's channel; only processes with its room loaded subscribe.
SESSION_CHANNEL = "codeinterview:session:"
#: Where processes say they are alive.
PROCESSES_CHANNEL = "codeinterview:processes"
#: How often a process says it is alive, and when the others give it up.
BEAT_S = 2.0
DEAD_AFTER_S = 10.0
#: A commit's entries larger than this are announced, not carried: a process reads them
#: from the database (Redis need not copy a pasted megabyte to every subscriber).
CARRIED_BYTES = 256 * 1024
#: A hole is given this long to fill (a message overtaking one sent before it) before the
#: room reads the database.
HOLE_GRACE_S = 0.2
#: Messages waiting to be published; past it they are dropped (the others catch up).
OUTBOX = 10_000
#: Messages kept for a room while it loads; past it they are dropped, and the room catches
#: up from the database once loaded.
EARLY_KEPT = 1_000

_DOC, _AWARENESS, _HELLO, _CONTROL, _BEAT = b"d", b"a", b"h", b"c", b"b"

#: Another process's news of a session: ``handler(session, process, fields)``.
ControlHandler = Callable[[str, bytes, dict[str, Any]], None]
_NO_OWNER = 2**64 - 1
_NO_AUTHOR = 0xFFFF


def _doc_message(first: int, entries: list[PendingUpdate], carried: bool) -> bytes:
    """first seq, count, then (author, data) per entry when ``carried``."""
    parts = [struct.pack(">QI?", first, len(entries), carried)]
    for entry in entries if carried else []:
        authors = {edit.author for edit in entry.edits}
        author = next(iter(authors)) if len(authors) == 1 else None
        raw = b"" if author is None else author.encode()
        parts.append(
            struct.pack(">HI", _NO_AUTHOR if author is None else len(raw), len(entry.data))
        )
        parts += [raw, entry.data]
    return b"".join(parts)


def _read_doc(body: bytes) -> tuple[int, int, list[tuple[str | None, bytes]] | None]:
    first, count, carried = struct.unpack_from(">QI?", body)
    if not carried:
        return first, count, None
    pos, entries = 13, []
    for _ in range(count):
        author_len, size = struct.unpack_from(">HI", body, pos)
        pos += 6
        author = None
        if author_len != _NO_AUTHOR:
            author, pos = body[pos : pos + author_len].decode(), pos + author_len
        entries.append((author, body[pos : pos + size]))
        pos += size
    return first, count, entries


@dataclass(slots=True)
class _Following:
    """A session this process subscribed to: its room is loaded, or loading (messages that
    arrive meanwhile wait in ``early``)."""

    subscribed: asyncio.Future[None]
    room: Room | None = None
    early: list[tuple[bytes, bytes, bytes]] = field(default_factory=list)
    overflowed: bool = False  # more arrived than ``early`` keeps: catch up once loaded
    catching_up: bool = False
    again: bool = False  # asked to catch up while it was: once more when done


class Relay:
    """One process's link to the others, for every room it has loaded."""

    def __init__(
        self,
        url: str,
        rooms: RoomManager,
        storage: DocumentStore,
        metrics: Metrics,
        *,
        check_s: float = 1.0,
    ) -> None:
        self.id = os.urandom(8)  # this process, in every message it sends
        self._rooms = rooms
        self._storage = storage
        self._check_s = check_s
        self._redis = redis.Redis.from_url(
            url, socket_connect_timeout=5, socket_timeout=10, health_check_interval=0
        )
        self._pubsub: Any = None
        self._following: dict[str, _Following] = {}
        self._alive: dict[bytes, float] = {}  # other processes, when last heard from
        self._outbox: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(OUTBOX)
        self._tasks: list[asyncio.Task[None]] = []
        self._jobs: set[asyncio.Task[None]] = set()
        self._handlers: dict[str, ControlHandler] = {}
        self._subscribed: set[str] = set()  # channels Redis confirmed
        #: Called with a session whose room another process loaded (say what you have).
        self.hello_hooks: list[Callable[[str], None]] = []
        #: Called with a process given up for dead.
        self.gone_hooks: list[Callable[[bytes], None]] = []
        self.up = False  # subscribed and listening (for /health)
        self._dropped = metrics.relay_dropped  # not published (Redis down, outbox full)

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._listen(), name="relay-listen"),
            asyncio.create_task(self._publish(), name="relay-publish"),
            asyncio.create_task(self._beat(), name="relay-beat"),
            asyncio.create_task(self._check(), name="relay-check"),
        ]

    async def stop(self) -> None:
        """Publish what is queued (the last commits: a second at most), then stop."""
        if self._tasks:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._outbox.join(), 1)
        for task in [*self._tasks, *self._jobs]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._jobs, return_exceptions=True)
        if self._pubsub is not None:
            await self._pubsub.aclose()
        await self._redis.aclose()

    async def ping(self) -> None:
        """Raises RedisError (or TimeoutError) when Redis does not answer."""
        await asyncio.wait_for(self._redis.ping(), 2)

    # ------------------------------------------------------------ rooms
    async def follow(self, session_id: str) -> None:
        """Subscribe to a session before its room reads the database (waits for Redis to
        confirm, a few seconds at most: without Redis, the periodic check catches up)."""
        entry = self._following.get(session_id)
        if entry is None:
            entry = self._following[session_id] = _Following(
                asyncio.get_running_loop().create_future()
            )
            if self._pubsub is not None and self.up:
                try:
                    await self._pubsub.subscribe(SESSION_CHANNEL + session_id)
                except (RedisError, OSError):
                    log.warning("relay: could not subscribe to %s", session_id)
        if self.up:  # Redis is down: nothing to wait for (the periodic check catches up)
            with suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(entry.subscribed), 3)

    def loaded(self, room: Room, last_seq: int) -> None:
        """The room is built from the database up to entry ``last_seq``: apply what arrived
        meanwhile, and ask the others for their connections' awareness."""
        entry = self._following.get(room.session_id)
        if entry is None:
            return
        entry.room = room
        room.on_awareness = lambda message, owner: self._share_awareness(room, message, owner)
        early, entry.early = entry.early, []
        for kind, sender, body in early:
            try:
                self._dispatch(room.session_id, kind, sender, body)
            except Exception:
                log.exception("relay: a message for %s could not be handled", room.session_id)
        self._announce(room)
        if entry.overflowed:
            self._catch_up_later(room.session_id, 0)

    def _announce(self, room: Room) -> None:
        """Send the states this process's connections set, and ask the others for theirs."""
        for owner, update in room.owned_awareness().items():
            self._share_awareness(room, protocol.awareness_message(update), owner)
        self._send(room.session_id, _HELLO, b"")

    async def unfollow(self, session_id: str) -> None:
        entry = self._following.pop(session_id, None)
        if entry is not None and self._pubsub is not None and self.up:
            try:
                await self._pubsub.unsubscribe(SESSION_CHANNEL + session_id)
            except (RedisError, OSError):
                log.warning("relay: could not unsubscribe from %s", session_id)

    # ------------------------------------------------------------ outgoing
    def committed(self, session_id: str, first: int, entries: list[PendingUpdate]) -> None:
        """The update log committed ``entries`` of a session as ``first``, ``first + 1``, ...
        (the other processes may deliver them now)."""
        carried = sum(len(entry.data) for entry in entries) <= CARRIED_BYTES
        self._send(session_id, _DOC, _doc_message(first, entries, carried))

    def control(self, session_id: str, op: str, **fields: Any) -> None:
        """Tell the processes with the room loaded what happened to it (deleted, ended,
        a participant changed, ...): their handler of ``op`` gets ``fields``."""
        self._send(session_id, _CONTROL, json.dumps({"op": op, **fields}).encode())

    def on_control(self, op: str, handler: ControlHandler) -> None:
        """Handle another process's ``op`` news: ``handler(session, process, fields)``."""
        self._handlers[op] = handler

    def _share_awareness(self, room: Room, message: bytes, owner: int | None) -> None:
        if self._outbox.qsize() > OUTBOX // 2:
            self._dropped.inc()  # cursors give way first: updates and news keep their room
            return
        connection = _NO_OWNER if owner is None else owner
        self._send(room.session_id, _AWARENESS, struct.pack(">Q", connection) + message)

    def _send(self, session_id: str, kind: bytes, body: bytes) -> None:
        self._queue(SESSION_CHANNEL + session_id, kind + self.id + body)

    def _queue(self, channel: str, payload: bytes) -> None:
        try:
            self._outbox.put_nowait((channel, payload))
        except asyncio.QueueFull:
            self._dropped.inc()

    async def _publish(self) -> None:
        down_since: float | None = None
        while True:
            channel, payload = await self._outbox.get()
            try:
                await self._redis.publish(channel, payload)
                if down_since is not None:
                    log.warning("relay: publishing again (Redis is back)")
                    down_since = None
            except (RedisError, OSError):
                self._dropped.inc()  # the others catch up from the database
                if down_since is None:
                    down_since = time.monotonic()
                    log.warning("relay: Redis is unreachable; messages are dropped meanwhile")
            finally:
                self._outbox.task_done()

    async def _beat(self) -> None:
        while True:
            self._queue(PROCESSES_CHANNEL, _BEAT + self.id)
            now = time.monotonic()
            for process, heard in list(self._alive.items()):
                if now - heard > DEAD_AFTER_S:
                    del self._alive[process]
                    log.warning("relay: process %s went quiet; its cursors are removed",
                                process.hex())  # fmt: skip
                    for entry in self._following.values():
                        if entry.room is not None:
                            entry.room.drop_remote_awareness(_owned_by(process))
                    for hook in self.gone_hooks:
                        hook(process)
            await asyncio.sleep(BEAT_S)

    # ------------------------------------------------------------ incoming
    async def _listen(self) -> None:
        """Subscribe, read, and on any failure subscribe again and catch every room up."""
        delay = 0.2
        while True:
            try:
                await self._subscribe_all()
                delay = 0.2
                async for message in self._pubsub.listen():
                    self._received(message)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if self.up:
                    log.warning("relay: lost Redis (%s); serving local rooms, retrying", exc)
                self.up = False
            with suppress(RedisError, OSError):
                if self._pubsub is not None:
                    await self._pubsub.aclose()
            self._pubsub = None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _subscribe_all(self) -> None:
        self._subscribed.clear()
        self._pubsub = self._redis.pubsub()
        await self._pubsub.subscribe(PROCESSES_CHANNEL)
        channels = [SESSION_CHANNEL + sid for sid in self._following]
        if channels:
            await self._pubsub.subscribe(*channels)
        if not self.up:
            log.info("relay: subscribed to Redis (%d rooms)", len(channels))
        self.up = True
        for session_id, entry in list(self._following.items()):  # what was missed meanwhile
            self._catch_up_later(session_id, 0)
            if entry.room is not None:  # cursors: ours to them, theirs to us
                self._announce(entry.room)

    def _received(self, message: dict[str, Any]) -> None:
        channel = message["channel"].decode()
        if message["type"] == "subscribe":
            self._subscribed.add(channel)
            entry = self._following.get(channel.removeprefix(SESSION_CHANNEL))
            if entry is not None and not entry.subscribed.done():
                entry.subscribed.set_result(None)
            return
        if message["type"] == "unsubscribe":
            self._subscribed.discard(channel)
            return
        if message["type"] != "message":
            return
        data: bytes = message["data"]
        kind, sender, body = data[:1], data[1:9], data[9:]
        if sender == self.id or len(sender) != 8:
            return
        self._alive[sender] = time.monotonic()
        if channel == PROCESSES_CHANNEL:
            return
        session_id = channel.removeprefix(SESSION_CHANNEL)
        entry = self._following.get(session_id)
        if entry is None:
            return
        if entry.room is None:
            if len(entry.early) < EARLY_KEPT:
                entry.early.append((kind, sender, body))
            else:  # a long load under a flood: the database has the updates
                entry.overflowed = True
            return
        try:
            self._dispatch(session_id, kind, sender, body)
        except Exception:  # one bad message must not stop the listener
            log.exception("relay: a message on %s could not be handled", channel)

    def _dispatch(self, session_id: str, kind: bytes, sender: bytes, body: bytes) -> None:
        entry = self._following.get(session_id)
        room = None if entry is None else entry.room
        if room is None or room is not self._rooms.rooms.get(session_id):
            return
        if kind == _DOC:
            self._apply_doc(room, *_read_doc(body))
        elif kind == _AWARENESS:
            (connection,) = struct.unpack_from(">Q", body)
            try:
                update = protocol.decode(body[8:]).payload
                room.apply_remote_awareness(update, _remote_owner(sender, connection))
            except ProtocolError as exc:
                log.warning("relay: awareness for %s refused: %s", session_id, exc)
        elif kind == _HELLO:  # a process loaded the room (or came back): what we have
            for owner, update in room.owned_awareness().items():
                self._share_awareness(room, protocol.awareness_message(update), owner)
            for hook in self.hello_hooks:
                hook(session_id)
        elif kind == _CONTROL:
            what = json.loads(body)
            handler = self._handlers.get(what.pop("op", None)) if isinstance(what, dict) else None
            if handler is not None:
                handler(session_id, sender, what)

    def _apply_doc(
        self, room: Room, first: int, count: int, entries: list[tuple[str | None, bytes]] | None
    ) -> None:
        session_id, journal = room.session_id, self._rooms.log
        if entries is None:  # announced, not carried: read from the database at once
            self._catch_up_later(session_id, 0)
            return
        for offset, (author, update) in enumerate(entries):
            seq = first + offset
            if journal.holds(session_id, seq):
                continue
            try:
                room.apply_remote(update, author)
            except Unintegrable:  # needs an entry still on its way: the database has both
                self._catch_up_later(session_id, 0)
                return
            except (ProtocolError, RoomReset) as exc:
                log.error("relay: entry %d of %s could not be applied: %s", seq, session_id, exc)
                self._catch_up_later(session_id, 0)
                return
            journal.saw(session_id, seq, seq)
        if journal.has_gap(session_id):
            self._catch_up_later(session_id, HOLE_GRACE_S)

    async def _resubscribe(self) -> None:
        """Subscribe the followed sessions Redis has not confirmed (a subscribe that failed,
        or one that crossed an unsubscribe or a reconnect)."""
        missing = [SESSION_CHANNEL + sid for sid in self._following]
        missing = [channel for channel in missing if channel not in self._subscribed]
        if missing and self.up and self._pubsub is not None:
            with suppress(RedisError, OSError):
                await self._pubsub.subscribe(*missing)

    # ------------------------------------------------------------ catching up
    def _catch_up_later(self, session_id: str, delay: float) -> None:
        entry = self._following.get(session_id)
        if entry is None:
            return
        if entry.catching_up:
            entry.again = True  # what it was asked for may have come after its read
            return
        entry.catching_up = True
        task = asyncio.create_task(self._catch_up(session_id, entry, delay))
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    async def _catch_up(self, session_id: str, entry: _Following, delay: float) -> None:
        """Apply what the database has past what the room holds, in order."""
        try:
            await asyncio.sleep(delay)
            journal = self._rooms.log
            after = journal.folded(session_id)
            room = entry.room
            if after is None or room is None or room is not self._rooms.rooms.get(session_id):
                return
            try:
                stored = await self._storage.document_since(session_id, after)
            except StorageError:
                log.exception(
                    "relay: catching %s up failed; retrying at the next check", session_id
                )
                return
            if room is not self._rooms.rooms.get(session_id):
                return
            first = max(stored.upto, after) + 1  # the tail is numbered on from there
            parts = [update for n, update in enumerate(stored.updates)
                     if not journal.holds(session_id, first + n)]  # fmt: skip
            if stored.snapshot:
                parts.insert(0, stored.snapshot)
            try:
                for update in parts:
                    room.apply_remote(update, None)
            except (ProtocolError, RoomReset, Unintegrable) as exc:
                log.error("relay: catching %s up stopped: %s", session_id, exc)
                return
            if stored.last_seq > after:
                journal.saw(session_id, after + 1, stored.last_seq)
                log.info("relay: %s caught up to entry %d", session_id, stored.last_seq)
            if stored.ended:
                room.ended = True
        finally:
            entry.catching_up = False
            if entry.again and self._following.get(session_id) is entry:
                entry.again = False
                self._catch_up_later(session_id, 0)

    async def _check(self) -> None:
        """Read every loaded room's log head; a room behind it catches up, a deleted
        session's room is closed."""
        while True:
            await asyncio.sleep(self._check_s)
            await self._resubscribe()
            loaded = [sid for sid, entry in self._following.items() if entry.room is not None]
            if not loaded:
                continue
            try:
                heads = await self._storage.log_heads(loaded)
            except StorageError:
                log.warning("relay: could not read the log heads; retrying")
                continue
            journal = self._rooms.log
            for session_id in loaded:
                head = heads.get(session_id)
                entry = self._following.get(session_id)
                if entry is None:
                    continue  # unloaded meanwhile
                room = entry.room
                if head is None and "gone" in self._handlers:
                    self._handlers["gone"](session_id, self.id, {"why": "deleted"})
                    continue
                if head is None:
                    continue
                last, ended = head
                folded = journal.folded(session_id)
                if (ended and room is not None and not room.ended) or (
                    folded is not None and last > folded
                ):
                    self._catch_up_later(session_id, 0)


def _remote_owner(process: bytes, connection: int) -> Hashable:
    return ("remote", process, None if connection == _NO_OWNER else connection)


def _owned_by(process: bytes) -> Callable[[Hashable], bool]:
    def gone(owner: Hashable) -> bool:
        return isinstance(owner, tuple) and owner[:2] == ("remote", process)

    return gone
