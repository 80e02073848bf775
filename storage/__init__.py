"""Storage of sessions, participants, document logs and history, behind small Protocols."""

from .base import (
    DocumentStore,
    HistoryStore,
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
    OutboxEvent,
    ParticipantRecord,
    PendingUpdate,
    QuestionFilter,
    QuestionRecord,
    SessionRecord,
    StoredDocument,
)
from .sqlite import SQLiteStorage

__all__ = [
    "Appended",
    "DocumentStore",
    "DuplicateSessionId",
    "HistoryEntry",
    "HistoryStore",
    "OutboxEvent",
    "ParticipantExists",
    "ParticipantRecord",
    "PendingUpdate",
    "QuestionFilter",
    "QuestionRecord",
    "QuestionStore",
    "SQLiteStorage",
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
