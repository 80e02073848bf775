"""SQLiteStorage on a temp file: migrations, cascades, the update log and compaction."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pycrdt import Doc, Text

from storage import (
    DuplicateSessionId,
    ParticipantRecord,
    PendingUpdate,
    SessionFullError,
    SessionRecord,
    SQLiteStorage,
)
from storage.schema import LATEST


def session(sid: str = "0123abcd", expires_at: int = 10_000) -> SessionRecord:
    return SessionRecord(sid, 1, 1, expires_at, "owner")


def person(pid: str = "owner") -> ParticipantRecord:
    return ParticipantRecord(pid, "Ada", "interviewer", "hsl(1, 70%, 50%)", 1, True)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStorage]:
    storage = SQLiteStorage(str(tmp_path / "s.db"))
    await storage.open()
    yield storage
    await storage.close()


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


async def test_the_database_runs_in_wal_mode_with_foreign_keys(store: SQLiteStorage) -> None:
    async with store.db.execute("PRAGMA journal_mode") as cursor:
        assert (await cursor.fetchone())[0] == "wal"  # type: ignore[index]
    async with store.db.execute("PRAGMA foreign_keys") as cursor:
        assert (await cursor.fetchone())[0] == 1  # type: ignore[index]


async def test_a_duplicate_session_id_is_reported_not_overwritten(store: SQLiteStorage) -> None:
    await store.create_session(session(), person(), b"\x00\x00")
    with pytest.raises(DuplicateSessionId):
        await store.create_session(session(), person("other"), b"\x00\x00")
    assert (await store.list_participants("0123abcd"))[0].id == "owner"


async def test_the_participant_cap_is_enforced_in_one_transaction(store: SQLiteStorage) -> None:
    await store.create_session(session(), person(), b"\x00\x00")
    await store.add_participant("0123abcd", person("p2"), cap=2)
    with pytest.raises(SessionFullError):
        await store.add_participant("0123abcd", person("p3"), cap=2)


async def test_deleting_a_session_cascades_to_everything_it_owns(store: SQLiteStorage) -> None:
    await store.create_session(session(), person(), b"\x00\x00")
    await store.append_updates([PendingUpdate("0123abcd", b"\x00\x00", 5)])
    await store.add_history("0123abcd", 5, "code", "python")
    assert await store.delete_session("0123abcd")
    for table in ["participants", "doc_snapshots", "doc_updates", "history"]:
        async with store.db.execute(f"SELECT count(*) FROM {table}") as cursor:
            assert (await cursor.fetchone())[0] == 0, table  # type: ignore[index]


def typed_updates(count: int) -> tuple[Doc, list[bytes]]:
    doc: Doc = Doc()
    text = doc.get("code", type=Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    for i in range(count):
        text.insert(len(text) if i % 3 else 0, chr(97 + i % 26))
    return doc, updates


async def test_a_document_loads_as_snapshot_plus_tail_and_compaction_drops_the_tail(
    store: SQLiteStorage,
) -> None:
    doc, updates = typed_updates(40)
    await store.create_session(session(), person(), updates[0])
    await store.append_updates([PendingUpdate("0123abcd", u, 2) for u in updates[1:]])
    stored = await store.load_document("0123abcd")
    assert stored.snapshot == updates[0] and len(stored.updates) == 39
    await store.compact("0123abcd", doc.get_update())
    stored = await store.load_document("0123abcd")
    assert stored.updates == []
    loaded: Doc = Doc()
    loaded.apply_update(stored.snapshot or b"")
    assert str(loaded.get("code", type=Text)) == str(doc.get("code", type=Text))


async def test_updates_of_a_deleted_session_are_dropped_not_failed(store: SQLiteStorage) -> None:
    await store.create_session(session(), person(), b"\x00\x00")
    await store.create_session(session("1111aaaa"), person(), b"\x00\x00")
    await store.delete_session("0123abcd")
    await store.append_updates(
        [PendingUpdate("0123abcd", b"x", 1), PendingUpdate("1111aaaa", b"y", 7)]
    )
    assert (await store.load_document("1111aaaa")).updates == [b"y"]
    assert (await store.get_session("1111aaaa")).updated_at == 7  # type: ignore[union-attr]


async def test_history_entries_are_numbered_per_session(store: SQLiteStorage) -> None:
    await store.create_session(session(), person(), b"\x00\x00")
    assert await store.add_history("0123abcd", 10, "a", "python") == 1
    assert await store.add_history("0123abcd", 20, "bé", "python") == 2
    entries = await store.list_history("0123abcd")
    assert [(e.n, e.at, e.size) for e in entries] == [(1, 10, 1), (2, 20, 3)]
    entry = await store.get_history("0123abcd", 2)
    assert entry is not None and entry.code == "bé"
    assert await store.get_history("0123abcd", 3) is None


async def test_expired_sessions_are_found_by_their_expiry_time(store: SQLiteStorage) -> None:
    await store.create_session(session("aaaa0001", expires_at=100), person(), b"\x00\x00")
    await store.create_session(session("aaaa0002", expires_at=300), person(), b"\x00\x00")
    assert await store.expired_sessions(200) == ["aaaa0001"]
