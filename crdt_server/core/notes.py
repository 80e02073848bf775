"""Interviewers' private notes and scorecards.

Notes are one Markdown text per session, written whole with the version it was based on
(a write over a newer version is refused rather than lost), and pushed at once to the
session's interviewer sockets that speak JSON (``notes_change``); nobody else ever gets
them. A scorecard is one per interviewer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from storage import NotesRecord, NotesStore, ScorecardRecord, SessionGone, StorageError

from ..clock import now_ms
from ..rooms import RoomManager
from ..webhooks import Webhooks
from .actor import Actor
from .errors import Forbidden, SessionDeleted, Unavailable, VersionUnknown
from .permissions import Action, require

ANONYMOUS = "anonymous"


def notes_view(record: NotesRecord | None) -> dict[str, Any]:
    if record is None:
        return {"notes": "", "version": 0, "updatedAt": None, "updatedBy": None}
    return {
        "notes": record.notes,
        "version": record.version,
        "updatedAt": record.updated_at,
        "updatedBy": record.updated_by,
    }


@contextmanager
def _storage(session_id: str) -> Iterator[None]:
    try:
        yield
    except SessionGone:
        raise SessionDeleted(f"session {session_id} was deleted") from None
    except StorageError as exc:
        raise Unavailable(f"storage unavailable: {exc}") from exc


class Notes:
    """Notes and scorecards of the sessions, for interviewers only."""

    def __init__(self, store: NotesStore, rooms: RoomManager, webhooks: Webhooks) -> None:
        self._store = store
        self._rooms = rooms
        self._webhooks = webhooks

    async def read(self, actor: Actor, session_id: str) -> dict[str, Any]:
        require(actor, Action.NOTES)
        with _storage(session_id):
            return notes_view(await self._store.get_notes(session_id))

    async def write(
        self, actor: Actor, session_id: str, notes: str, base_version: int | None
    ) -> dict[str, Any]:
        require(actor, Action.NOTES)
        with _storage(session_id):
            record = await self._store.put_notes(
                session_id, notes, now_ms(), actor.participant_id, base_version
            )
        if record is None:
            raise VersionUnknown("the notes changed since that version: read them again and merge")
        view = notes_view(record)
        self._rooms.notes_changed(session_id, view)
        return view

    async def submit_scorecard(
        self, actor: Actor, session_id: str, scorecard: dict[str, Any]
    ) -> dict[str, Any]:
        require(actor, Action.NOTES)
        author = actor.participant_id
        if author is None and actor.role is not None:
            raise Forbidden("a scorecard is an interviewer's: use an interviewer's token")
        author = author or ANONYMOUS  # an open server knows nobody
        at = now_ms()
        data = {"sessionId": session_id, "interviewerId": author, **scorecard}
        outbox = self._webhooks.events("scorecard.submitted", session_id, data)
        record = ScorecardRecord(author, json.dumps(scorecard), at)
        with _storage(session_id):
            await self._store.put_scorecard(session_id, record, outbox)
        self._webhooks.wake()
        return scorecard_view(record)

    async def scorecards(self, actor: Actor, session_id: str) -> list[dict[str, Any]]:
        require(actor, Action.NOTES)
        with _storage(session_id):
            return [scorecard_view(r) for r in await self._store.list_scorecards(session_id)]


def scorecard_view(record: ScorecardRecord) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(record.body)
    return {"interviewerId": record.interviewer_id, "submittedAt": record.submitted_at, **body}
