"""The session rules, in one place for every transport: admission, create, join, write.

REST and the socket handler both come here: a session exists, has not expired, has
room for one more, knows the participant a client names, and the actor's role allows
the action. Refusals are plain domain errors (:mod:`crdt_server.core.errors`); each
transport maps them once. Storage failures become :class:`Unavailable`.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from typing import Protocol

from storage import (
    DuplicateSessionId,
    GradingStore,
    HistoryEntry,
    NotesStore,
    OutboxEvent,
    ParticipantExists,
    ParticipantRecord,
    PlaybackStore,
    PresenceRecord,
    QuestionStore,
    SessionFullError,
    SessionGone,
    SessionRecord,
    SessionStore,
    StorageError,
    WebhookStore,
)

from ..clock import now_ms
from ..document import (
    DEFAULT_LANGUAGE,
    INTERVIEW,
    LANGUAGE,
    YDoc,
    meta_map,
    read_code,
    read_language,
)
from ..document import seed_update as seed_document
from ..json_bridge import participant_json
from ..merge import version_tag
from ..protocol import DocumentFull, DocumentQuarantined, RoomReset
from ..room import Room, write_text
from ..rooms import RoomManager, RoomStore
from ..settings import Settings
from ..webhooks import Webhooks
from .actor import SYSTEM, Actor, Role, role_of
from .errors import (
    DocumentDamaged,
    DocumentTooLarge,
    InvalidInput,
    NotFound,
    ParticipantNotFound,
    RateLimited,
    SessionDeleted,
    SessionEnded,
    SessionError,
    SessionExpired,
    SessionFull,
    SessionNotFound,
    StorageFull,
    Unavailable,
    VersionUnknown,
)
from .naming import pick_color, pick_name
from .permissions import Action, require
from .quota import WindowCounter
from .tokens import INVITE_ROLES, Tokens

#: A session id: 8 lowercase hex characters.
SESSION_ID = re.compile(r"^[0-9a-f]{8}$")
_ID_ATTEMPTS = 20


class CoreStore(
    SessionStore,
    RoomStore,
    WebhookStore,
    QuestionStore,
    NotesStore,
    GradingStore,
    PlaybackStore,
    Protocol,
):
    """Everything the session core reads and writes, and how big it has grown."""

    async def size_bytes(self) -> int: ...
    async def server_secret(self, name: str, make: Callable[[], str]) -> str: ...


@dataclass(frozen=True, slots=True)
class NewUser:
    """Who joins; whatever is left out is assigned."""

    id: str | None = None
    name: str | None = None
    color: str | None = None


@dataclass(frozen=True, slots=True)
class SessionState:
    """A session as clients see it: the record, the live code and who takes part."""

    session: SessionRecord
    code: str
    language: str
    version: str  # names this state of the document, for a later write based on it
    participants: list[ParticipantRecord]
    damaged: str | None = None  # why the stored document loaded only in part (read-only)


@contextmanager
def room_refusals() -> Iterator[None]:
    """A room's refusals of a server-side write, as domain errors."""
    try:
        yield
    except DocumentFull as exc:
        raise DocumentTooLarge(str(exc)) from None
    except DocumentQuarantined as exc:
        raise DocumentDamaged(str(exc)) from None
    except RoomReset as exc:
        raise Unavailable(f"{exc}: try again") from None


@contextmanager
def storage_errors() -> Iterator[None]:
    """Storage failures the rules do not handle themselves, as one domain error."""
    try:
        yield
    except StorageError as exc:
        raise Unavailable(f"storage unavailable: {exc}") from exc


def interview_status(record: SessionRecord) -> str:
    """waiting, active or ended."""
    if record.ended_at is not None:
        return "ended"
    return "active" if record.started_at is not None else "waiting"


def _show_interview(doc: YDoc, record: SessionRecord) -> None:
    """The interview's state in the document's meta, for every editor's banner and timer."""
    ends_at = None
    if record.started_at is not None and record.duration_ms is not None:
        ends_at = record.started_at + record.duration_ms
    meta_map(doc)[INTERVIEW] = {
        "status": interview_status(record),
        "startedAt": record.started_at,
        "endedAt": record.ended_at,
        "durationMs": record.duration_ms,
        "endsAt": ends_at,
    }


