"""Playback's timeline: who did what, when, on the server's clock, for a reviewer scrubbing
through a session (interviewers, or a playback link).

Everything on it is what the server itself saw or decided, never what a client wrote into
the document: edits come from the attributed log, runs and pastes from events the server
recorded as it accepted them, gradings from storage. The editor losing focus is the one
signal a client reports (its awareness ``focused``), attributed to the socket's participant.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from storage import ParticipantRecord, PlaybackStore, PresenceRecord, SessionRecord

from ..clock import now_ms
from ..one_at_a_time import OneAtATime
from ..rooms import RoomManager
from .actor import Actor
from .grading import Grader
from .permissions import Action, require
from .sessions import SessionCore, storage_errors

#: An author's edits closer together than this are one burst of typing.
BURST_GAP_MS = 5000
#: What one timeline lists at most of each: bursts, idle gaps, recorded events.
MAX_BURSTS = 5000
MAX_GAPS = 1000
MAX_EVENTS = 20_000
#: Timelines waiting to be built (one is built at a time: its queries scan a session's log,
#: 120 ms for 20 000 changes in storage's one thread, which commits must share).
TIMELINE_LINE = 8


def history_events(
    record: SessionRecord,
    participants: list[ParticipantRecord],
    presence: list[PresenceRecord],
    gradings: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """The session's life as the report and the timeline both tell it: created, joined,
    online and left, started, tested, ended."""
    events: list[dict[str, Any]] = [
        {"at": record.created_at, "type": "created", "userId": record.creator_id}
    ]
    events += [{"at": p.joined_at, "type": "joined", "userId": p.id} for p in participants]
    events += [
        {"at": p.at, "type": "online" if p.online else "left", "userId": p.participant_id}
        for p in presence
    ]
    if record.started_at is not None:
        events.append({"at": record.started_at, "type": "started", "userId": None})
    events += [
        {"at": g.get("at"), "type": "tested", "userId": g.get("userId"),
         "status": g.get("status"), "score": g.get("score")}
        for g in gradings
    ]  # fmt: skip
    if record.ended_at is not None:
        events.append({"at": record.ended_at, "type": "ended", "userId": None})
    return events


class Timeline:
    """Puts the timeline together from the log, the recorded events and the session."""

    def __init__(
        self,
        store: PlaybackStore,
        sessions: SessionCore,
        grader: Grader,
        rooms: RoomManager,
        idle_gap_ms: int,
    ) -> None:
        self._store = store
        self._sessions = sessions
        self._grader = grader
        self._rooms = rooms
        self._idle_gap_ms = idle_gap_ms
        self._turn = OneAtATime(TIMELINE_LINE, "timelines are being built; try again shortly")

    async def build(self, actor: Actor, record: SessionRecord) -> dict[str, Any]:
        require(actor, Action.WATCH)
        await self._rooms.log.flush()  # what was accepted and recorded is in storage
        participants = await self._sessions.participants(record)
        presence = await self._sessions.presence(record)
        gradings = await self._grader.history(record.id)
        async with self._turn.turn():
            with storage_errors():
                recorded = await self._store.list_events(record.id, MAX_EVENTS)
                totals = await self._store.edit_totals(record.id)
                gaps = await self._store.idle_gaps(record.id, self._idle_gap_ms, MAX_GAPS)
                bursts = await self._store.bursts(record.id, BURST_GAP_MS, MAX_BURSTS)
        events = history_events(record, participants, presence, gradings)
        for event in recorded:
            details = json.loads(event.data)
            events.append({**details, "at": event.at, "type": event.kind,
                           "userId": event.participant_id})  # fmt: skip
        events += [{"at": before, "type": "idle", "userId": None, "durationMs": after - before}
                   for before, after in gaps]  # fmt: skip
        events.sort(key=lambda e: e["at"] or 0)
        counted = Counter((e["type"], e["userId"]) for e in events)
        edits = {author: (entries, chars) for author, entries, chars in totals}
        until = record.ended_at or now_ms()
        return {
            "sessionId": record.id,
            "createdAt": record.created_at,
            "startedAt": record.started_at,
            "endedAt": record.ended_at,
            "durationMs": None if record.started_at is None else until - record.started_at,
            "plannedMs": record.duration_ms,
            "until": until,
            "participants": [
                {
                    "id": p.id,
                    "name": p.name,
                    "color": p.color,
                    "role": p.role,
                    "edits": edits.get(p.id, (0, 0))[0],
                    "chars": edits.get(p.id, (0, 0))[1],
                    "pastes": counted["paste", p.id],
                    "focusLost": counted["focusLost", p.id],
                    "runs": counted["ran", p.id],
                    "tests": counted["tested", p.id],
                }
                for p in participants
            ],
            "events": events,
            "bursts": [
                {"from": b.first, "to": b.last, "userId": b.author, "edits": b.edits}
                for b in bursts
            ],
        }
