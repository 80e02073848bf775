"""Who is online: a participant is online while any of their sockets is open.

Sockets of either protocol that carry a participant id are counted per
session; the first one flips ``isOnline`` on in storage and the last one off,
and the room's JSON clients hear ``user_join`` / ``user_leave``.
"""

from __future__ import annotations

import logging

from storage import OutboxEvent, SessionStore, StorageError

from .clock import now_ms
from .json_bridge import participant_json
from .rooms import RoomManager
from .webhooks import EventType, Webhooks

log = logging.getLogger(__name__)


class Presence:
    """Socket counts per (session, participant)."""

    def __init__(self, storage: SessionStore, rooms: RoomManager, webhooks: Webhooks) -> None:
        self._storage = storage
        self._rooms = rooms
        self._webhooks = webhooks
        self._sockets: dict[tuple[str, str], int] = {}

    async def reset(self) -> None:
        """Nobody is online at start-up, whatever a crash left behind: whoever it left
        online has left (participant.left), once."""
        outbox: list[OutboxEvent] = []
        if self._webhooks.wants("participant.left"):
            for session_id, participant in await self._storage.online_participants():
                data = {"sessionId": session_id, "participant": participant_json(participant)}
                outbox += self._webhooks.events("participant.left", session_id, data)
        await self._storage.set_all_offline(now_ms(), outbox)

    def online(self, session_id: str, user_id: str) -> bool:
        return self._sockets.get((session_id, user_id), 0) > 0

    async def arrive(self, session_id: str, user_id: str) -> None:
        key = (session_id, user_id)
        self._sockets[key] = self._sockets.get(key, 0) + 1
        if self._sockets[key] == 1:
            await self._flip(session_id, user_id, True)

    async def depart(self, session_id: str, user_id: str) -> None:
        key = (session_id, user_id)
        left = self._sockets.get(key, 0) - 1
        if left > 0:
            self._sockets[key] = left
            return
        self._sockets.pop(key, None)
        await self._flip(session_id, user_id, False)

    async def _flip(self, session_id: str, user_id: str, online: bool) -> None:
        """Record the change with its participant.joined or .left event."""
        kind: EventType = "participant.joined" if online else "participant.left"
        try:
            outbox = await self._events(kind, session_id, user_id)
            record = await self._storage.update_participant(
                session_id, user_id, is_online=online, at=now_ms(), outbox=outbox
            )
        except StorageError:
            log.exception("could not record %s as online=%s", user_id, online)
            return
        if outbox:
            self._webhooks.wake()
        room = self._rooms.rooms.get(session_id)
        if record is not None and room is not None and self.online(session_id, user_id) == online:
            room.presence_changed(record, online)

    async def _events(self, kind: EventType, session_id: str, user_id: str) -> list[OutboxEvent]:
        if not self._webhooks.wants(kind):
            return []
        room = self._rooms.rooms.get(session_id)
        participant = None if room is None else room.participants.get(user_id)
        if participant is None:
            participant = await self._storage.get_participant(session_id, user_id)
        if participant is None:
            return []
        data = {"sessionId": session_id, "participant": participant_json(participant)}
        return self._webhooks.events(kind, session_id, data)


class Seat:
    """One socket's claim on presence: taken at most once, released at most once."""

    def __init__(self, presence: Presence, session_id: str) -> None:
        self._presence = presence
        self._session_id = session_id
        self._user_id: str | None = None

    async def take(self, user_id: str) -> None:
        if self._user_id is None:
            self._user_id = user_id
            await self._presence.arrive(self._session_id, user_id)

    async def release(self) -> None:
        if self._user_id is not None:
            user_id, self._user_id = self._user_id, None
            await self._presence.depart(self._session_id, user_id)
