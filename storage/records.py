"""The plain records storage takes and returns: no driver types ever cross this seam."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: str
    created_at: int
    updated_at: int
    expires_at: int
    creator_id: str
    candidate_invite: int = 1  # the generation of each invite: rotating one bumps it
    observer_invite: int = 1
    started_at: int | None = None  # the interview began (POST .../start)
    ended_at: int | None = None  # it ended: the session is frozen
    duration_ms: int | None = None  # its planned length, if one was given


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
    """A document as stored: a snapshot folding the log up to ``upto``, and the tail after it.

    ``last_seq`` is the sequence number of the newest entry read (``upto`` when the tail
    is empty): a document built from this record holds every entry up to it.
    """

    snapshot: bytes | None
    updates: list[bytes]
    upto: int = 0
    last_seq: int = 0
    ended: bool = False  # the interview ended: the document is frozen

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
class Edit:
    """An accepted change as playback keeps it: when (the server's clock), by whom (the
    participant whose token sent it; None for an anonymous or server edit), what it did to
    the code (characters inserted; what it deleted in pycrdt's unit, UTF-8 bytes, since the
    deleted text is gone by then), and the Yjs update itself."""

    at: int
    author: str | None
    inserted: int
    deleted: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The document right after playback's entry ``seq`` (at ``at``): its state, and who wrote
    what (JSON ``[[author, length], ...]`` in UTF-8 bytes)."""

    seq: int
    at: int
    state: bytes
    authorship: str


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """Something on playback's timeline besides an edit: a paste, the editor losing or
    regaining focus, a language change, a question attached (``data``: JSON details)."""

    session_id: str
    at: int
    kind: str
    participant_id: str | None
    data: str = "{}"


@dataclass(frozen=True, slots=True)
class Burst:
    """A run of one author's edits with no pause longer than the burst gap between them."""

    author: str | None
    first: int
    last: int
    edits: int


@dataclass(frozen=True, slots=True)
class PendingUpdate:
    """One update a room accepted (or a run of them merged), waiting for the next group
    commit; ``edits`` are the same changes as playback's log keeps them."""

    session_id: str
    data: bytes
    at: int
    edits: tuple[Edit, ...] = ()


@dataclass(frozen=True, slots=True)
class Appended:
    """The sequence numbers one group commit gave a session's entries: ``first..last``."""

    first: int
    last: int


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """One webhook event for one endpoint, stored with the change it reports.

    ``id`` is the event's (the same for every endpoint it goes to): receivers use it to
    drop a second delivery. ``attempts`` and ``first_failed_at`` are the delivery's so far.
    """

    endpoint: str
    id: str
    type: str
    session_id: str | None  # the session it reports on, if any
    body: str
    created_at: int
    attempts: int = 0
    first_failed_at: int | None = None


@dataclass(frozen=True, slots=True)
class QuestionRecord:
    """A question of the bank; ``body`` is its JSON (prompt, tests, solution, ...)."""

    id: str
    created_at: int
    updated_at: int
    difficulty: str
    body: str


@dataclass(frozen=True, slots=True)
class QuestionFilter:
    """Which questions a listing wants: each given field must match."""

    difficulty: str | None = None
    tag: str | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True)
class NotesRecord:
    """A session's interviewer notes; ``version`` counts the writes (0: none yet)."""

    notes: str
    version: int
    updated_at: int
    updated_by: str | None


@dataclass(frozen=True, slots=True)
class PresenceRecord:
    """A participant came online (their first socket) or left (their last one closed)."""

    at: int
    participant_id: str
    online: bool


@dataclass(frozen=True, slots=True)
class ScorecardRecord:
    """One interviewer's scorecard of a session; ``body`` is its JSON."""

    interviewer_id: str
    body: str
    submitted_at: int
