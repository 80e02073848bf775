"""Records and row counts the storage tests share, for either engine."""

from __future__ import annotations

import contextlib
import sqlite3

import asyncpg

from storage import (
    ParticipantRecord,
    PostgresStorage,
    SessionRecord,
    SQLiteStorage,
    Storage,
)
from storage.engine import is_postgres

_SNAPSHOT = "SELECT state FROM doc_snapshots WHERE session_id = {}"
_LOG = "SELECT data FROM doc_log WHERE session_id = {} ORDER BY seq"


def session(sid: str = "0123abcd", expires_at: int = 10_000) -> SessionRecord:
    return SessionRecord(sid, 1, 1, expires_at, "owner")


def person(pid: str = "owner") -> ParticipantRecord:
    return ParticipantRecord(pid, "Ada", "interviewer", "hsl(1, 70%, 50%)", 1, True)


async def count_rows(store: Storage, table: str) -> int:
    """How many rows ``table`` holds, read straight from the engine."""
    sql = f"SELECT count(*) FROM {table}"
    if isinstance(store, SQLiteStorage):
        async with store.db.execute(sql) as cursor:
            row = await cursor.fetchone()
        assert row is not None
        return int(row[0])
    assert isinstance(store, PostgresStorage)
    return int(await store.pool.fetchval(sql))


async def committed_updates(database: str, session_id: str) -> list[bytes]:
    """A session's snapshot and log as committed, read beside the server that writes them
    (``database`` is its ``--db``)."""
    if is_postgres(database):
        conn = await asyncpg.connect(database)
        try:
            rows = await conn.fetch(_SNAPSHOT.format("$1"), session_id)
            rows += await conn.fetch(_LOG.format("$1"), session_id)
        finally:
            await conn.close()
        return [bytes(row[0]) for row in rows]
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        found = db.execute(_SNAPSHOT.format("?"), (session_id,)).fetchall()
        found += db.execute(_LOG.format("?"), (session_id,)).fetchall()
    return [bytes(row[0]) for row in found]
