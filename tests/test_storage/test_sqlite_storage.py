"""What only SQLite has: its migrations from older schemas, WAL, its driver's failures, and
its single connection (the contract both engines keep is test_storage_contract.py)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from support.stored import person, session
from support.waiting import wait_until

from storage import (
    PendingUpdate,
    SQLiteStorage,
    StorageUnavailable,
)
from storage.schema import LATEST, MIGRATIONS


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("PRAGMA user_version").fetchone()[0])


async def test_an_empty_database_is_migrated_to_the_latest_schema(tmp_path: Path) -> None:
    storage = SQLiteStorage(str(tmp_path / "new.db"))
    await storage.open()
    await storage.close()
    assert user_version(tmp_path / "new.db") == LATEST


async def test_an_existing_database_keeps_its_data_when_reopened(tmp_path: Path) -> None:
    path = str(tmp_path / "old.db")
    storage = SQLiteStorage(path)
    await storage.open()
    await storage.create_session(session(), person(), b"\x00\x00")
    await storage.close()
    again = SQLiteStorage(path)
    await again.open()
    assert await again.get_session("0123abcd") == session()
    await again.close()
    assert user_version(tmp_path / "old.db") == LATEST


async def test_a_database_from_a_newer_server_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {LATEST + 1}")
    with pytest.raises(RuntimeError, match="newer"):
        await SQLiteStorage(str(path)).open()


async def test_the_database_runs_in_wal_mode_with_foreign_keys(sqlite_store: SQLiteStorage) -> None:
    async with sqlite_store.db.execute("PRAGMA journal_mode") as cursor:
        assert (await cursor.fetchone())[0] == "wal"  # type: ignore[index]
    async with sqlite_store.db.execute("PRAGMA foreign_keys") as cursor:
        assert (await cursor.fetchone())[0] == 1  # type: ignore[index]


async def test_a_schema_1_log_is_numbered_per_session_when_migrated(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    with sqlite3.connect(path) as db:
        db.executescript(MIGRATIONS[0] + "PRAGMA user_version = 1;")
        for sid in ("aaaa0001", "aaaa0002"):
            db.execute("INSERT INTO sessions VALUES (?, 1, 1, 9999, 'owner')", (sid,))
            db.execute("INSERT INTO doc_snapshots VALUES (?, x'0000', 1)", (sid,))
        for sid, data in [("aaaa0001", b"a"), ("aaaa0002", b"x"), ("aaaa0001", b"b")]:
            db.execute("INSERT INTO doc_updates (session_id, data, created_at) VALUES (?, ?, 1)",
                       (sid, data))  # fmt: skip
    storage = SQLiteStorage(str(path))
    await storage.open()
    first = await storage.load_document("aaaa0001")
    assert first.updates == [b"a", b"b"] and (first.upto, first.last_seq) == (0, 2)
    assert (await storage.load_document("aaaa0002")).last_seq == 1
    await storage.close()


async def test_driver_errors_surface_as_storage_unavailable(tmp_path: Path) -> None:
    storage = SQLiteStorage(str(tmp_path / "s.db"))
    await storage.open()
    await storage.db.close()  # the connection dies under the storage (a driver-level failure)
    with pytest.raises(StorageUnavailable):
        await storage.get_session("0123abcd")
    with pytest.raises(StorageUnavailable):
        await storage.append_updates([PendingUpdate("0123abcd", b"u", 1)])
    threads = set(threading.enumerate())
    with pytest.raises(StorageUnavailable):
        await SQLiteStorage(str(tmp_path / "missing" / "dir.db")).open()
    # aiosqlite stops a connection that failed to open without awaiting the stop: its worker
    # thread must finish while this loop runs, or it reports to a closed loop in a later test
    await wait_until(
        lambda: not set(threading.enumerate()) - threads,
        timeout=5,
        what="the failed connection's worker thread to stop",
    )


async def test_a_ping_does_not_wait_for_the_transaction_in_progress(
    sqlite_store: SQLiteStorage,
) -> None:
    # a health check queued behind a commit of eight 8 MB documents waited 300 ms
    async with sqlite_store._tx():  # a write transaction holding the storage, as a commit does
        await asyncio.wait_for(sqlite_store.ping(), 5)
