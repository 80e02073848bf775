"""Playback's rules: who may watch a session again, and the document at any moment of it.

The log is read from storage in pages and replayed in a worker process
(:func:`crdt_server.playback.replay`); its raw entries stream out as they are read, so a
client can replay them itself at any speed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from storage import Edit, PlaybackStore, SessionRecord

from ..clock import now_ms
from ..playback import replay
from ..protocol import RoomReset
from ..rooms import RoomManager
from ..workers import WORKERS, TooCostly
from .actor import Actor
from .errors import InvalidInput, Unavailable
from .permissions import Action, require
from .sessions import storage_errors

#: Entries read from storage at a time.
PAGE = 1000
#: Entries one replay may take (a 60-minute interview is about 20 000).
MAX_REPLAY = 200_000
#: How long one replay may take in its worker.
REPLAY_DEADLINE_S = 20.0


class Playback:
    """The document at a moment, and the log it is replayed from."""

    def __init__(self, store: PlaybackStore, rooms: RoomManager) -> None:
        self._store = store
        self._rooms = rooms

    async def edits(
        self, actor: Actor, record: SessionRecord, from_ms: int = 0, to_ms: int | None = None
    ) -> AsyncIterator[list[tuple[int, Edit]]]:
        """The log from ``from_ms`` to ``to_ms`` (now), a page at a time, oldest first."""
        require(actor, Action.READ_HISTORY)
        await self._rooms.log.flush()  # what was accepted is in it
        until = now_ms() if to_ms is None else to_ms
        after = -1
        while True:
            with storage_errors():
                page = await self._store.list_edits(record.id, until, after, PAGE)
            if not page:
                return
            after = page[-1][0]
            shown = [(seq, edit) for seq, edit in page if edit.at >= from_ms]
            if shown:
                yield shown

    async def state_at(self, actor: Actor, record: SessionRecord, at: int | None) -> dict[str, Any]:
        """``{code, language, at, authorship}``: the document as it was at ``at`` (now)."""
        moment = now_ms() if at is None else at
        if moment < record.created_at:
            raise InvalidInput("at: the session did not exist yet")
        entries: list[tuple[str | None, bytes]] = []
        async for page in self.edits(actor, record, 0, moment):
            entries += [(edit.author, edit.data) for _, edit in page]
            if len(entries) > MAX_REPLAY:
                raise Unavailable(f"more than {MAX_REPLAY} changes to replay")
        try:
            state = await WORKERS.run(REPLAY_DEADLINE_S, replay, entries)
        except (TooCostly, RoomReset):
            raise Unavailable("replaying the session took too long; try again") from None
        return {**state, "at": moment}
