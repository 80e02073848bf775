"""The storage Protocols on PostgreSQL through asyncpg.

Several server processes may share one database, so what SQLite gets from having one writer
comes from row locks here: every transaction that numbers something of a session (its log
entries, participants, history, notes) first locks the session's row (``FOR NO KEY UPDATE``,
which foreign-key checks do not wait for), and deleting a session waits for them. Every
driver error leaves this module as :class:`~storage.errors.StorageUnavailable`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import urlsplit, urlunsplit

import asyncpg

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

from .base import CLAIM_MS, EVENTS_KEPT, PRESENCE_KEPT
from .errors import (
    DuplicateSessionId,
    ParticipantExists,
    SessionFullError,
    SessionGone,
    StorageError,
    StorageUnavailable,
)
from .pg_schema import migrate
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

log = logging.getLogger(__name__)

#: A connection lent by the pool (generic only in asyncpg-stubs).
Connection: TypeAlias = "PoolConnectionProxy[asyncpg.Record]"

_PARTICIPANT_COLUMNS = "id, name, role, color, joined_at, is_online"
_QUESTION_COLUMNS = "id, created_at, updated_at, difficulty, body"
_SESSION_COLUMNS = (
    "id, created_at, updated_at, expires_at, creator_id, candidate_invite, observer_invite,"
    " started_at, ended_at, duration_ms"
)
#: Locks the sessions ``$1`` (an array) names, in one order so two commits cannot deadlock.
_LOCK_SESSIONS = "SELECT id FROM sessions WHERE id = ANY($1::text[]) ORDER BY id FOR NO KEY UPDATE"
#: Seconds a statement may run before the call fails (a stuck database must not hang us).
COMMAND_TIMEOUT = 30.0


def redacted(url: str) -> str:
    """``url`` without its password, for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


@contextmanager
def _driver_errors() -> Iterator[None]:
    """asyncpg's errors, a lost connection and timeouts, as ours."""
    try:
        yield
    except StorageError:
        raise
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
        raise StorageUnavailable(f"database error: {exc}") from exc


def _participant(row: Any) -> ParticipantRecord:
    pid, name, role, color, joined_at, online = row
    return ParticipantRecord(pid, name, role, color, int(joined_at), bool(online))


def _rowcount(status: str) -> int:
    """The row count of a command's status (``DELETE 3``, ``UPDATE 0``)."""
    return int(status.rsplit(" ", 1)[-1])


async def _lock_session(conn: Connection, session_id: str) -> bool:
    """Lock a session's row for this transaction; False when there is no such session."""
    return await conn.fetchval(_LOCK_SESSIONS, [session_id]) is not None


async def _require_session(conn: Connection, session_id: str) -> None:
    if not await _lock_session(conn, session_id):
        raise SessionGone(session_id)


async def _write_events(conn: Connection, events: Sequence[OutboxEvent]) -> None:
    if events:
        await conn.executemany(
            "INSERT INTO webhook_outbox (endpoint, id, type, session_id, body, created_at,"
            " next_at) VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT DO NOTHING",
            [(e.endpoint, e.id, e.type, e.session_id, e.body, e.created_at) for e in events],
        )


async def _insert_session_events(conn: Connection, events: Sequence[SessionEvent]) -> None:
    for sid in sorted({e.session_id for e in events}):
        await _lock_session(conn, sid)  # the quota is counted, then filled, by one at a time
    await conn.executemany(
        "INSERT INTO session_events (session_id, at, kind, participant_id, data)"
        " SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM sessions WHERE id = $1)"
        " AND (SELECT count(*) FROM session_events WHERE session_id = $1 AND kind = $3"
        " AND participant_id IS NOT DISTINCT FROM $4) < $6",
        [(e.session_id, e.at, e.kind, e.participant_id, e.data, EVENTS_KEPT) for e in events],
    )


async def _log_presence(
    conn: Connection, session_id: str, participant_id: str, online: bool, at: int
) -> None:
    await conn.execute(
        "INSERT INTO presence_log (session_id, at, participant_id, online) VALUES ($1, $2, $3, $4)",
        session_id,
        at,
        participant_id,
        online,
    )
    await conn.execute(
        "DELETE FROM presence_log WHERE session_id = $1 AND seq <= (SELECT seq FROM"
        " presence_log WHERE session_id = $1 ORDER BY seq DESC LIMIT 1 OFFSET $2)",
        session_id,
        PRESENCE_KEPT,
    )


