"""The storage Protocols on SQLite through aiosqlite.

One connection is the single writer: WAL, foreign keys on, explicit
``BEGIN IMMEDIATE`` transactions. A lock keeps one coroutine's statements
from landing inside another's transaction on the shared connection. Every
driver error leaves this module as :class:`~storage.errors.StorageUnavailable`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar, cast

import aiosqlite

from .base import CLAIM_MS, EVENTS_KEPT, PRESENCE_KEPT
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
from .schema import migrate

log = logging.getLogger(__name__)
_T = TypeVar("_T")

_PARTICIPANT_COLUMNS = "id, name, role, color, joined_at, is_online"
_QUESTION_COLUMNS = "id, created_at, updated_at, difficulty, body"


async def _log_presence(
    db: aiosqlite.Connection, session_id: str, participant_id: str, online: bool, at: int
) -> None:
    await db.execute(
        "INSERT INTO presence_log (session_id, at, participant_id, online) VALUES (?, ?, ?, ?)",
        (session_id, at, participant_id, int(online)),
    )
    await db.execute(
        "DELETE FROM presence_log WHERE session_id = ? AND seq <= (SELECT seq FROM presence_log"
        " WHERE session_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)",
        (session_id, session_id, PRESENCE_KEPT),
    )


async def _insert_session_events(db: aiosqlite.Connection, events: Sequence[SessionEvent]) -> None:
    await db.executemany(
        "INSERT INTO session_events (session_id, at, kind, participant_id, data)"
        " SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM sessions WHERE id = ?)"
        " AND (SELECT count(*) FROM session_events WHERE session_id = ? AND kind = ?"
        " AND participant_id IS ?) < ?",
        [
            (
                e.session_id,
                e.at,
                e.kind,
                e.participant_id,
                e.data,
                e.session_id,
                e.session_id,
                e.kind,
                e.participant_id,
                EVENTS_KEPT,
            )
            for e in events
        ],  # fmt: skip
    )


def _write_events(conn: sqlite3.Connection, events: Sequence[OutboxEvent]) -> None:
    conn.executemany(
        "INSERT INTO webhook_outbox (endpoint, id, type, session_id, body, created_at, next_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [
            (e.endpoint, e.id, e.type, e.session_id, e.body, e.created_at, e.created_at)
            for e in events
        ],
    )


async def _insert_events(db: aiosqlite.Connection, events: Sequence[OutboxEvent]) -> None:
    if events:
        await _in_thread(db, _write_events, events)


async def _require_session(db: aiosqlite.Connection, session_id: str) -> None:
    """SessionGone unless the session exists (inside the caller's transaction)."""
    if await _row(db, "SELECT 1 FROM sessions WHERE id = ?", (session_id,)) is None:
        raise SessionGone(session_id)


def _participant(row: Iterable[Any]) -> ParticipantRecord:
    pid, name, role, color, joined_at, online = row
    return ParticipantRecord(pid, name, role, color, int(joined_at), bool(online))


async def _rows(db: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    """A query's rows in one trip to the storage thread (through a cursor it takes three).
    Each trip waits for the event loop to come round, so under load every trip counts."""
    return list(await db.execute_fetchall(sql, params))


async def _row(db: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> Any:
    rows = await _rows(db, sql, params)
    return rows[0] if rows else None


async def _in_thread(db: aiosqlite.Connection, work: Callable[..., _T], *args: Any) -> _T:
    """``work(connection, *args)`` run in the storage thread, in one trip.

    Every statement awaited on its own is a trip between the loop and that thread, about
    170 µs of CPU across the two; a group commit took nine. aiosqlite runs its own calls
    through ``_execute`` (it is pinned in pyproject.toml)."""
    return cast(_T, await db._execute(work, db._conn, *args))  # type: ignore[no-untyped-call]


def _transaction(conn: sqlite3.Connection, work: Callable[..., _T], *args: Any) -> _T:
    """``work(conn, *args)`` inside ``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back if it
    raises), in the storage thread."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = work(conn, *args)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise
    return result


@contextmanager
def _driver_errors() -> Iterator[None]:
    """sqlite3 errors, aiosqlite's closed-connection ValueError and OS errors, as ours."""
    try:
        yield
    except StorageError:
        raise
    except (sqlite3.Error, ValueError, OSError) as exc:
        raise StorageUnavailable(f"database error: {exc}") from exc


#: Each named session's newest log entry (a snapshot's, when compaction folded them all) and
#: whether it ended, in one query (``?``: the ids as a JSON array); sessions gone are missing.
_HEADS = (
    "SELECT s.id, max(coalesce((SELECT max(seq) FROM doc_log WHERE session_id = s.id), 0),"
    " coalesce((SELECT upto FROM doc_snapshots WHERE session_id = s.id), 0)),"
    " s.ended_at IS NOT NULL FROM sessions s WHERE s.id IN (SELECT value FROM json_each(?))"
)


def _last_seqs(conn: sqlite3.Connection, session_ids: Iterable[str]) -> dict[str, int]:
    """The newest sequence number of each session's log; sessions that are gone are missing."""
    rows = conn.execute(_HEADS, (json.dumps(list(session_ids)),))
    return {str(sid): int(last) for sid, last, _ in rows}


def _append_edits(conn: sqlite3.Connection, updates: Sequence[PendingUpdate]) -> None:
    """Playback's rows of a group commit, numbered after each session's newest."""
    sessions = {update.session_id for update in updates if update.edits}
    if not sessions:
        return
    # one max per session, each a seek on the primary key's end (a GROUP BY would read
    # every row of every session: 2 ms a commit after 800 changes, growing with them)
    found = conn.execute(
        "SELECT value, (SELECT max(seq) FROM edit_log WHERE session_id = value) FROM json_each(?)",
        (json.dumps(list(sessions)),),
    )
    following = {str(sid): -1 if n is None else int(n) for sid, n in found}
    rows: list[tuple[str, int, int, str | None, int, int, bytes]] = []
    for update in updates:
        for edit in update.edits:
            following[update.session_id] += 1
            rows.append((update.session_id, following[update.session_id], edit.at,
                         edit.author, edit.inserted, edit.deleted, edit.data))  # fmt: skip
    conn.executemany(
        "INSERT INTO edit_log (session_id, seq, at, author, inserted, deleted, data)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def _read_since(conn: sqlite3.Connection, session_id: str, after_seq: int) -> StoredDocument:
    """:meth:`SQLiteStorage.document_since` in one read transaction."""
    conn.execute("BEGIN")
    try:
        row = conn.execute(
            "SELECT state, upto FROM doc_snapshots WHERE session_id = ?", (session_id,)
        ).fetchone()
        upto = int(row[1]) if row else 0
        tail = conn.execute(
            "SELECT seq, data FROM doc_log WHERE session_id = ? AND seq > ? ORDER BY seq",
            (session_id, max(upto, after_seq)),
        ).fetchall()
        ended = conn.execute("SELECT ended_at FROM sessions WHERE id = ?", (session_id,)).fetchone()
    finally:
        conn.execute("COMMIT")
    return StoredDocument(
        bytes(row[0]) if row and upto > after_seq else None,
        [bytes(data) for _, data in tail],
        upto=upto,
        last_seq=int(tail[-1][0]) if tail else max(upto, after_seq),
        ended=ended is not None and ended[0] is not None,
    )


def _append(
    conn: sqlite3.Connection,
    updates: Sequence[PendingUpdate],
    outbox: Sequence[OutboxEvent],
    pending: Sequence[tuple[str, int]],
) -> dict[str, Appended]:
    """The statements of a group commit (see :meth:`SQLiteStorage.append_updates`)."""
    latest: dict[str, int] = {}
    rows: list[tuple[str, int, bytes, int]] = []
    lasts = _last_seqs(conn, {update.session_id for update in updates})
    # the number each session's next entry gets; sessions deleted meanwhile get none
    following = {sid: last + 1 for sid, last in lasts.items()}
    first = dict(following)
    for update in updates:
        sid = update.session_id
        if sid not in following:
            continue
        rows.append((sid, following[sid], update.data, update.at))
        following[sid] += 1
        latest[sid] = max(update.at, latest.get(sid, 0))
    conn.executemany(
        "INSERT INTO doc_log (session_id, seq, data, created_at) VALUES (?, ?, ?, ?)", rows
    )
    _append_edits(conn, [u for u in updates if u.session_id in following])
    conn.executemany(
        "UPDATE sessions SET updated_at = max(updated_at, ?) WHERE id = ?",
        [(at, sid) for sid, at in latest.items()],
    )
    conn.executemany(
        "INSERT INTO webhook_pending (session_id, due_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
        [row for row in pending if row[0] in latest],
    )
    _write_events(conn, [e for e in outbox if e.session_id in latest])
    return {sid: Appended(first[sid], following[sid] - 1) for sid in latest}


class SQLiteStorage:
    """SQLite-backed storage; ``path`` may be ``:memory:``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    # ------------------------------------------------------------ lifecycle
    async def open(self) -> None:
        path = Path(self.path)
        # checked here: aiosqlite's failed connect leaves its thread to outlive the loop
        if self.path != ":memory:" and not path.parent.is_dir():
            raise StorageUnavailable(f"no such directory: {path.parent}")
        if self.path != ":memory:" and path.is_dir():
            raise StorageUnavailable(f"{path} is a directory")
        with _driver_errors():
            db = await aiosqlite.connect(self.path, isolation_level=None)
            try:
                await db.execute("PRAGMA foreign_keys = ON")
                await db.execute("PRAGMA journal_mode = WAL")
                await db.execute("PRAGMA synchronous = NORMAL")
                await db.execute("PRAGMA busy_timeout = 5000")
                await migrate(db)
            except BaseException:
                await db.close()
                raise
        self._db = db
        log.info("storage open: %s", self.path)

    async def close(self) -> None:
        if self._db is not None:
            async with self._lock:
                with _driver_errors():
                    await self._db.close()
                self._db = None
            log.info("storage closed")

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StorageUnavailable("storage is not open")
        return self._db

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction, alone on the connection; the body maps its own constraint
        violations to domain errors, anything else the driver raises is StorageUnavailable."""
        async with self._lock:
            with _driver_errors():
                db = self.db
                await db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                    await db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:
                        with suppress(sqlite3.Error, ValueError):
                            await db.execute("ROLLBACK")
                    raise

    async def _write(self, work: Callable[..., _T], *args: Any) -> _T:
        """``work(connection, *args)`` as one write transaction, in one trip to the storage
        thread, alone on the connection."""
        async with self._lock:
            with _driver_errors():
                return await _in_thread(self.db, _transaction, work, *args)

    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        async with self._lock:
            with _driver_errors():
                return await _rows(self.db, sql, params)

    async def _fetchone(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = await self._fetchall(sql, params)
        return rows[0] if rows else None

    async def ping(self) -> None:
        """Whether the connection answers; without the lock, so a health check waits for
        the statement the storage thread is running, not for every transaction queued
        (``SELECT 1`` reads nothing a transaction in progress could have changed)."""
        with _driver_errors():
            await _rows(self.db, "SELECT 1", ())

    async def size_bytes(self) -> int:
        """Bytes the database holds (its pages, the write-ahead log included)."""
        row = await self._fetchone(
            "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"
        )
        wal = 0
        if self.path != ":memory:":
            with suppress(OSError):
                wal = os.stat(self.path + "-wal").st_size
        return int(row[0]) + wal if row else wal

    # ------------------------------------------------------------ sessions
    async def create_session(
        self,
        session: SessionRecord,
        creator: ParticipantRecord,
        document: bytes,
        outbox: Sequence[OutboxEvent] = (),
    ) -> None:
        async with self._tx() as db:
            try:
                await db.execute(
                    "INSERT INTO sessions (id, created_at, updated_at, expires_at, creator_id)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (
                        session.id,
                        session.created_at,
                        session.updated_at,
                        session.expires_at,
                        session.creator_id,
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise DuplicateSessionId(session.id) from exc
            await self._insert_participant(db, session.id, creator, 0)
            await db.execute(
                "INSERT INTO doc_snapshots (session_id, state, updated_at, upto)"
                " VALUES (?, ?, ?, 0)",
                (session.id, document, session.created_at),
            )
            await db.execute(  # playback starts from the document as it was created
                "INSERT INTO edit_log (session_id, seq, at, author, inserted, deleted, data)"
                " VALUES (?, 0, ?, NULL, 0, 0, ?)",
                (session.id, session.created_at, document),
            )
            await _insert_events(db, outbox)

    async def get_session(self, session_id: str) -> SessionRecord | None:
        row = await self._fetchone(
            "SELECT id, created_at, updated_at, expires_at, creator_id, candidate_invite,"
            " observer_invite, started_at, ended_at, duration_ms FROM sessions WHERE id = ?",
            (session_id,),
        )
        return SessionRecord(*row) if row else None

    async def rotate_invite(self, session_id: str, role: str) -> int:
        column = {"candidate": "candidate_invite", "observer": "observer_invite"}[role]
        async with self._tx() as db:
            row = await _row(
                db,
                f"UPDATE sessions SET {column} = {column} + 1 WHERE id = ? RETURNING {column}",
                (session_id,),
            )
        if row is None:
            raise SessionGone(session_id)
        return int(row[0])

    async def server_secret(self, name: str, make: Callable[[], str]) -> str:
        """The secret called ``name``, created with ``make()`` the first time it is asked for."""
        async with self._tx() as db:
            await db.execute(
                "INSERT INTO server_secrets (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (name, make()),
            )
            row = await _row(db, "SELECT value FROM server_secrets WHERE name = ?", (name,))
        assert row is not None
        return str(row[0])

    async def touch_session(self, session_id: str, at: int) -> None:
        async with self._tx() as db:
            await db.execute(
                "UPDATE sessions SET updated_at = max(updated_at, ?) WHERE id = ?", (at, session_id)
            )

    async def delete_session(self, session_id: str, outbox: Sequence[OutboxEvent] = ()) -> bool:
        """Delete a session and all it owns; ``outbox`` is stored only if it existed."""
        async with self._tx() as db:
            cursor = await db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
            if cursor.rowcount > 0:
                await db.execute("DELETE FROM webhook_pending WHERE session_id = ?", (session_id,))
                await _insert_events(db, outbox)
            return cursor.rowcount > 0

    async def expired_sessions(self, now: int) -> list[str]:
        rows = await self._fetchall("SELECT id FROM sessions WHERE expires_at <= ?", (now,))
        return [r[0] for r in rows]

    # ------------------------------------------------------------ participants
    @staticmethod
    async def _insert_participant(
        db: aiosqlite.Connection, session_id: str, p: ParticipantRecord, position: int
    ) -> None:
        await db.execute(
            "INSERT INTO participants (session_id, id, name, role, color, joined_at, is_online,"
            " position) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (session_id, p.id, p.name, p.role, p.color, p.joined_at, int(p.is_online), position),
        )

    async def list_participants(self, session_id: str) -> list[ParticipantRecord]:
        rows = await self._fetchall(
            f"SELECT {_PARTICIPANT_COLUMNS} FROM participants WHERE session_id = ?"
            " ORDER BY position",
            (session_id,),
        )
        return [_participant(r) for r in rows]

    async def get_participant(
        self, session_id: str, participant_id: str
    ) -> ParticipantRecord | None:
        row = await self._fetchone(
            f"SELECT {_PARTICIPANT_COLUMNS} FROM participants WHERE session_id = ? AND id = ?",
            (session_id, participant_id),
        )
        return _participant(row) if row else None

    async def add_participant(
        self, session_id: str, participant: ParticipantRecord, cap: int
    ) -> None:
        async with self._tx() as db:
            count, last, exists, same = await _row(
                db,
                "SELECT count(*), coalesce(max(position), -1),"
                " (SELECT count(*) FROM sessions WHERE id = ?),"
                " sum(id = ?) FROM participants WHERE session_id = ?",
                (session_id, participant.id, session_id),
            ) or (0, -1, 0, 0)
            if not exists:
                raise SessionGone(session_id)
            if same:
                raise ParticipantExists(participant.id)
            if count >= cap:
                raise SessionFullError(session_id)
            await self._insert_participant(db, session_id, participant, int(last) + 1)
            await db.execute(
                "UPDATE sessions SET updated_at = max(updated_at, ?) WHERE id = ?",
                (participant.joined_at, session_id),
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
        """Change a participant; ``outbox`` (and the presence change at ``at``) is stored
        only if the participant exists."""
        changes: dict[str, Any] = {"name": name, "color": color, "role": role}
        changes["is_online"] = None if is_online is None else int(is_online)
        sets = {k: v for k, v in changes.items() if v is not None}
        async with self._tx() as db:
            if sets:
                assignments = ", ".join(f"{column} = ?" for column in sets)
                await db.execute(
                    f"UPDATE participants SET {assignments} WHERE session_id = ? AND id = ?",
                    (*sets.values(), session_id, participant_id),
                )
            row = await _row(
                db,
                f"SELECT {_PARTICIPANT_COLUMNS} FROM participants WHERE session_id = ? AND id = ?",
                (session_id, participant_id),
            )
            if row is not None:
                await _insert_events(db, outbox)
                if is_online is not None and at is not None:
                    await _log_presence(db, session_id, participant_id, is_online, at)
        return _participant(row) if row else None

    async def flip_online(
        self,
        session_id: str,
        participant_id: str,
        online: bool,
        at: int,
        outbox: Sequence[OutboxEvent] = (),
    ) -> ParticipantRecord | None:
        async with self._tx() as db:
            row = await _row(
                db,
                f"UPDATE participants SET is_online = ? WHERE session_id = ? AND id = ?"
                f" AND is_online != ? RETURNING {_PARTICIPANT_COLUMNS}",
                (int(online), session_id, participant_id, int(online)),
            )
            if row is not None:
                await _insert_events(db, outbox)
                await _log_presence(db, session_id, participant_id, online, at)
        return _participant(row) if row else None

    async def delete_participant(self, session_id: str, participant_id: str) -> bool:
        async with self._tx() as db:
            cursor = await db.execute(
                "DELETE FROM participants WHERE session_id = ? AND id = ?",
                (session_id, participant_id),
            )
            return cursor.rowcount > 0

    async def online_participants(self) -> list[tuple[str, ParticipantRecord]]:
        rows = await self._fetchall(
            f"SELECT session_id, {_PARTICIPANT_COLUMNS} FROM participants WHERE is_online = 1"
        )
        return [(str(row[0]), _participant(row[1:])) for row in rows]

    async def set_all_offline(self, at: int, outbox: Sequence[OutboxEvent] = ()) -> None:
        async with self._tx() as db:
            await db.execute(
                "INSERT INTO presence_log (session_id, at, participant_id, online)"
                " SELECT session_id, ?, id, 0 FROM participants WHERE is_online = 1",
                (at,),
            )
            await db.execute("UPDATE participants SET is_online = 0 WHERE is_online = 1")
            await _insert_events(db, outbox)

    async def list_presence(self, session_id: str) -> list[PresenceRecord]:
        rows = await self._fetchall(
            "SELECT at, participant_id, online FROM presence_log WHERE session_id = ? ORDER BY seq",
            (session_id,),
        )
        return [PresenceRecord(int(at), str(pid), bool(online)) for at, pid, online in rows]

    # ------------------------------------------------------------ documents
    async def load_document(self, session_id: str) -> StoredDocument:
        """The snapshot and the whole tail after it, in one read transaction."""
        return await self.document_since(session_id, -1)

    async def document_since(self, session_id: str, after_seq: int) -> StoredDocument:
        async with self._lock:
            with _driver_errors():
                return await _in_thread(self.db, _read_since, session_id, after_seq)

    async def log_heads(self, session_ids: Sequence[str]) -> dict[str, tuple[int, bool]]:
        rows = await self._fetchall(_HEADS, (json.dumps(list(session_ids)),))
        return {str(sid): (int(last), bool(ended)) for sid, last, ended in rows}

    async def start_session(
        self, session_id: str, at: int, duration_ms: int | None, outbox: Sequence[OutboxEvent] = ()
    ) -> bool:
        """Mark the interview started, once, unless it ended; False if it did not start."""
        async with self._tx() as db:
            cursor = await db.execute(
                "UPDATE sessions SET started_at = ?, duration_ms = ? WHERE id = ?"
                " AND started_at IS NULL AND ended_at IS NULL",
                (at, duration_ms, session_id),
            )
            if cursor.rowcount > 0:
                await _insert_events(db, outbox)
            return cursor.rowcount > 0

    async def end_session(
        self, session_id: str, at: int, outbox: Sequence[OutboxEvent] = ()
    ) -> bool:
        """Mark the interview ended, once; False if it had ended (or is gone)."""
        async with self._tx() as db:
            cursor = await db.execute(
                "UPDATE sessions SET ended_at = ? WHERE id = ? AND ended_at IS NULL",
                (at, session_id),
            )
            if cursor.rowcount > 0:
                await _insert_events(db, outbox)
            return cursor.rowcount > 0

    async def list_edits(
        self, session_id: str, to_ms: int, after_seq: int = -1, limit: int = 1000, from_ms: int = 0
    ) -> list[tuple[int, Edit]]:
        """Playback's log of a session after ``after_seq``, from ``from_ms`` to ``to_ms``,
        oldest first, at most ``limit`` entries."""
        rows = await self._fetchall(
            "SELECT seq, at, author, inserted, deleted, data FROM edit_log"
            " WHERE session_id = ? AND seq > ? AND at BETWEEN ? AND ? ORDER BY seq LIMIT ?",
            (session_id, after_seq, from_ms, to_ms, limit),
        )
        return [
            (int(seq), Edit(int(at), author, int(ins), int(dels), bytes(data)))
            for seq, at, author, ins, dels, data in rows
        ]

    async def add_checkpoint(self, session_id: str, checkpoint: Checkpoint) -> None:
        c = checkpoint
        async with self._tx() as db:
            await db.execute(
                "INSERT INTO edit_checkpoints (session_id, seq, at, state, authorship)"
                " SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM sessions WHERE id = ?)"
                " ON CONFLICT DO NOTHING",
                (session_id, c.seq, c.at, c.state, c.authorship, session_id),
            )

    async def checkpoint_before(self, session_id: str, at: int | None) -> Checkpoint | None:
        rows = await self._fetchall(
            "SELECT seq, at, state, authorship FROM edit_checkpoints WHERE session_id = ?"
            " AND at <= ? ORDER BY seq DESC LIMIT 1",
            (session_id, 2**62 if at is None else at),
        )
        return None if not rows else Checkpoint(int(rows[0][0]), int(rows[0][1]),
                                                 bytes(rows[0][2]), str(rows[0][3]))  # fmt: skip

    async def add_events(self, events: Sequence[SessionEvent]) -> None:
        if events:
            async with self._tx() as db:
                await _insert_session_events(db, events)

    async def list_events(self, session_id: str, limit: int) -> list[SessionEvent]:
        rows = await self._fetchall(
            "SELECT at, kind, participant_id, data FROM session_events WHERE session_id = ?"
            " ORDER BY seq LIMIT ?",
            (session_id, limit),
        )
        return [SessionEvent(session_id, int(at), str(kind), pid, str(data))
                for at, kind, pid, data in rows]  # fmt: skip

    async def edit_totals(self, session_id: str) -> list[tuple[str | None, int, int]]:
        rows = await self._fetchall(
            "SELECT author, count(*), sum(inserted) FROM edit_log WHERE session_id = ?"
            " AND seq > 0 AND (inserted > 0 OR deleted > 0) GROUP BY author",
            (session_id,),
        )
        return [(author, int(entries), int(chars)) for author, entries, chars in rows]

    async def idle_gaps(self, session_id: str, min_ms: int, limit: int) -> list[tuple[int, int]]:
        rows = await self._fetchall(
            "SELECT before, at FROM (SELECT at, lag(at) OVER (ORDER BY seq) AS before"
            " FROM edit_log WHERE session_id = ? AND seq > 0 AND (inserted > 0 OR deleted > 0))"
            " WHERE at - before >= ?"
            " ORDER BY at LIMIT ?",
            (session_id, min_ms, limit),
        )
        return [(int(before), int(at)) for before, at in rows]

    async def bursts(self, session_id: str, gap_ms: int, limit: int) -> list[Burst]:
        # gaps and islands: an entry more than gap_ms after its author's previous one
        # starts a burst; a running sum of those starts numbers each author's bursts
        rows = await self._fetchall(
            "SELECT author, min(at), max(at), count(*) FROM ("
            " SELECT author, at, sum(fresh) OVER (PARTITION BY author ORDER BY seq) AS burst"
            " FROM (SELECT seq, author, at, CASE WHEN at - lag(at) OVER"
            " (PARTITION BY author ORDER BY seq) <= ? THEN 0 ELSE 1 END AS fresh"
            " FROM edit_log WHERE session_id = ? AND seq > 0 AND (inserted > 0 OR deleted > 0)))"
            " GROUP BY author, burst ORDER BY min(at) LIMIT ?",
            (gap_ms, session_id, limit),
        )
        return [Burst(author, int(first), int(last), int(n)) for author, first, last, n in rows]

    async def append_updates(
        self,
        updates: Sequence[PendingUpdate],
        outbox: Sequence[OutboxEvent] = (),
        pending: Sequence[tuple[str, int]] = (),
    ) -> dict[str, Appended]:
        """One group commit, numbering each session's entries after its newest one; with
        it, the webhook events it causes and the sessions now pending a code.changed. The
        whole transaction is one trip to the storage thread."""
        if not updates:
            return {}
        return await self._write(_append, updates, outbox, pending)

    async def compact(self, session_id: str, snapshot: bytes, upto: int) -> None:
        async with self._tx() as db:
            await db.execute(
                "INSERT INTO doc_snapshots (session_id, state, updated_at, upto)"
                " SELECT ?, ?, updated_at, ? FROM sessions WHERE id = ?"
                " ON CONFLICT (session_id) DO UPDATE SET state = excluded.state,"
                " updated_at = excluded.updated_at, upto = excluded.upto"
                " WHERE excluded.upto >= doc_snapshots.upto",
                (session_id, snapshot, upto, session_id),
            )
            await db.execute(
                "DELETE FROM doc_log WHERE session_id = ? AND seq <= ?", (session_id, upto)
            )

    # ------------------------------------------------------------ webhooks
    async def enqueue_events(self, events: Sequence[OutboxEvent]) -> None:
        async with self._tx() as db:
            await _insert_events(db, events)

    async def due_events(self, endpoint: str, now: int, limit: int) -> list[OutboxEvent]:
        async with self._tx() as db:
            rows = await _rows(
                db,
                "UPDATE webhook_outbox SET next_at = ? WHERE rowid IN (SELECT rowid FROM"
                " webhook_outbox WHERE endpoint = ? AND given_up = 0 AND next_at <= ?"
                " ORDER BY created_at, rowid LIMIT ?) RETURNING created_at, rowid, endpoint, id,"
                " type, session_id, body, created_at, attempts, first_failed_at",
                (now + CLAIM_MS, endpoint, now, limit),
            )
        return [OutboxEvent(*row[2:]) for row in sorted(rows, key=lambda row: row[:2])]

    async def event_delivered(self, endpoint: str, event_id: str) -> None:
        async with self._tx() as db:
            await db.execute(
                "DELETE FROM webhook_outbox WHERE endpoint = ? AND id = ?", (endpoint, event_id)
            )

    async def event_failed(
        self, event: OutboxEvent, next_at: int, error: str, *, give_up: bool
    ) -> None:
        async with self._tx() as db:
            await db.execute(
                "UPDATE webhook_outbox SET attempts = ?, first_failed_at = ?, next_at = ?,"
                " last_error = ?, given_up = ? WHERE endpoint = ? AND id = ?",
                (
                    event.attempts,
                    event.first_failed_at,
                    next_at,
                    error[:500],
                    int(give_up),
                    event.endpoint,
                    event.id,
                ),
            )

    async def due_code_changes(self, now: int) -> list[tuple[str, int]]:
        rows = await self._fetchall(
            "SELECT session_id, due_at FROM webhook_pending WHERE due_at <= ? ORDER BY due_at",
            (now,),
        )
        return [(str(sid), int(due)) for sid, due in rows]

    async def code_changes_sent(
        self, sent: Sequence[tuple[str, int]], outbox: Sequence[OutboxEvent]
    ) -> None:
        """Turn pending code changes into their events, once: a row already taken (or
        deleted with its session) yields none."""
        async with self._tx() as db:
            for session_id, due_at in sent:
                cursor = await db.execute(
                    "DELETE FROM webhook_pending WHERE session_id = ? AND due_at = ?",
                    (session_id, due_at),
                )
                if cursor.rowcount > 0:
                    await _insert_events(db, [e for e in outbox if e.session_id == session_id])

    # ------------------------------------------------------------ questions
    async def create_question(self, question: QuestionRecord) -> None:
        async with self._tx() as db:
            await db.execute(
                "INSERT INTO questions (id, created_at, updated_at, difficulty, body)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    question.id,
                    question.created_at,
                    question.updated_at,
                    question.difficulty,
                    question.body,
                ),
            )

    async def get_question(self, question_id: str) -> QuestionRecord | None:
        row = await self._fetchone(
            f"SELECT {_QUESTION_COLUMNS} FROM questions WHERE id = ?", (question_id,)
        )
        return QuestionRecord(*row) if row else None

    async def replace_question(self, question: QuestionRecord) -> bool:
        async with self._tx() as db:
            cursor = await db.execute(
                "UPDATE questions SET updated_at = ?, difficulty = ?, body = ? WHERE id = ?",
                (question.updated_at, question.difficulty, question.body, question.id),
            )
            return cursor.rowcount > 0

    async def delete_question(self, question_id: str) -> bool:
        async with self._tx() as db:
            cursor = await db.execute("DELETE FROM questions WHERE id = ?", (question_id,))
            return cursor.rowcount > 0

    async def list_questions(
        self, where: QuestionFilter, limit: int, offset: int
    ) -> tuple[list[QuestionRecord], int]:
        clauses, params = ["1"], []
        if where.difficulty is not None:
            clauses.append("difficulty = ?")
            params.append(where.difficulty)
        for key, value in (("$.tags", where.tag), ("$.languages", where.language)):
            if value is not None:
                clauses.append(f"EXISTS (SELECT 1 FROM json_each(body, '{key}') WHERE value = ?)")
                params.append(value)
        condition = " AND ".join(clauses)
        async with self._lock:
            with _driver_errors():
                total = await _row(
                    self.db, f"SELECT count(*) FROM questions WHERE {condition}", params
                )
                rows = await _rows(
                    self.db,
                    f"SELECT {_QUESTION_COLUMNS} FROM questions WHERE {condition}"
                    " ORDER BY created_at, rowid LIMIT ? OFFSET ?",
                    (*params, limit, offset),
                )
        return [QuestionRecord(*row) for row in rows], int(total[0])

    async def attach_question(
        self, session_id: str, question: QuestionRecord, at: int, by: str | None = None
    ) -> None:
        async with self._tx() as db:
            await _require_session(db, session_id)
            await db.execute(
                "INSERT INTO session_questions (session_id, question_id, attached_at, body)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (session_id) DO UPDATE SET"
                " question_id = excluded.question_id, attached_at = excluded.attached_at,"
                " body = excluded.body",
                (session_id, question.id, at, question.body),
            )
            event = SessionEvent(
                session_id, at, "question", by, json.dumps({"questionId": question.id})
            )
            await _insert_session_events(db, [event])

    async def session_question(self, session_id: str) -> QuestionRecord | None:
        row = await self._fetchone(
            "SELECT q.question_id, s.created_at, q.attached_at, '', q.body"
            " FROM session_questions q JOIN sessions s ON s.id = q.session_id"
            " WHERE q.session_id = ?",
            (session_id,),
        )
        return QuestionRecord(*row) if row else None

    # ------------------------------------------------------------ notes and scorecards
    async def get_notes(self, session_id: str) -> NotesRecord | None:
        row = await self._fetchone(
            "SELECT notes, version, updated_at, updated_by FROM session_notes WHERE session_id = ?",
            (session_id,),
        )
        return NotesRecord(*row) if row else None

    async def put_notes(
        self, session_id: str, notes: str, at: int, by: str | None, base_version: int | None
    ) -> NotesRecord | None:
        async with self._tx() as db:
            await _require_session(db, session_id)
            row = await _row(
                db, "SELECT version FROM session_notes WHERE session_id = ?", (session_id,)
            )
            current = int(row[0]) if row else 0
            if base_version is not None and base_version != current:
                return None
            await db.execute(
                "INSERT INTO session_notes (session_id, notes, version, updated_at, updated_by)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (session_id) DO UPDATE SET"
                " notes = excluded.notes, version = excluded.version,"
                " updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                (session_id, notes, current + 1, at, by),
            )
        return NotesRecord(notes, current + 1, at, by)

    async def put_scorecard(
        self, session_id: str, scorecard: ScorecardRecord, outbox: Sequence[OutboxEvent] = ()
    ) -> None:
        async with self._tx() as db:
            await _require_session(db, session_id)
            await db.execute(
                "INSERT INTO scorecards (session_id, interviewer_id, body, submitted_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (session_id, interviewer_id) DO UPDATE SET"
                " body = excluded.body, submitted_at = excluded.submitted_at",
                (session_id, scorecard.interviewer_id, scorecard.body, scorecard.submitted_at),
            )
            await _insert_events(db, outbox)

    async def list_scorecards(self, session_id: str) -> list[ScorecardRecord]:
        rows = await self._fetchall(
            "SELECT interviewer_id, body, submitted_at FROM scorecards WHERE session_id = ?"
            " ORDER BY submitted_at, rowid",
            (session_id,),
        )
        return [ScorecardRecord(*row) for row in rows]

    async def add_test_run(
        self, session_id: str, run_id: str, at: int, body: str, keep: int
    ) -> None:
        async with self._tx() as db:
            await _require_session(db, session_id)
            await db.execute(
                "INSERT INTO test_runs (session_id, id, at, body) VALUES (?, ?, ?, ?)",
                (session_id, run_id, at, body),
            )
            await db.execute(
                "DELETE FROM test_runs WHERE session_id = ? AND rowid NOT IN (SELECT rowid"
                " FROM test_runs WHERE session_id = ? ORDER BY at DESC, rowid DESC LIMIT ?)",
                (session_id, session_id, keep),
            )

    async def list_test_runs(self, session_id: str) -> list[str]:
        rows = await self._fetchall(
            "SELECT body FROM test_runs WHERE session_id = ? ORDER BY at, rowid", (session_id,)
        )
        return [str(row[0]) for row in rows]

    # ------------------------------------------------------------ history
    async def add_history(self, session_id: str, at: int, code: str, language: str) -> int:
        """A new snapshot, unless the latest one holds the same code: then its number."""
        async with self._tx() as db:
            row = await _row(
                db,
                "SELECT n, code = ? AND language = ? FROM history WHERE session_id = ?"
                " ORDER BY n DESC LIMIT 1",
                (code, language, session_id),
            )
            if row is not None and row[1]:
                return int(row[0])  # nothing changed since: no second copy of the text
            n = int(row[0]) + 1 if row else 1
            try:
                await db.execute(
                    "INSERT INTO history (session_id, n, at, code, language)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (session_id, n, at, code, language),
                )
            except sqlite3.IntegrityError as exc:
                raise SessionGone(session_id) from exc
        return n

    async def list_history(self, session_id: str) -> list[HistoryEntry]:
        rows = await self._fetchall(
            "SELECT n, at, length(CAST(code AS BLOB)), '', language FROM history"
            " WHERE session_id = ? ORDER BY n",
            (session_id,),
        )
        return [HistoryEntry(*r) for r in rows]

    async def get_history(self, session_id: str, n: int) -> HistoryEntry | None:
        row = await self._fetchone(
            "SELECT n, at, length(CAST(code AS BLOB)), code, language FROM history"
            " WHERE session_id = ? AND n = ?",
            (session_id, n),
        )
        return HistoryEntry(*row) if row else None
