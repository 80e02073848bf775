"""The ``Storage`` Protocol on SQLite through aiosqlite.

One connection is the single writer: WAL, foreign keys on, explicit
``BEGIN IMMEDIATE`` transactions. A lock keeps one coroutine's statements
from landing inside another's transaction on the shared connection.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiosqlite

from .base import (
    DuplicateSessionId,
    HistoryEntry,
    ParticipantExists,
    ParticipantRecord,
    PendingUpdate,
    SessionFullError,
    SessionGone,
    SessionRecord,
    StorageError,
    StoredDocument,
)
from .schema import migrate

log = logging.getLogger(__name__)

_PARTICIPANT_COLUMNS = "id, name, role, color, joined_at, is_online"


def _participant(row: Iterable[Any]) -> ParticipantRecord:
    pid, name, role, color, joined_at, online = row
    return ParticipantRecord(pid, name, role, color, int(joined_at), bool(online))


class SQLiteStorage:
    """SQLite-backed storage; ``path`` may be ``:memory:``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    # ------------------------------------------------------------ lifecycle
    async def open(self) -> None:
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
                await self._db.close()
                self._db = None
            log.info("storage closed")

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StorageError("storage is not open")
        return self._db

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction, alone on the connection."""
        async with self._lock:
            db = self.db
            try:
                await db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StorageError(str(exc)) from exc
            try:
                yield db
                await db.execute("COMMIT")
            except BaseException as exc:
                if db.in_transaction:
                    await db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error) and not isinstance(exc, sqlite3.IntegrityError):
                    raise StorageError(str(exc)) from exc
                raise

    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        async with self._lock:
            try:
                async with self.db.execute(sql, params) as cursor:
                    return list(await cursor.fetchall())
            except sqlite3.Error as exc:
                raise StorageError(str(exc)) from exc

    async def _fetchone(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = await self._fetchall(sql, params)
        return rows[0] if rows else None

    async def ping(self) -> None:
        try:
            await self._fetchone("SELECT 1")
        except ValueError as exc:  # aiosqlite: connection closed
            raise StorageError(str(exc)) from exc

    # ------------------------------------------------------------ sessions
    async def create_session(
        self, session: SessionRecord, creator: ParticipantRecord, document: bytes
    ) -> None:
        try:
            async with self._tx() as db:
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
                await self._insert_participant(db, session.id, creator, 0)
                await db.execute(
                    "INSERT INTO doc_snapshots (session_id, state, updated_at) VALUES (?, ?, ?)",
                    (session.id, document, session.created_at),
                )
        except sqlite3.IntegrityError as exc:
            raise DuplicateSessionId(session.id) from exc

    async def get_session(self, session_id: str) -> SessionRecord | None:
        row = await self._fetchone(
            "SELECT id, created_at, updated_at, expires_at, creator_id FROM sessions WHERE id = ?",
            (session_id,),
        )
        return SessionRecord(*row) if row else None

    async def touch_session(self, session_id: str, at: int) -> None:
        async with self._tx() as db:
            await db.execute(
                "UPDATE sessions SET updated_at = max(updated_at, ?) WHERE id = ?", (at, session_id)
            )

    async def delete_session(self, session_id: str) -> bool:
        async with self._tx() as db:
            cursor = await db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
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
            async with db.execute(
                "SELECT count(*), coalesce(max(position), -1),"
                " (SELECT count(*) FROM sessions WHERE id = ?),"
                " sum(id = ?) FROM participants WHERE session_id = ?",
                (session_id, participant.id, session_id),
            ) as cursor:
                count, last, exists, same = await cursor.fetchone() or (0, -1, 0, 0)
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
    ) -> ParticipantRecord | None:
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
            async with db.execute(
                f"SELECT {_PARTICIPANT_COLUMNS} FROM participants WHERE session_id = ? AND id = ?",
                (session_id, participant_id),
            ) as cursor:
                row = await cursor.fetchone()
        return _participant(row) if row else None

    async def delete_participant(self, session_id: str, participant_id: str) -> bool:
        async with self._tx() as db:
            cursor = await db.execute(
                "DELETE FROM participants WHERE session_id = ? AND id = ?",
                (session_id, participant_id),
            )
            return cursor.rowcount > 0

    async def set_all_offline(self) -> None:
        async with self._tx() as db:
            await db.execute("UPDATE participants SET is_online = 0 WHERE is_online = 1")

    # ------------------------------------------------------------ documents
    async def load_document(self, session_id: str) -> StoredDocument:
        async with self._lock:
            db = self.db
            await db.execute("BEGIN")  # one consistent read of snapshot and tail
            try:
                async with db.execute(
                    "SELECT state FROM doc_snapshots WHERE session_id = ?", (session_id,)
                ) as cursor:
                    row = await cursor.fetchone()
                async with db.execute(
                    "SELECT data FROM doc_updates WHERE session_id = ? ORDER BY seq", (session_id,)
                ) as cursor:
                    updates = [r[0] for r in await cursor.fetchall()]
            finally:
                await db.execute("COMMIT")
        return StoredDocument(bytes(row[0]) if row else None, updates)

    async def append_updates(self, updates: Sequence[PendingUpdate]) -> None:
        """One group commit; updates of sessions deleted meanwhile are dropped."""
        if not updates:
            return
        async with self._tx() as db:
            await db.executemany(
                "INSERT INTO doc_updates (session_id, data, created_at)"
                " SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM sessions WHERE id = ?)",
                [(u.session_id, u.data, u.at, u.session_id) for u in updates],
            )
            latest: dict[str, int] = {}
            for u in updates:
                latest[u.session_id] = max(u.at, latest.get(u.session_id, 0))
            await db.executemany(
                "UPDATE sessions SET updated_at = max(updated_at, ?) WHERE id = ?",
                [(at, sid) for sid, at in latest.items()],
            )

    async def compact(self, session_id: str, snapshot: bytes) -> None:
        """Replace the snapshot with ``snapshot`` and drop the log it covers.

        The caller guarantees ``snapshot`` contains every logged update.
        """
        async with self._tx() as db:
            await db.execute(
                "INSERT INTO doc_snapshots (session_id, state, updated_at)"
                " SELECT ?, ?, updated_at FROM sessions WHERE id = ?"
                " ON CONFLICT (session_id) DO UPDATE SET state = excluded.state,"
                " updated_at = excluded.updated_at",
                (session_id, snapshot, session_id),
            )
            await db.execute("DELETE FROM doc_updates WHERE session_id = ?", (session_id,))

    # ------------------------------------------------------------ history
    async def add_history(self, session_id: str, at: int, code: str, language: str) -> int:
        async with self._tx() as db:
            async with db.execute(
                "SELECT coalesce(max(n), 0) + 1 FROM history WHERE session_id = ?", (session_id,)
            ) as cursor:
                row = await cursor.fetchone()
            n = int(row[0]) if row else 1
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
