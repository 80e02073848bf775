"""The storage seam: plain records, a small error hierarchy and the ``Storage`` Protocol.

REST and the rooms talk to storage only through these verbs, so another
engine (PostgreSQL, say) can stand behind them later.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

#: A session id: 8 lowercase hex characters (what sessions are stored and routed under).
SESSION_ID = re.compile(r"^[0-9a-f]{8}$")


class StorageError(Exception):
    """Base of every storage failure."""


class DuplicateSessionId(StorageError):
    """The generated session id is taken; the caller draws another."""


class SessionFullError(StorageError):
    """The session already holds its maximum of participants."""


class ParticipantExists(StorageError):
    """A participant with this id is already in the session."""


class SessionGone(StorageError):
    """The session does not exist (any more)."""


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: str
    created_at: int
    updated_at: int
    expires_at: int
    creator_id: str


@dataclass(frozen=True, slots=True)
class ParticipantRecord:
    id: str
    name: str
    role: str
    color: str
    joined_at: int
    is_online: bool


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """A document as stored: a compacted snapshot plus the log tail written after it."""

    snapshot: bytes | None
    updates: list[bytes]

    @property
    def tail_bytes(self) -> int:
        return sum(len(u) for u in self.updates)


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    n: int
    at: int
    size: int
    code: str
    language: str


@dataclass(frozen=True, slots=True)
class PendingUpdate:
    """One update a room accepted, waiting for the next group commit."""

    session_id: str
    data: bytes
    at: int


class Storage(Protocol):
    """The verbs the service needs; implementations raise only :class:`StorageError`."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> None: ...

    # sessions
    async def create_session(
        self, session: SessionRecord, creator: ParticipantRecord, document: bytes
    ) -> None: ...
    async def get_session(self, session_id: str) -> SessionRecord | None: ...
    async def touch_session(self, session_id: str, at: int) -> None: ...
    async def delete_session(self, session_id: str) -> bool: ...
    async def expired_sessions(self, now: int) -> list[str]: ...

    # participants
    async def list_participants(self, session_id: str) -> list[ParticipantRecord]: ...
    async def get_participant(
        self, session_id: str, participant_id: str
    ) -> ParticipantRecord | None: ...
    async def add_participant(
        self, session_id: str, participant: ParticipantRecord, cap: int
    ) -> None: ...
    async def update_participant(
        self,
        session_id: str,
        participant_id: str,
        *,
        name: str | None = None,
        color: str | None = None,
        role: str | None = None,
        is_online: bool | None = None,
    ) -> ParticipantRecord | None: ...
    async def delete_participant(self, session_id: str, participant_id: str) -> bool: ...
    async def set_all_offline(self) -> None: ...

    # documents
    async def load_document(self, session_id: str) -> StoredDocument: ...
    async def append_updates(self, updates: Sequence[PendingUpdate]) -> None: ...
    async def compact(self, session_id: str, snapshot: bytes) -> None: ...

    # history
    async def add_history(self, session_id: str, at: int, code: str, language: str) -> int: ...
    async def list_history(self, session_id: str) -> list[HistoryEntry]: ...
    async def get_history(self, session_id: str, n: int) -> HistoryEntry | None: ...
