"""Playback's rules: who may watch a session again, and the document at any moment of it.

The log is read from storage in pages and replayed in a worker process
(:func:`crdt_server.playback.replay`); its raw entries stream out as they are read, so a
client can replay them itself at any speed. Every :data:`CHECKPOINT_EVERY` entries a
checkpoint (the document and who wrote what) is kept, built from the one before in the
background while the session is loaded (and by a request that finds one missing), so a moment
is replayed from the nearest checkpoint: a bounded tail.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from collections.abc import AsyncIterator
from typing import Any

from storage import Checkpoint, Edit, PlaybackStore, SessionRecord

from ..clock import now_ms
from ..playback import replay
from ..protocol import RoomReset
from ..room import Room
from ..rooms import RoomManager
from ..workers import WORKERS, TooCostly
from .actor import Actor
from .errors import InvalidInput, Unavailable
from .permissions import Action, require
from .sessions import storage_errors

log = logging.getLogger(__name__)

#: Entries read from storage at a time.
PAGE = 1000
#: Entries between checkpoints: a replay applies at most this many (about 0.2 ms each).
CHECKPOINT_EVERY = 100
#: What one answer replays at most past its checkpoint (typing since the checkpoints were
#: caught up included).
MAX_TAIL = 100 * CHECKPOINT_EVERY
#: How long one replay may take in its worker.
REPLAY_DEADLINE_S = 20.0
#: How often the checkpoints of the sessions being typed in are caught up in the background,
#: so a reviewer's first scrub replays a bounded tail too.
KEEP_UP_EVERY_S = 5.0
#: A loaded session is caught up once it ended or nothing changed in it for this long (a
#: replay costs about ten times the live apply: during typing it would double the CPU of a
#: busy server, bench/compare.sh fanout).
QUIET_MS = 10_000
_FOREVER = 2**62


class Playback:
    """The document at a moment, and the log it is replayed from."""

    def __init__(self, store: PlaybackStore, rooms: RoomManager) -> None:
        self._store = store
        self._rooms = rooms
        # one checkpoint builder per session, forgotten once nobody waits on it
        self._building: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._keeper: asyncio.Task[None] | None = None
        # the version each loaded room was last caught up at: a quiet room is looked at once
        self._caught_up: weakref.WeakKeyDictionary[Room, int] = weakref.WeakKeyDictionary()

    def start(self) -> None:
        self._keeper = asyncio.create_task(self._keep_up(), name="playback-checkpoints")

    async def stop(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.gather(self._keeper, return_exceptions=True)
            self._keeper = None

    async def _keep_up(self) -> None:
        """Build the checkpoints of every loaded session that ended or went quiet (in workers,
        one replay at a time), rather than at a reviewer's first request."""
        while True:
            await asyncio.sleep(KEEP_UP_EVERY_S)
            quiet_since = now_ms() - QUIET_MS
            for session_id, room in list(self._rooms.rooms.items()):
                if self._caught_up.get(room) == room.version:
                    continue  # nothing changed since: no need to read its log again
                if not room.ended and room.changed_at > quiet_since:
                    continue  # being typed in: its replay would compete with the typing
                version = room.version
                try:
                    await self._catch_up(session_id)
                except Unavailable as exc:  # storage or the workers: try again next time
                    log.warning("playback checkpoints of %s: %s", session_id, exc.message)
                else:
                    self._caught_up[room] = version

    async def _replay(
        self, start: Checkpoint | None, entries: list[tuple[int, Edit]]
    ) -> dict[str, Any]:
        state, runs = (None, []) if start is None else (start.state, json.loads(start.authorship))
        pairs = [(edit.author, edit.data) for _, edit in entries]
        try:
            result: dict[str, Any] = await WORKERS.run(
                REPLAY_DEADLINE_S, replay, state, runs, pairs
            )
        except (TooCostly, RoomReset):
            raise Unavailable("replaying the session took too long; try again") from None
        return result

    async def _catch_up(self, session_id: str) -> None:
        """Keep a checkpoint after every :data:`CHECKPOINT_EVERY` entries of the log."""
        lock = self._building.get(session_id)
        if lock is None:
            lock = self._building[session_id] = asyncio.Lock()
        async with lock:
            while True:
                with storage_errors():
                    last = await self._store.checkpoint_before(session_id, None)
                    after = -1 if last is None else last.seq
                    page = await self._store.list_edits(
                        session_id, _FOREVER, after, CHECKPOINT_EVERY
                    )
                if len(page) < CHECKPOINT_EVERY:
                    return
                built = await self._replay(last, page)
                seq, edit = page[-1]
                checkpoint = Checkpoint(seq, edit.at, built["state"], json.dumps(built["runs"]))
                with storage_errors():
                    await self._store.add_checkpoint(session_id, checkpoint)

    async def edits(
        self, actor: Actor, record: SessionRecord, from_ms: int = 0, to_ms: int | None = None
    ) -> AsyncIterator[list[tuple[int, Edit]]]:
        """The log from ``from_ms`` to ``to_ms`` (now), a page at a time, oldest first."""
        require(actor, Action.WATCH)
        await self._rooms.log.flush()  # what was accepted is in it
        until = now_ms() if to_ms is None else to_ms
        after = -1
        while True:
            with storage_errors():
                page = await self._store.list_edits(record.id, until, after, PAGE, from_ms)
            if not page:
                return
            after = page[-1][0]
            yield page

    async def state_at(self, actor: Actor, record: SessionRecord, at: int | None) -> dict[str, Any]:
        """``{code, language, at, authorship}``: the document as it was at ``at`` (now)."""
        require(actor, Action.WATCH)
        moment = now_ms() if at is None else at
        if moment < record.created_at:
            raise InvalidInput("at: the session did not exist yet")
        await self._rooms.log.flush()  # what was accepted is in the log
        await self._catch_up(record.id)
        with storage_errors():
            start = await self._store.checkpoint_before(record.id, moment)
            after = -1 if start is None else start.seq
            tail = await self._store.list_edits(record.id, moment, after, MAX_TAIL)
        state = await self._replay(start, tail)
        return {key: state[key] for key in ("code", "language", "authorship")} | {"at": moment}