def actor_for(participant: ParticipantRecord | None, base: Actor) -> Actor:
    """``base`` (a transport and connection) acting as ``participant``."""
    if participant is None:
        return base
    return replace(base, participant_id=participant.id, role=role_of(participant.role))


class SessionCore:
    """Session rules over storage and the live rooms."""

    def __init__(
        self, settings: Settings, store: CoreStore, rooms: RoomManager, webhooks: Webhooks
    ) -> None:
        self._settings = settings
        self._store = store
        self._rooms = rooms
        self._webhooks = webhooks
        self._created = WindowCounter(settings.max_sessions_per_client_per_hour, 3600.0)
        self._joins = WindowCounter(settings.joins_per_session_per_minute, 60.0)
        self.tokens: Tokens | None = None  # set at start-up, once the secret is known

    # ------------------------------------------------------------ lookups
    async def get(self, session_id: str) -> SessionRecord:
        """The live session, or InvalidInput, SessionNotFound or SessionExpired."""
        if not SESSION_ID.match(session_id):
            raise InvalidInput("malformed session id: expected 8 lowercase hex characters")
        with storage_errors():
            record = await self._store.get_session(session_id)
        if record is None:
            raise SessionNotFound(f"session {session_id} not found")
        if record.expires_at <= now_ms():
            raise SessionExpired(f"session {session_id} has expired")
        return record

    async def participant(self, session_id: str, participant_id: str) -> ParticipantRecord:
        room = self._rooms.rooms.get(session_id)
        known = None if room is None else room.participants.get(participant_id)
        if known is not None:
            return known  # kept current by every change through this core
        with storage_errors():
            found = await self._store.get_participant(session_id, participant_id)
        if found is None:
            raise ParticipantNotFound(f"participant {participant_id} not found")
        if room is not None and len(room.participants) < 4 * self._settings.max_participants:
            room.participants[participant_id] = found
        return found

    async def admitted(self, session_id: str) -> SessionRecord:
        """The session for a connection: a loaded room answers without storage (a deleted or
        expired session's room is dropped; the expiry is checked here)."""
        room = self._rooms.rooms.get(session_id)
        if room is not None and room.record is not None and room.record.expires_at > now_ms():
            return room.record
        record = await self.get(session_id)
        if room is not None:
            room.record = record
        return record

    async def admit(
        self, session_id: str, participant_id: str | None
    ) -> tuple[SessionRecord, ParticipantRecord | None]:
        """A connection joining a session, maybe naming its participant (who it acts as)."""
        record = await self.admitted(session_id)
        named = None
        if participant_id is not None:
            named = await self.participant(record.id, participant_id)
        return record, named

    # ------------------------------------------------------------ reads
    async def presence(self, record: SessionRecord) -> list[PresenceRecord]:
        """When each participant came online and left (the newest changes kept)."""
        with storage_errors():
            return await self._store.list_presence(record.id)

    async def state(self, record: SessionRecord) -> SessionState:
        """The session's live view; an idle session is read from storage, not loaded."""
        room = self._rooms.rooms.get(record.id)
        with storage_errors(), room_refusals():
            if room is not None:
                base = room.base()
                room.bases.remember(base)  # the version this reader saw, for its next write
                code, language, version = base.text, room.language, base.version
                damaged = room.quarantined
            else:
                doc, damaged = await self._rooms.stored(record.id)
                code, language = read_code(doc), read_language(doc)
                version = version_tag(doc.get_update())
            participants = await self._store.list_participants(record.id)
        return SessionState(record, code, language, version, participants, damaged)

    async def participants(self, record: SessionRecord) -> list[ParticipantRecord]:
        with storage_errors():
            return await self._store.list_participants(record.id)

    # ------------------------------------------------------------ sessions
    def _check_code(self, code: str | None) -> None:
        if code is not None and len(code) > self._settings.max_code_chars:
            raise InvalidInput(
                f"code: at most {self._settings.max_code_chars} characters are allowed"
            )

    async def create(
        self,
        creator: NewUser | None,
        code: str | None,
        language: str | None,
        client: str | None = None,
    ) -> SessionState:
        """A new session whose creator is its interviewer, its document seeded once.

        ``client`` (an address, or an API key) may create so many per hour, and nobody may
        once storage is past its high-water mark.
        """
        self._check_code(code)
        await self._check_room_for_more(client)
        owner = _new_participant(creator, Role.INTERVIEWER, [])
        language = language or DEFAULT_LANGUAGE
        document = seed_document(code or "", language)
        ttl_ms = int(self._settings.session_ttl_seconds * 1000)
        for _ in range(_ID_ATTEMPTS):
            now = now_ms()
            record = SessionRecord(secrets.token_hex(4), now, now, now + ttl_ms, owner.id)
            owner = replace(owner, joined_at=now)
            created = {
                "sessionId": record.id,
                "language": language,
                "createdAt": record.created_at,
                "expiresAt": record.expires_at,
                "creator": participant_json(owner),
            }
            outbox = self._webhooks.events("session.created", record.id, created)
            try:
                await self._store.create_session(record, owner, document, outbox)
            except DuplicateSessionId:
                continue
            except StorageError as exc:
                raise Unavailable(f"storage unavailable: {exc}") from exc
            self._webhooks.wake()
            self._webhooks.code_seeded(record.id, code or "")
            self._rooms.revive(record.id)  # an id deleted lately may be drawn again
            return SessionState(record, code or "", language, version_tag(document), [owner])
        raise Unavailable("could not allocate a session id; try again")

    async def _check_room_for_more(self, client: str | None) -> None:
        mark = self._settings.max_storage_bytes
        if mark:
            with storage_errors():
                used = await self._store.size_bytes()
            if used >= mark:
                raise StorageFull(f"storage holds {used} bytes, past its mark of {mark}")
        if client is not None:
            wait = self._created.take(client)
            if wait is not None:
                per_hour = self._created.limit
                raise RateLimited(
                    f"at most {per_hour} new sessions per hour from one client",
                    retryAfter=wait,
                )

    async def write(
        self,
        actor: Actor,
        record: SessionRecord,
        code: str | None,
        language: str | None,
        base_version: str | None = None,
    ) -> SessionState:
        """A whole-text write merged as a minimal edit of the base it was made from.

        ``base_version`` names the version the writer read (it must still be remembered);
        without it the remembered version the text is closest to is taken.
        """
        require(actor, Action.EDIT)
        self._check_code(code)
        room = await self._rooms.get(record.id)
        with room_refusals():
            changed = await _merge(actor, room, code, language, base_version)
        if changed:
            await self._rooms.log.flush()  # durable before we answer
            record = replace(record, updated_at=max(record.updated_at, room.changed_at))
        return await self.state(record)

    async def delete(self, actor: Actor, record: SessionRecord) -> None:
        require(actor, Action.MANAGE)
        with storage_errors():
            await self._store.delete_session(record.id, self._deleted(record.id, "deleted"))
        self._webhooks.wake()
        await self._rooms.discard(record.id, SessionDeleted("session deleted"))

    # ------------------------------------------------------------ the interview
    async def start(self, actor: Actor, record: SessionRecord, duration_ms: int | None) -> None:
        """Start the interview (once; an ended one cannot start again), with its planned
        length shared in the document for everyone's timer."""
        require(actor, Action.MANAGE)
        if record.ended_at is not None:
            raise SessionEnded("the interview ended; it cannot start again")
        if record.started_at is not None:
            return  # started already: starting is idempotent
        at = now_ms()
        data = {"sessionId": record.id, "startedAt": at, "durationMs": duration_ms}
        outbox = self._webhooks.events("session.started", record.id, data)
        with storage_errors():
            if not await self._store.start_session(record.id, at, duration_ms, outbox):
                return  # another request started (or ended) it meanwhile
        self._webhooks.wake()
        started = replace(record, started_at=at, duration_ms=duration_ms)
        room = await self._rooms.get(record.id)
        with room_refusals():
            room.edit(lambda doc: _show_interview(doc, started), actor)
        await self._rooms.log.flush()

    async def end(self, actor: Actor, record: SessionRecord, reason: str = "ended") -> None:
        """End the interview: everyone's editor shows it, then the session is frozen for
        every client and REST, a last snapshot is taken, and session.ended is sent."""
        require(actor, Action.MANAGE)
        if record.ended_at is not None:
            return  # ended already
        at = now_ms()
        ended = replace(record, ended_at=at)
        room = await self._rooms.get(record.id)
        with room_refusals():
            room.edit(lambda doc: _show_interview(doc, ended), actor)
        self._rooms.mark_ended(room)  # from here no update of anyone's applies
        await self._rooms.log.flush()
        data = {"sessionId": record.id, "startedAt": record.started_at, "endedAt": at,
                "reason": reason}  # fmt: skip
        outbox = self._webhooks.events("session.ended", record.id, data)
        with storage_errors():
            await self._store.end_session(record.id, at, outbox)
        self._webhooks.wake()
        await self._rooms.record_history(room)

    async def expire(self) -> list[str]:
        """Delete every expired session with all it owns; its sockets are closed first, and
        an interview still under way is ended first (session.ended, reason expired)."""
        with storage_errors():
            expired = await self._store.expired_sessions(now_ms())
            for session_id in expired:
                record = await self._store.get_session(session_id)
                if record is not None and record.started_at and record.ended_at is None:
                    with suppress(SessionError):  # a broken room: deleted all the same
                        await self.end(SYSTEM, record, reason="expired")
                await self._rooms.discard(session_id, SessionExpired("session expired"))
                await self._store.delete_session(session_id, self._deleted(session_id, "expired"))
        if expired:
            self._webhooks.wake()
        return expired

    def _deleted(self, session_id: str, reason: str) -> list[OutboxEvent]:
        self._webhooks.forget(session_id)
        data = {"sessionId": session_id, "reason": reason, "deletedAt": now_ms()}
        return self._webhooks.events("session.deleted", session_id, data)

    # ------------------------------------------------------------ participants
    async def join(
        self, record: SessionRecord, user: NewUser | None, role: Role = Role.CANDIDATE
    ) -> tuple[SessionState, ParticipantRecord]:
        """Add a participant in ``role``, or update the one who joins again with the same id;
        returns the session and the participant."""
        wait = self._joins.take(record.id)
        if wait is not None:
            per_minute = self._joins.limit
            raise RateLimited(f"at most {per_minute} joins per minute here", retryAfter=wait)
        with storage_errors():
            joined = await self._join(record.id, user, role)
        fresh = replace(record, updated_at=max(record.updated_at, joined.joined_at))
        return await self.state(fresh), joined

    async def _join(self, session_id: str, user: NewUser | None, role: Role) -> ParticipantRecord:
        store, now = self._store, now_ms()
        if user is not None and user.id is not None:
            existing = await store.update_participant(
                session_id, user.id, name=user.name, color=user.color
            )
            if existing is not None:
                await store.touch_session(session_id, now)
                self._rooms.participant_changed(session_id, existing.id, existing)
                return replace(existing, joined_at=now)
        others = await store.list_participants(session_id)
        participant = _new_participant(user, role, others)
        try:
            await store.add_participant(session_id, participant, self._settings.max_participants)
        except SessionFullError:
            cap = self._settings.max_participants
            raise SessionFull(f"session is full ({cap} participants)") from None
        except ParticipantExists:  # a concurrent join with the same id won the race
            return await self._join(session_id, user, role)
        except SessionGone:
            raise SessionNotFound(f"session {session_id} not found") from None
        return participant

    def issue(self, record: SessionRecord, participant: ParticipantRecord) -> str:
        """A token bound to ``participant`` (expires with the session)."""
        assert self.tokens is not None
        return self.tokens.participant(record, participant)

    def invites(self, record: SessionRecord) -> dict[Role, str]:
        assert self.tokens is not None
        return {role: self.tokens.invite(record, role) for role in INVITE_ROLES}

    def playback_link(
        self, actor: Actor, record: SessionRecord, minutes: int
    ) -> tuple[str, int] | None:
        """A read-only playback token for a reviewer, and when it expires (Unix ms, within
        ``minutes`` and never past the session); None on an open server, where anyone may."""
        require(actor, Action.MANAGE)
        if self.tokens is None or actor.role is None:
            return None
        until = min(now_ms() + minutes * 60_000, record.expires_at) // 1000 * 1000
        return self.tokens.share(record, until), until

    async def rotate_invite(self, actor: Actor, record: SessionRecord, role: Role) -> str:
        """A new invite for ``role``; the old one stops working at once."""
        require(actor, Action.MANAGE)
        if role not in INVITE_ROLES:
            raise InvalidInput("role: only candidate and observer invites exist")
        with storage_errors():
            generation = await self._store.rotate_invite(record.id, role.value)
        room = self._rooms.rooms.get(record.id)
        if room is not None:
            room.record = None  # its invite generations are stale: read them again
        self._rooms.invite_rotated(record.id, role)
        if role is Role.CANDIDATE:
            record = replace(record, candidate_invite=generation)
        else:
            record = replace(record, observer_invite=generation)
        assert self.tokens is not None
        return self.tokens.invite(record, role)

    async def update_participant(
        self,
        actor: Actor,
        record: SessionRecord,
        participant_id: str,
        *,
        name: str | None = None,
        color: str | None = None,
        role: str | None = None,
        is_online: bool | None = None,
    ) -> ParticipantRecord:
        if role is not None or actor.participant_id != participant_id:
            require(actor, Action.MANAGE)  # others may change only their own name and colour
        with storage_errors():
            updated = await self._store.update_participant(
                record.id, participant_id, name=name, color=color, role=role, is_online=is_online
            )
            if updated is None:
                raise ParticipantNotFound(f"participant {participant_id} not found")
            await self._store.touch_session(record.id, now_ms())
        self._rooms.participant_changed(record.id, participant_id, updated)
        return updated

    async def remove_participant(
        self, actor: Actor, record: SessionRecord, participant_id: str
    ) -> None:
        if actor.participant_id != participant_id:
            require(actor, Action.MANAGE)  # anyone may leave; only an interviewer removes
        with storage_errors():
            if not await self._store.delete_participant(record.id, participant_id):
                raise ParticipantNotFound(f"participant {participant_id} not found")
            await self._store.touch_session(record.id, now_ms())
        self._rooms.participant_changed(record.id, participant_id, None)

    # ------------------------------------------------------------ history
    async def history(self, actor: Actor, record: SessionRecord) -> list[HistoryEntry]:
        require(actor, Action.READ_HISTORY)
        with storage_errors():
            return await self._store.list_history(record.id)

    async def snapshot(self, actor: Actor, record: SessionRecord, n: int) -> HistoryEntry:
        require(actor, Action.READ_HISTORY)
        with storage_errors():
            entry = await self._store.get_history(record.id, n)
        if entry is None:
            raise NotFound(f"no snapshot {n} in session {record.id}")
        return entry


async def _merge(
    actor: Actor, room: Room, code: str | None, language: str | None, base_version: str | None
) -> bool:
    """Apply a whole-text write to ``room`` as an edit of its base; True if it changed."""
    base = None
    if base_version is not None:
        current = room.base()
        base = room.bases.find(base_version) or (
            current if current.version == base_version else None
        )
        if base is None:
            raise VersionUnknown(
                f"version {base_version} is not known (any more): read the session again"
            )

    def set_language(doc: YDoc) -> None:
        meta_map(doc)[LANGUAGE] = language

    changed = code is not None and await write_text(room, code, actor, room.bases, base)
    if language is not None and room.language != language:
        changed = room.edit(set_language, actor) or changed
    return changed


def _new_participant(
    user: NewUser | None, role: Role, others: list[ParticipantRecord]
) -> ParticipantRecord:
    user = user or NewUser()
    return ParticipantRecord(
        id=user.id or str(uuid.uuid4()),
        name=user.name or pick_name({p.name for p in others}),
        role=role,
        color=user.color or pick_color([p.color for p in others]),
        joined_at=now_ms(),
        is_online=False,  # online only while a socket naming the participant is open
    )
