"""Who is online: a participant is online while any of their sockets is open.

Sockets of either protocol that carry a participant id are counted per
session; the first one flips ``isOnline`` on in storage and the last one off,
and the room's JSON clients hear ``user_join`` / ``user_leave``. With other
processes sharing the sessions, their counts are told over the relay and the
first socket anywhere and the last one everywhere decide.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from storage import OutboxEvent, ParticipantRecord, SessionStore, StorageError

from .clock import now_ms
from .json_bridge import participant_json
from .rooms import RoomManager, participant_fields
from .webhooks import EventType, Webhooks

if TYPE_CHECKING:
    from .relay import Relay

log = logging.getLogger(__name__)


#: With other processes: how long a participant's last socket here has gone before they are
#: recorded as left, so that a socket of theirs opening elsewhere (a reconnect through the
#: load balancer) is heard of first and they do not leave and join again.
DEPART_GRACE_S = 0.5


class _Turn:
    """One participant's settles, one at a time (``users``: those holding or awaiting it)."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class Presence:
    """Socket counts per (session, participant), this process's and the others'."""

    def __init__(self, storage: SessionStore, rooms: RoomManager, webhooks: Webhooks) -> None:
        self._storage = storage
        self._rooms = rooms
        self._webhooks = webhooks
        self._sockets: dict[tuple[str, str], int] = {}
        #: Other processes' socket counts, as they told them (with a relay).
        self._elsewhere: dict[tuple[str, str], dict[bytes, int]] = {}
        self._settling: dict[tuple[str, str], _Turn] = {}
        self._relay: Relay | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def share_with(self, relay: Relay) -> None:
        """Count the sockets of other processes too: a participant is online while any
        process has a socket of theirs, and each change is stored and announced once."""
        self._relay = relay
        relay.on_control("sockets", self._remote_sockets)
        relay.on_control("presence", self._remote_presence)
        relay.hello_hooks.append(self._tell_counts)
        relay.gone_hooks.append(self._process_gone)

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
        key = (session_id, user_id)
        elsewhere = self._elsewhere.get(key, {})
        return self._sockets.get(key, 0) > 0 or any(count > 0 for count in elsewhere.values())

    async def arrive(self, session_id: str, user_id: str) -> None:
        key = (session_id, user_id)
        self._sockets[key] = self._sockets.get(key, 0) + 1
        if self._sockets[key] == 1:
            self._tell(session_id, user_id, 1)
            await self._settle(session_id, user_id)

    async def depart(self, session_id: str, user_id: str) -> None:
        key = (session_id, user_id)
        left = self._sockets.get(key, 0) - 1
        if left > 0:
            self._sockets[key] = left
            return
        self._sockets.pop(key, None)
        self._tell(session_id, user_id, 0)
        if self._relay is None:
            await self._settle(session_id, user_id)
        else:  # another process's count of them may still be on its way (a failover)
            self._spawn(self._settle_after(DEPART_GRACE_S, session_id, user_id))

    async def _settle_after(self, delay: float, session_id: str, user_id: str) -> None:
        await asyncio.sleep(delay)
        await self._settle(session_id, user_id)

    async def _settle(self, session_id: str, user_id: str) -> None:
        """Make storage say what the sockets say, with its participant.joined or .left event.

        Storage changes only what differs (several processes may settle one participant at
        once: one of them records the change). One settle at a time per participant, each
        reading the counts when its turn comes, so the last one leaves the latest state."""
        key = (session_id, user_id)
        turn = self._settling.setdefault(key, _Turn())
        turn.users += 1
        try:
            async with turn.lock:
                online = self.online(session_id, user_id)
                kind: EventType = "participant.joined" if online else "participant.left"
                try:
                    outbox = await self._events(kind, session_id, user_id)
                    record = await self._storage.flip_online(
                        session_id, user_id, online, now_ms(), outbox
                    )
                except StorageError:
                    log.exception("could not record %s as online=%s", user_id, online)
                    return
        finally:
            turn.users -= 1
            if not turn.users:
                del self._settling[key]
        if record is None:
            return  # it was so already
        if outbox:
            self._webhooks.wake()
        self._announce(session_id, record, online)
        if self._relay is not None:
            fields = participant_fields(record)
            self._relay.control(session_id, "presence", record=fields, online=online)

    def _announce(self, session_id: str, record: ParticipantRecord, online: bool) -> None:
        room = self._rooms.rooms.get(session_id)
        if room is not None:
            room.presence_changed(record, online)

    # ------------------------------------------------------------ other processes
    def _tell(self, session_id: str, user_id: str, count: int) -> None:
        """Tell the other processes whether this one has sockets of the participant."""
        if self._relay is not None:
            self._relay.control(session_id, "sockets", participant=user_id, count=count)

    def _tell_counts(self, session_id: str) -> None:
        """A process loaded the session's room: tell it whose sockets this one has."""
        for (sid, user_id), count in self._sockets.items():
            if sid == session_id and count > 0:
                self._tell(session_id, user_id, 1)

    def _remote_sockets(self, session_id: str, process: bytes, what: dict[str, Any]) -> None:
        user_id, count = what.get("participant"), what.get("count")
        if not isinstance(user_id, str) or not isinstance(count, int):
            return
        key = (session_id, user_id)
        before = self.online(session_id, user_id)
        counts = self._elsewhere.setdefault(key, {})
        if count > 0:
            counts[process] = count
        else:
            counts.pop(process, None)
            if not counts:
                del self._elsewhere[key]
        if self.online(session_id, user_id) != before:
            self._spawn(self._settle(session_id, user_id))

    def _remote_presence(self, session_id: str, _process: bytes, what: dict[str, Any]) -> None:
        """Another process recorded a presence change: this one's JSON clients hear it. If
        what this process counts says otherwise (the other had not heard of a socket here
        yet), it settles again: the counts, not the last word, decide."""
        fields, online = what.get("record"), what.get("online")
        if not isinstance(fields, dict) or not isinstance(online, bool):
            return
        record = ParticipantRecord(**fields)
        self._announce(session_id, record, online)
        if self.online(session_id, record.id) != online:
            self._spawn(self._settle(session_id, record.id))

    def _process_gone(self, process: bytes) -> None:
        """A process died: its sockets are gone, and whoever had only those has left."""
        for key, counts in list(self._elsewhere.items()):
            if counts.pop(process, None) is not None:
                if not counts:
                    del self._elsewhere[key]
                self._spawn(self._settle(*key))

    async def stop(self) -> None:
        """Let settles in flight finish (each is one short transaction)."""
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

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