#: A group commit in one statement (one round trip, which costs this machine 140 µs of
#: CPU and 220 µs of waiting: a commit of nine statements took 2 ms of CPU). The sessions'
#: rows are locked in id order first (two processes committing the same sessions cannot
#: deadlock), then each row's counters are bumped by what it gets: an UPDATE reads the row
#: as the last commit left it, however long it waited for the lock, so two processes never
#: number an entry twice. Sessions deleted meanwhile have no row and get nothing.
_APPEND = """
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::bytea[], $3::bigint[])
        WITH ORDINALITY AS i (session_id, data, at, n)
), edits AS (
    SELECT * FROM unnest($4::text[], $5::bigint[], $6::text[], $7::bigint[], $8::bigint[],
                         $9::bytea[])
        WITH ORDINALITY AS e (session_id, at, author, inserted, deleted, data, n)
), wanted AS (
    SELECT i.session_id, count(*) AS k, max(i.at) AS latest,
           (SELECT count(*) FROM edits e WHERE e.session_id = i.session_id) AS ek
    FROM input i GROUP BY i.session_id
), locked AS (
    SELECT id FROM sessions WHERE id IN (SELECT session_id FROM wanted)
    ORDER BY id FOR NO KEY UPDATE
), bumped AS (
    UPDATE sessions s SET log_seq = s.log_seq + w.k, edit_seq = s.edit_seq + w.ek,
        updated_at = greatest(s.updated_at, w.latest)
    FROM wanted w WHERE s.id = w.session_id AND s.id IN (SELECT id FROM locked)
    RETURNING s.id, s.log_seq - w.k AS log_base, s.edit_seq - w.ek AS edit_base
), logged AS (
    INSERT INTO doc_log (session_id, seq, data, created_at)
    SELECT i.session_id, b.log_base + row_number() OVER (PARTITION BY i.session_id ORDER BY i.n),
           i.data, i.at
    FROM input i JOIN bumped b ON b.id = i.session_id
    RETURNING session_id, seq
), edited AS (
    INSERT INTO edit_log (session_id, seq, at, author, inserted, deleted, data)
    SELECT e.session_id,
           b.edit_base + row_number() OVER (PARTITION BY e.session_id ORDER BY e.n),
           e.at, e.author, e.inserted, e.deleted, e.data
    FROM edits e JOIN bumped b ON b.id = e.session_id
)
SELECT session_id, min(seq), max(seq) FROM logged GROUP BY session_id
"""


def _append_arguments(updates: Sequence[PendingUpdate]) -> list[list[Any]]:
    """:data:`_APPEND`'s nine arrays: the entries, then their playback edits."""
    edits = [(update.session_id, edit) for update in updates for edit in update.edits]
    return [
        [update.session_id for update in updates],
        [update.data for update in updates],
        [update.at for update in updates],
        [session_id for session_id, _ in edits],
        [edit.at for _, edit in edits],
        [edit.author for _, edit in edits],
        [edit.inserted for _, edit in edits],
        [edit.deleted for _, edit in edits],
        [edit.data for _, edit in edits],
    ]


