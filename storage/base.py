"""The storage seam: three small Protocols by concern, plus the lifecycle that owns them.

Each part of the service asks for the narrowest one it needs (rooms and the update log
for documents, the session core for sessions, playback for history), so another engine
(PostgreSQL, say) implements the same few verbs. Implementations raise only
:class:`~storage.errors.StorageError`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from .records import (
    Appended,
    Burst,
    Checkpoint,
    Edit,
    HistoryEntry,
    NotesRecord,
    OutboxEvent,
    ParticipantRecord,
    PendingUpdate,
    PresenceRecord,
    QuestionFilter,
    QuestionRecord,
    ScorecardRecord,
    SessionEvent,
    SessionRecord,
    StoredDocument,
)

#: Presence changes kept per session: a client reconnecting in a loop cannot grow the log.
PRESENCE_KEPT = 500
#: Timeline events kept per session, kind and participant: a client toggling its focus in a
#: loop fills only its own quota, never another's.
EVENTS_KEPT = 500
#: How long a webhook event handed out for delivery is held from every other deliverer: far
#: longer than a delivery's timeout, so a process that died mid-delivery is retried after it.
CLAIM_MS = 60_000


class SessionStore(Protocol):
    """Sessions and their participants."""

    async def create_session(
        self,
        session: SessionRecord,
        creator: ParticipantRecord,
        document: bytes,
        outbox: Sequence[OutboxEvent] = (),
    ) -> None:
        """Store a new session, its creator, its seeded document and the webhook events
        reporting it in one transaction."""

    async def get_session(self, session_id: str) -> SessionRecord | None: ...
    async def touch_session(self, session_id: str, at: int) -> None: ...
    async def delete_session(self, session_id: str, outbox: Sequence[OutboxEvent] = ()) -> bool: ...
    async def rotate_invite(self, session_id: str, role: str) -> int:
        """Bump the generation of the session's ``role`` invite (revoking the old one)."""

    async def expired_sessions(self, now: int) -> list[str]: ...
    async def start_session(
        self, session_id: str, at: int, duration_ms: int | None, outbox: Sequence[OutboxEvent] = ()
    ) -> bool:
        """Mark the interview started, once, unless it ended."""

    async def end_session(
        self, session_id: str, at: int, outbox: Sequence[OutboxEvent] = ()
    ) -> bool:
        """Mark the interview ended (frozen), once."""

    async def list_participants(self, session_id: str) -> list[ParticipantRecord]: ...
    async def get_participant(
        self, session_id: str, participant_id: str
    ) -> ParticipantRecord | None: ...
    async def add_participant(
        self, session_id: str, participant: ParticipantRecord, cap: int
    ) -> None:
        """Raises SessionFullError past ``cap``, ParticipantExists, or SessionGone."""

    async def update_participant(
        self,
        session_id: str,
        participant_id: str,
        *,
        name: str | None = None,
        color: str | None = None,
        role: str | None = None,
        is_online: bool | None = None,
        at: int | None = None,
        outbox: Sequence[OutboxEvent] = (),
    ) -> ParticipantRecord | None:
        """``at``: when ``is_online`` changed, logged with it (the newest
        :data:`PRESENCE_KEPT` changes of a session are kept)."""

    async def flip_online(
        self,
        session_id: str,
        participant_id: str,
        online: bool,
        at: int,
        outbox: Sequence[OutboxEvent] = (),
    ) -> ParticipantRecord | None:
        """Mark a participant online or offline, logged at ``at`` with ``outbox``, only if
        that changes it; returns the record when it did (None: it was so already, or there
        is no such participant). Processes deciding together change it once."""

    async def delete_participant(self, session_id: str, participant_id: str) -> bool: ...
    async def online_participants(self) -> list[tuple[str, ParticipantRecord]]:
        """Everyone marked online, with their session (at start-up: left by a crash)."""

    async def set_all_offline(self, at: int, outbox: Sequence[OutboxEvent] = ()) -> None:
        """Everyone marked online has left, at ``at`` (logged)."""

    async def list_presence(self, session_id: str) -> list[PresenceRecord]:
        """The session's kept presence changes, oldest first."""


class DocumentStore(Protocol):
    """A document as an append-only log with per-session sequence numbers and a snapshot."""

    async def load_document(self, session_id: str) -> StoredDocument: ...

    async def append_updates(
        self,
        updates: Sequence[PendingUpdate],
        outbox: Sequence[OutboxEvent] = (),
        pending: Sequence[tuple[str, int]] = (),
    ) -> dict[str, Appended]:
        """One group commit; returns the sequence numbers each session's entries got.

        Updates of sessions deleted meanwhile are dropped (and absent from the result), and
        so are their ``outbox`` events and ``pending`` code changes (session, due time).
        """

    async def document_since(self, session_id: str, after_seq: int) -> StoredDocument:
        """What another process added after entry ``after_seq``: the entries after it, and
        the snapshot too when compaction folded some of them (else ``snapshot`` is None)."""

    async def log_heads(self, session_ids: Sequence[str]) -> dict[str, tuple[int, bool]]:
        """``(newest entry, ended)`` of each of these sessions; deleted ones are missing."""

    async def compact(self, session_id: str, snapshot: bytes, upto: int) -> None:
        """Make ``snapshot`` (which folds every entry up to ``upto``) the document's snapshot
        and delete those entries; entries after ``upto`` stay. A snapshot folding more than
        ``upto`` already is kept."""

    async def add_events(self, events: Sequence[SessionEvent]) -> None:
        """Keep ``events`` (past :data:`EVENTS_KEPT` of one kind and participant in a
        session, and those of deleted sessions, are dropped)."""


