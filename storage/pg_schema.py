"""PostgreSQL's schema migrations, applied in order and recorded in ``schema_version``.

PostgreSQL came after SQLite's twelve steps, so its step 1 is their result. Several processes
may start at once: each migrates under one advisory lock, so exactly one applies a step and
the others find it applied. Append a new step to :data:`MIGRATIONS`; never edit one that has
shipped.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncpg
    from asyncpg.pool import PoolConnectionProxy

log = logging.getLogger(__name__)

#: The advisory lock key migrations hold (any constant the service uses nowhere else).
MIGRATION_LOCK = 0x636F6465_0001

MIGRATIONS: tuple[str, ...] = (
    # 1: everything SQLite's schema 12 holds. Where SQLite orders by its rowid, a table has
    # an identity column `ord` instead; times are milliseconds, as everywhere.
    """
    CREATE TABLE sessions (
        id                TEXT PRIMARY KEY,
        created_at        BIGINT NOT NULL,
        updated_at        BIGINT NOT NULL,
        expires_at        BIGINT NOT NULL,
        creator_id        TEXT NOT NULL,
        candidate_invite  INTEGER NOT NULL DEFAULT 1,
        observer_invite   INTEGER NOT NULL DEFAULT 1,
        started_at        BIGINT,
        ended_at          BIGINT,
        duration_ms       BIGINT
    );
    CREATE INDEX sessions_expires_at ON sessions (expires_at);

    CREATE TABLE participants (
        session_id  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        id          TEXT NOT NULL,
        name        TEXT NOT NULL,
        role        TEXT NOT NULL CHECK (role IN ('interviewer', 'candidate', 'observer')),
        color       TEXT NOT NULL,
        joined_at   BIGINT NOT NULL,
        is_online   BOOLEAN NOT NULL DEFAULT FALSE,
        position    INTEGER NOT NULL,
        PRIMARY KEY (session_id, id)
    );
    CREATE INDEX participants_online ON participants (is_online) WHERE is_online;

    CREATE TABLE doc_snapshots (
        session_id  TEXT PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
        state       BYTEA NOT NULL,
        updated_at  BIGINT NOT NULL,
        upto        BIGINT NOT NULL DEFAULT 0
    );

    CREATE TABLE doc_log (
        session_id  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        seq         BIGINT NOT NULL,
        data        BYTEA NOT NULL,
        created_at  BIGINT NOT NULL,
        PRIMARY KEY (session_id, seq)
    );

    CREATE TABLE history (
        session_id  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        n           INTEGER NOT NULL,
        at          BIGINT NOT NULL,
        code        TEXT NOT NULL,
        language    TEXT NOT NULL,
        PRIMARY KEY (session_id, n)
    );

    CREATE TABLE server_secrets (
        name   TEXT PRIMARY KEY,
        value  TEXT NOT NULL
    );

    CREATE TABLE webhook_outbox (
        ord             BIGINT GENERATED ALWAYS AS IDENTITY,
        endpoint        TEXT NOT NULL,
        id              TEXT NOT NULL,
        type            TEXT NOT NULL,
        session_id      TEXT,
        body            TEXT NOT NULL,
        created_at      BIGINT NOT NULL,
        next_at         BIGINT NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        first_failed_at BIGINT,
        last_error      TEXT,
        given_up        BOOLEAN NOT NULL DEFAULT FALSE,
        PRIMARY KEY (endpoint, id)
    );
    CREATE INDEX webhook_outbox_due ON webhook_outbox (endpoint, given_up, next_at);
    CREATE TABLE webhook_pending (
        session_id  TEXT PRIMARY KEY,
        due_at      BIGINT NOT NULL
    );

    CREATE TABLE questions (
        ord         BIGINT GENERATED ALWAYS AS IDENTITY,
        id          TEXT PRIMARY KEY,
        created_at  BIGINT NOT NULL,
        updated_at  BIGINT NOT NULL,
        difficulty  TEXT NOT NULL,
        body        TEXT NOT NULL
    );
    CREATE INDEX questions_created ON questions (created_at, ord);
    CREATE TABLE session_questions (
        session_id  TEXT PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
        question_id TEXT NOT NULL,
        attached_at BIGINT NOT NULL,
        body        TEXT NOT NULL
    );

    CREATE TABLE session_notes (
        session_id  TEXT PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
        notes       TEXT NOT NULL,
        version     INTEGER NOT NULL,
        updated_at  BIGINT NOT NULL,
        updated_by  TEXT
    );
    CREATE TABLE scorecards (
        ord             BIGINT GENERATED ALWAYS AS IDENTITY,
        session_id      TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        interviewer_id  TEXT NOT NULL,
        body            TEXT NOT NULL,
        submitted_at    BIGINT NOT NULL,
        PRIMARY KEY (session_id, interviewer_id)
    );

    CREATE TABLE test_runs (
        ord         BIGINT GENERATED ALWAYS AS IDENTITY,
        session_id  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        id          TEXT NOT NULL,
        at          BIGINT NOT NULL,
        body        TEXT NOT NULL,
        PRIMARY KEY (session_id, id)
    );

    CREATE TABLE presence_log (
        seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        session_id      TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        at              BIGINT NOT NULL,
        participant_id  TEXT NOT NULL,
        online          BOOLEAN NOT NULL
    );
    CREATE INDEX presence_log_by_session ON presence_log (session_id, seq);

    CREATE TABLE edit_log (
        session_id  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        seq         BIGINT NOT NULL,
        at          BIGINT NOT NULL,
        author      TEXT,
        inserted    BIGINT NOT NULL,
        deleted     BIGINT NOT NULL,
        data        BYTEA NOT NULL,
        PRIMARY KEY (session_id, seq)
    );
    CREATE INDEX edit_log_by_time ON edit_log (session_id, at);

    CREATE TABLE edit_checkpoints (
        session_id  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        seq         BIGINT NOT NULL,
        at          BIGINT NOT NULL,
        state       BYTEA NOT NULL,
        authorship  TEXT NOT NULL,
        PRIMARY KEY (session_id, seq)
    );

    CREATE TABLE session_events (
        seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        session_id      TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        at              BIGINT NOT NULL,
        kind            TEXT NOT NULL,
        participant_id  TEXT,
        data            TEXT NOT NULL
    );
    CREATE INDEX session_events_by_kind ON session_events (session_id, kind, participant_id);
    """,
    # 2: each session's newest log and playback entry numbers, kept on its row, so a group
    # commit numbers its entries in the statement that locks the row (one round trip)
    """
    ALTER TABLE sessions ADD COLUMN log_seq BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN edit_seq BIGINT NOT NULL DEFAULT 0;
    UPDATE sessions s SET
        log_seq = greatest(
            coalesce((SELECT max(seq) FROM doc_log WHERE session_id = s.id), 0),
            coalesce((SELECT upto FROM doc_snapshots WHERE session_id = s.id), 0)),
        edit_seq = coalesce((SELECT max(seq) FROM edit_log WHERE session_id = s.id), 0);
    """,
)

LATEST = len(MIGRATIONS)


async def migrate(conn: PoolConnectionProxy[asyncpg.Record]) -> int:
    """Bring the database to :data:`LATEST`; returns the version it was at. Safe when several
    processes call it at once: the advisory lock lets one in at a time."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        current = await conn.fetchval("SELECT max(version) FROM schema_version") or 0
        if current > LATEST:
            raise RuntimeError(f"database schema {current} is newer than this server ({LATEST})")
        for version in range(current + 1, LATEST + 1):
            log.info("migrating database to schema %s", version)
            await conn.execute(MIGRATIONS[version - 1])
            await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", version)
    return int(current)
