"""Schema migrations, applied in order and recorded in ``PRAGMA user_version``.

Append a new step to :data:`MIGRATIONS` to change the schema; never edit a
step that has shipped.
"""

from __future__ import annotations

import logging

import aiosqlite

log = logging.getLogger(__name__)

MIGRATIONS: tuple[str, ...] = (
    # 1: sessions, participants, the update log with its snapshot, timed history
    """
    CREATE TABLE sessions (
        id          TEXT PRIMARY KEY,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL,
        creator_id  TEXT NOT NULL
    );
    CREATE INDEX sessions_expires_at ON sessions (expires_at);

    CREATE TABLE participants (
        session_id  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        id          TEXT NOT NULL,
        name        TEXT NOT NULL,
        role        TEXT NOT NULL CHECK (role IN ('interviewer', 'candidate')),
        color       TEXT NOT NULL,
        joined_at   INTEGER NOT NULL,
        is_online   INTEGER NOT NULL DEFAULT 0,
        position    INTEGER NOT NULL,
        PRIMARY KEY (session_id, id)
    );

    CREATE TABLE doc_snapshots (
        session_id  TEXT PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
        state       BLOB NOT NULL,
        updated_at  INTEGER NOT NULL
    );

    CREATE TABLE doc_updates (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        data        BLOB NOT NULL,
        created_at  INTEGER NOT NULL
    );
    CREATE INDEX doc_updates_session ON doc_updates (session_id, seq);

    CREATE TABLE history (
        session_id  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        n           INTEGER NOT NULL,
        at          INTEGER NOT NULL,
        code        TEXT NOT NULL,
        language    TEXT NOT NULL,
        PRIMARY KEY (session_id, n)
    );
    """,
    # 2: log entries numbered per session; a snapshot records the entry it folds up to
    """
    CREATE TABLE doc_log (
        session_id  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        seq         INTEGER NOT NULL,
        data        BLOB NOT NULL,
        created_at  INTEGER NOT NULL,
        PRIMARY KEY (session_id, seq)
    );
    INSERT INTO doc_log (session_id, seq, data, created_at)
        SELECT session_id, row_number() OVER (PARTITION BY session_id ORDER BY seq),
               data, created_at
        FROM doc_updates;
    DROP TABLE doc_updates;
    ALTER TABLE doc_snapshots ADD COLUMN upto INTEGER NOT NULL DEFAULT 0;
    """,
    # 3: the observer role; invite generations (rotating one revokes its tokens); secrets
    """
    CREATE TABLE participants_v3 (
        session_id  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        id          TEXT NOT NULL,
        name        TEXT NOT NULL,
        role        TEXT NOT NULL CHECK (role IN ('interviewer', 'candidate', 'observer')),
        color       TEXT NOT NULL,
        joined_at   INTEGER NOT NULL,
        is_online   INTEGER NOT NULL DEFAULT 0,
        position    INTEGER NOT NULL,
        PRIMARY KEY (session_id, id)
    );
    INSERT INTO participants_v3 SELECT * FROM participants;
    DROP TABLE participants;
    ALTER TABLE participants_v3 RENAME TO participants;
    ALTER TABLE sessions ADD COLUMN candidate_invite INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE sessions ADD COLUMN observer_invite INTEGER NOT NULL DEFAULT 1;
    CREATE TABLE server_secrets (
        name        TEXT PRIMARY KEY,
        value       TEXT NOT NULL
    );
    """,
    # 4: the webhook outbox (no foreign key: a deleted session's events must outlive it),
    # and the sessions whose code changed inside a code.changed throttle window
    """
    CREATE TABLE webhook_outbox (
        endpoint        TEXT NOT NULL,
        id              TEXT NOT NULL,
        type            TEXT NOT NULL,
        session_id      TEXT,
        body            TEXT NOT NULL,
        created_at      INTEGER NOT NULL,
        next_at         INTEGER NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        first_failed_at INTEGER,
        last_error      TEXT,
        given_up        INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (endpoint, id)
    );
    CREATE INDEX webhook_outbox_due ON webhook_outbox (endpoint, given_up, next_at);
    CREATE TABLE webhook_pending (
        session_id  TEXT PRIMARY KEY,
        due_at      INTEGER NOT NULL
    );
    """,
    # 5: the question bank (a question is JSON, its filterable fields beside it), and the
    # copy of a question a session was given (its hidden tests and solution stay here)
    """
    CREATE TABLE questions (
        id          TEXT PRIMARY KEY,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL,
        difficulty  TEXT NOT NULL,
        body        TEXT NOT NULL
    );
    CREATE INDEX questions_created ON questions (created_at, id);
    CREATE TABLE session_questions (
        session_id  TEXT PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
        question_id TEXT NOT NULL,
        attached_at INTEGER NOT NULL,
        body        TEXT NOT NULL
    );
    """,
    # 6: the interview's lifecycle: started, ended (frozen), and its planned length
    """
    ALTER TABLE sessions ADD COLUMN started_at INTEGER;
    ALTER TABLE sessions ADD COLUMN ended_at INTEGER;
    ALTER TABLE sessions ADD COLUMN duration_ms INTEGER;
    """,
    # 7: interviewers' private notes (one text per session, versioned) and scorecards
    """
    CREATE TABLE session_notes (
        session_id  TEXT PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
        notes       TEXT NOT NULL,
        version     INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL,
        updated_by  TEXT
    );
    CREATE TABLE scorecards (
        session_id      TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        interviewer_id  TEXT NOT NULL,
        body            TEXT NOT NULL,
        submitted_at    INTEGER NOT NULL,
        PRIMARY KEY (session_id, interviewer_id)
    );
    """,
    # 8: every grading, whole, where no client can write (the document's copy is a view)
    """
    CREATE TABLE test_runs (
        session_id  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        id          TEXT NOT NULL,
        at          INTEGER NOT NULL,
        body        TEXT NOT NULL,
        PRIMARY KEY (session_id, id)
    );
    """,
    # 9: when each participant came online and when they left (the report's events)
    """
    CREATE TABLE presence_log (
        seq             INTEGER PRIMARY KEY,
        session_id      TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        at              INTEGER NOT NULL,
        participant_id  TEXT NOT NULL,
        online          INTEGER NOT NULL
    );
    CREATE INDEX presence_log_by_session ON presence_log (session_id, seq);
    """,
    # 10: playback's log: every accepted change with its time and author, never compacted;
    # what a session held before it starts as its entry 0 (the snapshot) and the log's tail
    """
    CREATE TABLE edit_log (
        session_id  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        seq         INTEGER NOT NULL,
        at          INTEGER NOT NULL,
        author      TEXT,
        inserted    INTEGER NOT NULL,
        deleted     INTEGER NOT NULL,
        data        BLOB NOT NULL,
        PRIMARY KEY (session_id, seq)
    );
    CREATE INDEX edit_log_by_time ON edit_log (session_id, at);
    INSERT INTO edit_log (session_id, seq, at, author, inserted, deleted, data)
        SELECT session_id, 0, updated_at, NULL, 0, 0, state FROM doc_snapshots;
    INSERT INTO edit_log (session_id, seq, at, author, inserted, deleted, data)
        SELECT l.session_id, l.seq, l.created_at, NULL, 0, 0, l.data FROM doc_log l
        JOIN doc_snapshots s ON s.session_id = l.session_id WHERE l.seq > s.upto;
    """,
    # 11: playback's checkpoints: the document and who wrote what after an edit, so a moment
    # is replayed from the nearest one instead of from the start
    """
    CREATE TABLE edit_checkpoints (
        session_id  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        seq         INTEGER NOT NULL,
        at          INTEGER NOT NULL,
        state       BLOB NOT NULL,
        authorship  TEXT NOT NULL,
        PRIMARY KEY (session_id, seq)
    );
    """,
    # 12: playback's timeline events besides edits (pastes, focus, language, question)
    """
    CREATE TABLE session_events (
        seq             INTEGER PRIMARY KEY,
        session_id      TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        at              INTEGER NOT NULL,
        kind            TEXT NOT NULL,
        participant_id  TEXT,
        data            TEXT NOT NULL
    );
    CREATE INDEX session_events_by_kind ON session_events (session_id, kind, participant_id);
    INSERT INTO session_events (session_id, at, kind, participant_id, data)
        SELECT session_id, attached_at, 'question', NULL, json_object('questionId', question_id)
        FROM session_questions;
    """,
)

LATEST = len(MIGRATIONS)


async def migrate(db: aiosqlite.Connection) -> int:
    """Bring the database to :data:`LATEST`; returns the version it was at."""
    async with db.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    current = int(row[0]) if row else 0
    if current > LATEST:
        raise RuntimeError(f"database schema {current} is newer than this server ({LATEST})")
    for version in range(current + 1, LATEST + 1):
        log.info("migrating database to schema %s", version)
        step = MIGRATIONS[version - 1]
        await db.executescript(
            f"BEGIN IMMEDIATE;\n{step}\nPRAGMA user_version = {version};\nCOMMIT;"
        )
    return current