class PlaybackStore(Protocol):
    """Every accepted change with its time and author (written by ``append_updates`` from each
    update's ``edits``; never compacted)."""

    async def list_edits(
        self, session_id: str, to_ms: int, after_seq: int = -1, limit: int = 1000, from_ms: int = 0
    ) -> list[tuple[int, Edit]]:
        """Entries after ``after_seq`` from ``from_ms`` to ``to_ms``, oldest first, at most
        ``limit``."""

    async def add_checkpoint(self, session_id: str, checkpoint: Checkpoint) -> None:
        """Keep ``checkpoint`` (one already kept for its entry stays)."""

    async def checkpoint_before(self, session_id: str, at: int | None) -> Checkpoint | None:
        """The newest checkpoint at or before ``at`` (None: the newest of all)."""

    async def list_events(self, session_id: str, limit: int) -> list[SessionEvent]:
        """A session's events, oldest first, at most ``limit``."""

    async def edit_totals(self, session_id: str) -> list[tuple[str | None, int, int]]:
        """``(author, entries, characters inserted)`` per author of the log's entries that
        changed the code (entry 0, the document as created, left out)."""

    async def idle_gaps(self, session_id: str, min_ms: int, limit: int) -> list[tuple[int, int]]:
        """``(from, to)`` of each pause of at least ``min_ms`` between two changes of the
        code, oldest first, at most ``limit``."""

    async def bursts(self, session_id: str, gap_ms: int, limit: int) -> list[Burst]:
        """Each author's runs of changes to the code no more than ``gap_ms`` apart, by start,
        at most ``limit``."""


class HistoryStore(Protocol):
    """Timed snapshots of the code."""

    async def add_history(self, session_id: str, at: int, code: str, language: str) -> int:
        """Returns the snapshot's number; the latest one's when its code is the same."""

    async def list_history(self, session_id: str) -> list[HistoryEntry]: ...
    async def get_history(self, session_id: str, n: int) -> HistoryEntry | None: ...


class WebhookStore(Protocol):
    """The webhook outbox: events stored with their changes, delivered, retried, given up."""

    async def enqueue_events(self, events: Sequence[OutboxEvent]) -> None: ...
    async def due_events(self, endpoint: str, now: int, limit: int) -> list[OutboxEvent]:
        """The endpoint's events due by ``now``, oldest first (none given up), claimed for
        :data:`CLAIM_MS`: until it ends (or the delivery is recorded) nobody, on this process
        or another, is handed them again."""

    async def event_delivered(self, endpoint: str, event_id: str) -> None: ...
    async def event_failed(
        self, event: OutboxEvent, next_at: int, error: str, *, give_up: bool
    ) -> None:
        """Record a failed delivery (``event`` carries its new attempt count)."""

    async def due_code_changes(self, now: int) -> list[tuple[str, int]]: ...
    async def code_changes_sent(
        self, sent: Sequence[tuple[str, int]], outbox: Sequence[OutboxEvent]
    ) -> None:
        """Replace pending code changes by their events, each at most once."""


class QuestionStore(Protocol):
    """The question bank, and the question each session was given."""

    async def create_question(self, question: QuestionRecord) -> None: ...
    async def get_question(self, question_id: str) -> QuestionRecord | None: ...
    async def replace_question(self, question: QuestionRecord) -> bool:
        """Store a question's new body; False when there is no such question."""

    async def delete_question(self, question_id: str) -> bool: ...
    async def list_questions(
        self, where: QuestionFilter, limit: int, offset: int
    ) -> tuple[list[QuestionRecord], int]:
        """A page of matching questions, oldest first, and how many match in all."""

    async def attach_question(
        self, session_id: str, question: QuestionRecord, at: int, by: str | None = None
    ) -> None:
        """Give a session its copy of ``question``; SessionGone when the session is."""

    async def session_question(self, session_id: str) -> QuestionRecord | None:
        """The copy a session was given (``updated_at`` is when it was attached)."""


class NotesStore(Protocol):
    """Interviewers' notes and scorecards."""

    async def get_notes(self, session_id: str) -> NotesRecord | None: ...
    async def put_notes(
        self, session_id: str, notes: str, at: int, by: str | None, base_version: int | None
    ) -> NotesRecord | None:
        """Store new notes; None when ``base_version`` is given and is not the current one
        (someone wrote meanwhile). SessionGone when the session is gone."""

    async def put_scorecard(
        self, session_id: str, scorecard: ScorecardRecord, outbox: Sequence[OutboxEvent] = ()
    ) -> None:
        """Store (or replace) an interviewer's scorecard; SessionGone if the session is."""

    async def list_scorecards(self, session_id: str) -> list[ScorecardRecord]: ...


class GradingStore(Protocol):
    """Every grading, whole, where no client can write."""

    async def add_test_run(
        self, session_id: str, run_id: str, at: int, body: str, keep: int
    ) -> None:
        """Keep a grading whole, and only the newest ``keep`` of the session's (a client
        grading without end must not grow storage without end); SessionGone if the session
        is gone."""

    async def list_test_runs(self, session_id: str) -> list[str]:
        """The session's gradings (JSON), oldest first."""


class Storage(
    SessionStore,
    DocumentStore,
    HistoryStore,
    WebhookStore,
    QuestionStore,
    NotesStore,
    GradingStore,
    PlaybackStore,
    Protocol,
):
    """One database holding all three, with its lifecycle."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> None: ...
    async def size_bytes(self) -> int:
        """Bytes on disk, for the storage high-water mark."""

    async def server_secret(self, name: str, make: Callable[[], str]) -> str:
        """A secret of the service's, created with ``make()`` the first time and kept."""
