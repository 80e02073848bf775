"""Storage of sessions, participants, document logs and history, behind small Protocols."""

from .base import (
    DocumentStore,
    GradingStore,
    HistoryStore,
    NotesStore,
    QuestionStore,
    SessionStore,
    Storage,
    WebhookStore,
)
from .errors import (
    DuplicateSessionId,
    ParticipantExists,
    SessionFullError,
    SessionGone,
    StorageError,
    StorageUnavailable,
)
from .records import (
    Appended,
    HistoryEntry,
    NotesRecord,
    OutboxEvent,
    ParticipantRecord,
    PendingUpdate,
    QuestionFilter,
    QuestionRecord,
    ScorecardRecord,
    SessionRecord,
    StoredDocument,
)
from .sqlite import SQLiteStorage

__all__ = [
    "Appended",
    "DocumentStore",
    "DuplicateSessionId",
    "GradingStore",
    "HistoryEntry",
    "HistoryStore",
    "NotesRecord",
    "NotesStore",
    "OutboxEvent",
    "ParticipantExists",
    "ParticipantRecord",
    "PendingUpdate",
    "QuestionFilter",
    "QuestionRecord",
    "QuestionStore",
    "SQLiteStorage",
    "ScorecardRecord",
    "SessionFullError",
    "SessionGone",
    "SessionRecord",
    "SessionStore",
    "Storage",
    "StorageError",
    "StorageUnavailable",
    "StoredDocument",
    "WebhookStore",
]