class PostgresStorage:
    """PostgreSQL-backed storage on a connection pool; ``url`` is a ``postgresql://`` URL."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.pool_size = pool_size
        self._pool: asyncpg.Pool | None = None

    def __repr__(self) -> str:
        return f"PostgresStorage({redacted(self.url)!r})"

    # ------------------------------------------------------------ lifecycle
    async def open(self) -> None:
        with _driver_errors():
            pool = await asyncpg.create_pool(
                self.url,
                min_size=1,
                max_size=self.pool_size,
                command_timeout=COMMAND_TIMEOUT,
                timeout=10,
            )
            try:
                async with pool.acquire() as conn:
                    await migrate(conn)
            except BaseException:
                await pool.close()
                raise
        self._pool = pool
        log.info("storage open: %s", redacted(self.url))

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            with _driver_errors():
                await asyncio.wait_for(pool.close(), 10)
            log.info("storage closed")

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StorageUnavailable("storage is not open")
        return self._pool

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[Connection]:
        """A transaction on a connection of the pool; the body maps its own constraint
        violations to domain errors, anything else the driver raises is StorageUnavailable."""
        with _driver_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                yield conn

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        with _driver_errors():
            return list(await self.pool.fetch(sql, *args))

    async def _fetchrow(self, sql: str, *args: Any) -> Any:
        with _driver_errors():
            return await self.pool.fetchrow(sql, *args)

    async def _execute(self, sql: str, *args: Any) -> str:
        with _driver_errors():
            return str(await self.pool.execute(sql, *args))

    async def ping(self) -> None:
        with _driver_errors():
            await self.pool.fetchval("SELECT 1", timeout=5)

    async def size_bytes(self) -> int:
        """Bytes the database holds on disk (its tables, indexes and their TOAST)."""
        row = await self._fetchrow("SELECT pg_database_size(current_database())")
        return int(row[0])

    async def server_secret(self, name: str, make: Callable[[], str]) -> str:
        async with self._tx() as conn:
            await conn.execute(
                "INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                name,
                make(),
            )
            return str(
                await conn.fetchval("SELECT value FROM server_secrets WHERE name = $1", name)
            )

    # ------------------------------------------------------------ sessions
    async def create_session(
        self,
        session: SessionRecord,
        creator: ParticipantRecord,
        document: bytes,
        outbox: Sequence[OutboxEvent] = (),
    ) -> None:
        async with self._tx() as conn:
            try:
                await conn.execute(
                    "INSERT INTO sessions (id, created_at, updated_at, expires_at, creator_id)"
                    " VALUES ($1, $2, $3, $4, $5)",
                    session.id,
                    session.created_at,
                    session.updated_at,
                    session.expires_at,
                    session.creator_id,
                )
            except asyncpg.UniqueViolationError as exc:
                raise DuplicateSessionId(session.id) from exc
            await self._insert_participant(conn, session.id, creator, 0)
            await conn.execute(
                "INSERT INTO doc_snapshots (session_id, state, updated_at, upto)"
                " VALUES ($1, $2, $3, 0)",
                session.id,
                document,
                session.created_at,
            )
            await conn.execute(  # playback starts from the document as it was created
                "INSERT INTO edit_log (session_id, seq, at, author, inserted, deleted, data)"
                " VALUES ($1, 0, $2, NULL, 0, 0, $3)",
                session.id,
                session.created_at,
                document,
            )
            await _write_events(conn, outbox)

    async def get_session(self, session_id: str) -> SessionRecord | None:
        row = await self._fetchrow(
            f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE id = $1", session_id
        )
        return SessionRecord(*row) if row else None

    async def rotate_invite(self, session_id: str, role: str) -> int:
        column = {"candidate": "candidate_invite", "observer": "observer_invite"}[role]
        row = await self._fetchrow(
            f"UPDATE sessions SET {column} = {column} + 1 WHERE id = $1 RETURNING {column}",
            session_id,
        )
        if row is None:
            raise SessionGone(session_id)
        return int(row[0])

    async def touch_session(self, session_id: str, at: int) -> None:
        await self._execute(
            "UPDATE sessions SET updated_at = greatest(updated_at, $1) WHERE id = $2",
            at,
            session_id,
        )

    async def delete_session(self, session_id: str, outbox: Sequence[OutboxEvent] = ()) -> bool:
        """Delete a session and all it owns; ``outbox`` is stored only if it existed."""
        async with self._tx() as conn:
            gone = _rowcount(await conn.execute("DELETE FROM sessions WHERE id = $1", session_id))
            if gone:
                await conn.execute("DELETE FROM webhook_pending WHERE session_id = $1", session_id)
                await _write_events(conn, outbox)
            return gone > 0

    async def expired_sessions(self, now: int) -> list[str]:
        rows = await self._fetch("SELECT id FROM sessions WHERE expires_at <= $1", now)
        return [str(r[0]) for r in rows]

    async def start_session(
        self, session_id: str, at: int, duration_ms: int | None, outbox: Sequence[OutboxEvent] = ()
    ) -> bool:
        async with self._tx() as conn:
            status = await conn.execute(
                "UPDATE sessions SET started_at = $1, duration_ms = $2 WHERE id = $3"
                " AND started_at IS NULL AND ended_at IS NULL",
                at,
                duration_ms,
                session_id,
            )
            if _rowcount(status):
                await _write_events(conn, outbox)
            return _rowcount(status) > 0

    async def end_session(
        self, session_id: str, at: int, outbox: Sequence[OutboxEvent] = ()
    ) -> bool:
        async with self._tx() as conn:
            status = await conn.execute(
                "UPDATE sessions SET ended_at = $1 WHERE id = $2 AND ended_at IS NULL",
                at,
                session_id,
            )
            if _rowcount(status):
                await _write_events(conn, outbox)
            return _rowcount(status) > 0

    # ------------------------------------------------------------ participants
    @staticmethod
    async def _insert_participant(
        conn: Connection, session_id: str, p: ParticipantRecord, position: int
    ) -> None:
        await conn.execute(
            "INSERT INTO participants (session_id, id, name, role, color, joined_at, is_online,"
            " position) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            session_id,
            p.id,
            p.name,
            p.role,
            p.color,
            p.joined_at,
            p.is_online,
            position,
        )

    async def list_participants(self, session_id: str) -> list[ParticipantRecord]:
        rows = await self._fetch(
            f"SELECT {_PARTICIPANT_COLUMNS} FROM participants WHERE session_id = $1"
            " ORDER BY position",
            session_id,
        )
        return [_participant(r) for r in rows]

    async def get_participant(
        self, session_id: str, participant_id: str
    ) -> ParticipantRecord | None:
        row = await self._fetchrow(
            f"SELECT {_PARTICIPANT_COLUMNS} FROM participants WHERE session_id = $1 AND id = $2",
            session_id,
            participant_id,
        )
        return _participant(row) if row else None

    async def add_participant(
        self, session_id: str, participant: ParticipantRecord, cap: int
    ) -> None:
        """The cap holds across processes: the session's row is locked while counting."""
        async with self._tx() as conn:
            await _require_session(conn, session_id)
            count, last, same = await conn.fetchrow(  # type: ignore[misc]
                "SELECT count(*), coalesce(max(position), -1), count(*) FILTER (WHERE id = $2)"
                " FROM participants WHERE session_id = $1",
                session_id,
                participant.id,
            )
            if same:
                raise ParticipantExists(participant.id)
            if count >= cap:
                raise SessionFullError(session_id)
            await self._insert_participant(conn, session_id, participant, int(last) + 1)
            await conn.execute(
                "UPDATE sessions SET updated_at = greatest(updated_at, $1) WHERE id = $2",
                participant.joined_at,
                session_id,
            )

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
        changes: dict[str, Any] = {"name": name, "color": color, "role": role}
        changes["is_online"] = is_online
        sets = {k: v for k, v in changes.items() if v is not None}
        async with self._tx() as conn:
            if not await _lock_session(conn, session_id):  # before the participant's row
                return None
            if sets:
                assignments = ", ".join(f"{col} = ${i}" for i, col in enumerate(sets, start=3))
                row = await conn.fetchrow(
                    f"UPDATE participants SET {assignments} WHERE session_id = $1 AND id = $2"
                    f" RETURNING {_PARTICIPANT_COLUMNS}",
                    session_id,
                    participant_id,
                    *sets.values(),
                )
            else:
                row = await conn.fetchrow(
                    f"SELECT {_PARTICIPANT_COLUMNS} FROM participants"
                    " WHERE session_id = $1 AND id = $2",
                    session_id,
                    participant_id,
                )
            if row is not None:
                await _write_events(conn, outbox)
                if is_online is not None and at is not None:
                    await _log_presence(conn, session_id, participant_id, is_online, at)
        return _participant(row) if row else None

    async def flip_online(
        self,
        session_id: str,
        participant_id: str,
        online: bool,
        at: int,
        outbox: Sequence[OutboxEvent] = (),
    ) -> ParticipantRecord | None:
        async with self._tx() as conn:
            # the session's row first, as deleting the session takes it (then the
            # participants): taken the other way round, the two would deadlock
            if not await _lock_session(conn, session_id):
                return None
            row = await conn.fetchrow(
                f"UPDATE participants SET is_online = $3 WHERE session_id = $1 AND id = $2"
                f" AND is_online != $3 RETURNING {_PARTICIPANT_COLUMNS}",
                session_id,
                participant_id,
                online,
            )
            if row is not None:
                await _write_events(conn, outbox)
                await _log_presence(conn, session_id, participant_id, online, at)
        return _participant(row) if row else None

    async def delete_participant(self, session_id: str, participant_id: str) -> bool:
        status = await self._execute(
            "DELETE FROM participants WHERE session_id = $1 AND id = $2",
            session_id,
            participant_id,
        )
        return _rowcount(status) > 0

    async def online_participants(self) -> list[tuple[str, ParticipantRecord]]:
        rows = await self._fetch(
            f"SELECT session_id, {_PARTICIPANT_COLUMNS} FROM participants WHERE is_online"
        )
        return [(str(row[0]), _participant(row[1:])) for row in rows]

    async def set_all_offline(self, at: int, outbox: Sequence[OutboxEvent] = ()) -> None:
        async with self._tx() as conn:
            await conn.execute(
                "INSERT INTO presence_log (session_id, at, participant_id, online)"
                " SELECT session_id, $1, id, FALSE FROM participants WHERE is_online",
                at,
            )
            await conn.execute("UPDATE participants SET is_online = FALSE WHERE is_online")
            await _write_events(conn, outbox)

    async def list_presence(self, session_id: str) -> list[PresenceRecord]:
        rows = await self._fetch(
            "SELECT at, participant_id, online FROM presence_log WHERE session_id = $1"
            " ORDER BY seq",
            session_id,
        )
        return [PresenceRecord(int(at), str(pid), bool(online)) for at, pid, online in rows]

    # ------------------------------------------------------------ documents
    async def load_document(self, session_id: str) -> StoredDocument:
        """The snapshot and the whole tail after it, read in one snapshot of the database."""
        return await self.document_since(session_id, -1)

    async def document_since(self, session_id: str, after_seq: int) -> StoredDocument:
        with _driver_errors():
            async with self.pool.acquire() as conn:
                async with conn.transaction(isolation="repeatable_read", readonly=True):
                    row = await conn.fetchrow(
                        "SELECT upto, CASE WHEN upto > $2 THEN state END FROM doc_snapshots"
                        " WHERE session_id = $1",
                        session_id,
                        after_seq,
                    )
                    upto = int(row[0]) if row else 0
                    tail = await conn.fetch(
                        "SELECT seq, data FROM doc_log WHERE session_id = $1 AND seq > $2"
                        " ORDER BY seq",
                        session_id,
                        max(upto, after_seq),
                    )
                    ended = await conn.fetchval(
                        "SELECT ended_at IS NOT NULL FROM sessions WHERE id = $1", session_id
                    )
        return StoredDocument(
            None if row is None or row[1] is None else bytes(row[1]),
            [bytes(data) for _, data in tail],
            upto=upto,
            last_seq=int(tail[-1][0]) if tail else max(upto, after_seq),
            ended=bool(ended),
        )

    async def log_heads(self, session_ids: Sequence[str]) -> dict[str, tuple[int, bool]]:
        rows = await self._fetch(
            "SELECT id, log_seq, ended_at IS NOT NULL FROM sessions WHERE id = ANY($1::text[])",
            list(session_ids),
        )
        return {str(sid): (int(last), bool(ended)) for sid, last, ended in rows}

    async def append_updates(
        self,
        updates: Sequence[PendingUpdate],
        outbox: Sequence[OutboxEvent] = (),
        pending: Sequence[tuple[str, int]] = (),
    ) -> dict[str, Appended]:
        """One group commit, numbering each session's entries after its newest one (see
        :data:`_APPEND`): one statement, in a transaction of its own only when webhook
        events or pending code changes go with it."""
        if not updates:
            return {}
        arguments = _append_arguments(updates)
        if not outbox and not pending:
            rows = await self._fetch(_APPEND, *arguments)
            return {str(sid): Appended(int(first), int(last)) for sid, first, last in rows}
        async with self._tx() as conn:
            rows = await conn.fetch(_APPEND, *arguments)
            appended = {str(sid): Appended(int(first), int(last)) for sid, first, last in rows}
            due = [row for row in pending if row[0] in appended]
            if due:
                await conn.executemany(
                    "INSERT INTO webhook_pending (session_id, due_at) VALUES ($1, $2)"
                    " ON CONFLICT DO NOTHING",
                    due,
                )
            await _write_events(conn, [e for e in outbox if e.session_id in appended])
        return appended

    async def compact(self, session_id: str, snapshot: bytes, upto: int) -> None:
        """Idempotent, and one process at a time per session (an advisory lock)."""
        async with self._tx() as conn:
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", session_id)
            await conn.execute(
                "INSERT INTO doc_snapshots (session_id, state, updated_at, upto)"
                " SELECT $1, $2, updated_at, $3 FROM sessions WHERE id = $1"
                " ON CONFLICT (session_id) DO UPDATE SET state = excluded.state,"
                " updated_at = excluded.updated_at, upto = excluded.upto"
                " WHERE excluded.upto >= doc_snapshots.upto",
                session_id,
                snapshot,
                upto,
            )
            await conn.execute(
                "DELETE FROM doc_log WHERE session_id = $1 AND seq <= $2", session_id, upto
            )

    async def add_events(self, events: Sequence[SessionEvent]) -> None:
        if events:
            async with self._tx() as conn:
                await _insert_session_events(conn, events)

    # ------------------------------------------------------------ playback
    async def list_edits(
        self, session_id: str, to_ms: int, after_seq: int = -1, limit: int = 1000, from_ms: int = 0
    ) -> list[tuple[int, Edit]]:
        rows = await self._fetch(
            "SELECT seq, at, author, inserted, deleted, data FROM edit_log WHERE session_id = $1"
            " AND seq > $2 AND at BETWEEN $3 AND $4 ORDER BY seq LIMIT $5",
            session_id,
            after_seq,
            from_ms,
            to_ms,
            limit,
        )
        return [
            (int(seq), Edit(int(at), author, int(ins), int(dels), bytes(data)))
            for seq, at, author, ins, dels, data in rows
        ]

    async def add_checkpoint(self, session_id: str, checkpoint: Checkpoint) -> None:
        c = checkpoint
        await self._execute(
            "INSERT INTO edit_checkpoints (session_id, seq, at, state, authorship)"
            " SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM sessions WHERE id = $1)"
            " ON CONFLICT DO NOTHING",
            session_id,
            c.seq,
            c.at,
            c.state,
            c.authorship,
        )

    async def checkpoint_before(self, session_id: str, at: int | None) -> Checkpoint | None:
        row = await self._fetchrow(
            "SELECT seq, at, state, authorship FROM edit_checkpoints WHERE session_id = $1"
            " AND at <= $2 ORDER BY seq DESC LIMIT 1",
            session_id,
            2**62 if at is None else at,
        )
        return None if row is None else Checkpoint(int(row[0]), int(row[1]), bytes(row[2]),
                                                   str(row[3]))  # fmt: skip

    async def list_events(self, session_id: str, limit: int) -> list[SessionEvent]:
        rows = await self._fetch(
            "SELECT at, kind, participant_id, data FROM session_events WHERE session_id = $1"
            " ORDER BY seq LIMIT $2",
            session_id,
            limit,
        )
        return [SessionEvent(session_id, int(at), str(kind), pid, str(data))
                for at, kind, pid, data in rows]  # fmt: skip

    async def edit_totals(self, session_id: str) -> list[tuple[str | None, int, int]]:
        rows = await self._fetch(
            "SELECT author, count(*), sum(inserted) FROM edit_log WHERE session_id = $1"
            " AND seq > 0 AND (inserted > 0 OR deleted > 0) GROUP BY author",
            session_id,
        )
        return [(author, int(entries), int(chars)) for author, entries, chars in rows]

    async def idle_gaps(self, session_id: str, min_ms: int, limit: int) -> list[tuple[int, int]]:
        rows = await self._fetch(
            "SELECT prev, at FROM (SELECT at, lag(at) OVER (ORDER BY seq) AS prev"
            " FROM edit_log WHERE session_id = $1 AND seq > 0 AND (inserted > 0 OR deleted > 0))"
            " AS changes WHERE at - prev >= $2 ORDER BY at LIMIT $3",
            session_id,
            min_ms,
            limit,
        )
        return [(int(prev), int(at)) for prev, at in rows]

    async def bursts(self, session_id: str, gap_ms: int, limit: int) -> list[Burst]:
        # gaps and islands, as in SQLite's: an entry more than gap_ms after its author's
        # previous one starts a burst; a running sum of those starts numbers the bursts
        rows = await self._fetch(
            "SELECT author, min(at), max(at), count(*) FROM ("
            " SELECT author, at, sum(fresh) OVER (PARTITION BY author ORDER BY seq) AS burst"
            " FROM (SELECT seq, author, at, CASE WHEN at - lag(at) OVER"
            " (PARTITION BY author ORDER BY seq) <= $1 THEN 0 ELSE 1 END AS fresh"
            " FROM edit_log WHERE session_id = $2 AND seq > 0 AND (inserted > 0 OR deleted > 0))"
            " AS starts) AS numbered GROUP BY author, burst ORDER BY min(at) LIMIT $3",
            gap_ms,
            session_id,
            limit,
        )
        return [Burst(author, int(first), int(last), int(n)) for author, first, last, n in rows]

    # ------------------------------------------------------------ webhooks
    async def enqueue_events(self, events: Sequence[OutboxEvent]) -> None:
        async with self._tx() as conn:
            await _write_events(conn, events)

    async def due_events(self, endpoint: str, now: int, limit: int) -> list[OutboxEvent]:
        rows = await self._fetch(  # SKIP LOCKED: two processes claiming at once split them
            "UPDATE webhook_outbox o SET next_at = $4 FROM (SELECT endpoint, id FROM"
            " webhook_outbox WHERE endpoint = $1 AND NOT given_up AND next_at <= $2"
            " ORDER BY created_at, ord LIMIT $3 FOR UPDATE SKIP LOCKED) AS due"
            " WHERE o.endpoint = due.endpoint AND o.id = due.id RETURNING o.created_at, o.ord,"
            " o.endpoint, o.id, o.type, o.session_id, o.body, o.created_at, o.attempts,"
            " o.first_failed_at",
            endpoint,
            now,
            limit,
            now + CLAIM_MS,
        )
        return [OutboxEvent(*row[2:]) for row in sorted(rows, key=lambda row: (row[0], row[1]))]

    async def event_delivered(self, endpoint: str, event_id: str) -> None:
        await self._execute(
            "DELETE FROM webhook_outbox WHERE endpoint = $1 AND id = $2", endpoint, event_id
        )

    async def event_failed(
        self, event: OutboxEvent, next_at: int, error: str, *, give_up: bool
    ) -> None:
        await self._execute(
            "UPDATE webhook_outbox SET attempts = $1, first_failed_at = $2, next_at = $3,"
            " last_error = $4, given_up = $5 WHERE endpoint = $6 AND id = $7",
            event.attempts,
            event.first_failed_at,
            next_at,
            error[:500],
            give_up,
            event.endpoint,
            event.id,
        )

    async def due_code_changes(self, now: int) -> list[tuple[str, int]]:
        rows = await self._fetch(
            "SELECT session_id, due_at FROM webhook_pending WHERE due_at <= $1 ORDER BY due_at",
            now,
        )
        return [(str(sid), int(due)) for sid, due in rows]

    async def code_changes_sent(
        self, sent: Sequence[tuple[str, int]], outbox: Sequence[OutboxEvent]
    ) -> None:
        """Turn pending code changes into their events, once: a row already taken (by
        another process, or deleted with its session) yields none."""
        async with self._tx() as conn:
            for session_id, due_at in sent:
                status = await conn.execute(
                    "DELETE FROM webhook_pending WHERE session_id = $1 AND due_at = $2",
                    session_id,
                    due_at,
                )
                if _rowcount(status):
                    await _write_events(conn, [e for e in outbox if e.session_id == session_id])

    # ------------------------------------------------------------ questions
    async def create_question(self, question: QuestionRecord) -> None:
        await self._execute(
            "INSERT INTO questions (id, created_at, updated_at, difficulty, body)"
            " VALUES ($1, $2, $3, $4, $5)",
            question.id,
            question.created_at,
            question.updated_at,
            question.difficulty,
            question.body,
        )

    async def get_question(self, question_id: str) -> QuestionRecord | None:
        row = await self._fetchrow(
            f"SELECT {_QUESTION_COLUMNS} FROM questions WHERE id = $1", question_id
        )
        return QuestionRecord(*row) if row else None

    async def replace_question(self, question: QuestionRecord) -> bool:
        status = await self._execute(
            "UPDATE questions SET updated_at = $1, difficulty = $2, body = $3 WHERE id = $4",
            question.updated_at,
            question.difficulty,
            question.body,
            question.id,
        )
        return _rowcount(status) > 0

    async def delete_question(self, question_id: str) -> bool:
        status = await self._execute("DELETE FROM questions WHERE id = $1", question_id)
        return _rowcount(status) > 0

    async def list_questions(
        self, where: QuestionFilter, limit: int, offset: int
    ) -> tuple[list[QuestionRecord], int]:
        clauses, params = ["TRUE"], list[Any]()
        if where.difficulty is not None:
            params.append(where.difficulty)
            clauses.append(f"difficulty = ${len(params)}")
        for key, value in (("tags", where.tag), ("languages", where.language)):
            if value is not None:
                params.append(value)
                clauses.append(f"body::jsonb -> '{key}' ? ${len(params)}")
        condition = " AND ".join(clauses)
        n = len(params)
        with _driver_errors():
            async with self.pool.acquire() as conn:
                async with conn.transaction(isolation="repeatable_read", readonly=True):
                    total = await conn.fetchval(
                        f"SELECT count(*) FROM questions WHERE {condition}", *params
                    )
                    rows = await conn.fetch(
                        f"SELECT {_QUESTION_COLUMNS} FROM questions WHERE {condition}"
                        f" ORDER BY created_at, ord LIMIT ${n + 1} OFFSET ${n + 2}",
                        *params,
                        limit,
                        offset,
                    )
        return [QuestionRecord(*row) for row in rows], int(total)

    async def attach_question(
        self, session_id: str, question: QuestionRecord, at: int, by: str | None = None
    ) -> None:
        async with self._tx() as conn:
            await _require_session(conn, session_id)
            await conn.execute(
                "INSERT INTO session_questions (session_id, question_id, attached_at, body)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (session_id) DO UPDATE SET"
                " question_id = excluded.question_id, attached_at = excluded.attached_at,"
                " body = excluded.body",
                session_id,
                question.id,
                at,
                question.body,
            )
            event = SessionEvent(
                session_id, at, "question", by, json.dumps({"questionId": question.id})
            )
            await _insert_session_events(conn, [event])

    async def session_question(self, session_id: str) -> QuestionRecord | None:
        row = await self._fetchrow(
            "SELECT q.question_id, s.created_at, q.attached_at, '', q.body"
            " FROM session_questions q JOIN sessions s ON s.id = q.session_id"
            " WHERE q.session_id = $1",
            session_id,
        )
        return QuestionRecord(*row) if row else None

    # ------------------------------------------------------------ notes and scorecards
    async def get_notes(self, session_id: str) -> NotesRecord | None:
        row = await self._fetchrow(
            "SELECT notes, version, updated_at, updated_by FROM session_notes"
            " WHERE session_id = $1",
            session_id,
        )
        return NotesRecord(*row) if row else None

    async def put_notes(
        self, session_id: str, notes: str, at: int, by: str | None, base_version: int | None
    ) -> NotesRecord | None:
        async with self._tx() as conn:
            await _require_session(conn, session_id)
            current = await conn.fetchval(
                "SELECT version FROM session_notes WHERE session_id = $1", session_id
            )
            current = int(current or 0)
            if base_version is not None and base_version != current:
                return None
            await conn.execute(
                "INSERT INTO session_notes (session_id, notes, version, updated_at, updated_by)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (session_id) DO UPDATE SET"
                " notes = excluded.notes, version = excluded.version,"
                " updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                session_id,
                notes,
                current + 1,
                at,
                by,
            )
        return NotesRecord(notes, current + 1, at, by)

    async def put_scorecard(
        self, session_id: str, scorecard: ScorecardRecord, outbox: Sequence[OutboxEvent] = ()
    ) -> None:
        async with self._tx() as conn:
            await _require_session(conn, session_id)
            await conn.execute(
                "INSERT INTO scorecards (session_id, interviewer_id, body, submitted_at)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (session_id, interviewer_id) DO UPDATE"
                " SET body = excluded.body, submitted_at = excluded.submitted_at",
                session_id,
                scorecard.interviewer_id,
                scorecard.body,
                scorecard.submitted_at,
            )
            await _write_events(conn, outbox)

    async def list_scorecards(self, session_id: str) -> list[ScorecardRecord]:
        rows = await self._fetch(
            "SELECT interviewer_id, body, submitted_at FROM scorecards WHERE session_id = $1"
            " ORDER BY submitted_at, ord",
            session_id,
        )
        return [ScorecardRecord(*row) for row in rows]

    async def add_test_run(
        self, session_id: str, run_id: str, at: int, body: str, keep: int
    ) -> None:
        async with self._tx() as conn:
            await _require_session(conn, session_id)
            await conn.execute(
                "INSERT INTO test_runs (session_id, id, at, body) VALUES ($1, $2, $3, $4)",
                session_id,
                run_id,
                at,
                body,
            )
            await conn.execute(
                "DELETE FROM test_runs WHERE session_id = $1 AND ord NOT IN (SELECT ord"
                " FROM test_runs WHERE session_id = $1 ORDER BY at DESC, ord DESC LIMIT $2)",
                session_id,
                keep,
            )

    async def list_test_runs(self, session_id: str) -> list[str]:
        rows = await self._fetch(
            "SELECT body FROM test_runs WHERE session_id = $1 ORDER BY at, ord", session_id
        )
        return [str(row[0]) for row in rows]

    # ------------------------------------------------------------ history
    async def add_history(self, session_id: str, at: int, code: str, language: str) -> int:
        """A new snapshot, unless the latest one holds the same code: then its number."""
        async with self._tx() as conn:
            await _require_session(conn, session_id)
            row = await conn.fetchrow(
                "SELECT n, code = $1 AND language = $2 FROM history WHERE session_id = $3"
                " ORDER BY n DESC LIMIT 1",
                code,
                language,
                session_id,
            )
            if row is not None and row[1]:
                return int(row[0])  # nothing changed since: no second copy of the text
            n = int(row[0]) + 1 if row else 1
            await conn.execute(
                "INSERT INTO history (session_id, n, at, code, language)"
                " VALUES ($1, $2, $3, $4, $5)",
                session_id,
                n,
                at,
                code,
                language,
            )
        return n

    async def list_history(self, session_id: str) -> list[HistoryEntry]:
        rows = await self._fetch(
            "SELECT n, at, octet_length(code), '', language FROM history"
            " WHERE session_id = $1 ORDER BY n",
            session_id,
        )
        return [HistoryEntry(*r) for r in rows]

    async def get_history(self, session_id: str, n: int) -> HistoryEntry | None:
        row = await self._fetchrow(
            "SELECT n, at, octet_length(code), code, language FROM history"
            " WHERE session_id = $1 AND n = $2",
            session_id,
            n,
        )
        return HistoryEntry(*row) if row else None
