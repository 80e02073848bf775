"""Storage of sessions, participants, document updates and history."""

from .base import (
    SESSION_ID,
    DuplicateSessionId,
    HistoryEntry,
    ParticipantExists,
    ParticipantRecord,
    PendingUpdate,
    SessionFullError,
    SessionGone,
    SessionRecord,
    Storage,
    StorageError,
    StoredDocument,
)
from .sqlite import SQLiteStorage

__all__ = [
    "SESSION_ID",
    "DuplicateSessionId",
    "HistoryEntry",
    "ParticipantExists",
    "ParticipantRecord",
    "PendingUpdate",
    "SQLiteStorage",
    "SessionFullError",
    "SessionGone",
    "SessionRecord",
    "Storage",
    "StorageError",
    "StoredDocument",
]
