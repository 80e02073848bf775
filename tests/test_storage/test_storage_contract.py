"""The storage contract, on SQLite and PostgreSQL alike: cascades, the update log and its
numbering, compaction, history, gradings and presence."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from pycrdt import Doc, Text
from support.stored import count_rows, person, session

from crdt_server.update_log import COMMIT_BYTES, UpdateLog
from storage import (
    Appended,
    DuplicateSessionId,
    PendingUpdate,
    PresenceRecord,
    SessionFullError,
    Storage,
    StorageUnavailable,
)
from storage.base import PRESENCE_KEPT


async def test_a_duplicate_session_id_is_reported_not_overwritten(store: Storage) -> None:
    await store.create_session(session(), person(), b"\x00\x00")
    with pytest.raises(DuplicateSessionId):
        await store.create_session(session(), person("other"), b"\x00\x00")
    assert (await store.list_participants("0123abcd"))[0].id == "owner"


async def test_the_participant_cap_is_enforced_in_one_transaction(store: Storage) -> None:
    await store.create_session(session(), person(), b"\x00\x00")
    await store.add_participant("0123abcd", person("p2"), cap=2)
    with pytest.raises(SessionFullError):
        await store.add_participant("0123abcd", person("p3"), cap=2)


async def test_deleting_a_session_cascades_to_everything_it_owns(store: Storage) -> None:
    await store.create_session(session(), person(), b"\x00\x00")
    await store.append_updates([PendingUpdate("0123abcd", b"\x00\x00", 5)])
    await store.add_history("0123abcd", 5, "code", "python")
    assert await store.delete_session("0123abcd")
    for table in ["participants", "doc_snapshots", "doc_log", "history", "edit_log"]:
        assert await count_rows(store, table) == 0, table


def typed_updates(count: int) -> tuple[Doc[Any], list[bytes]]:
    doc: Doc[Any] = Doc()
    text = doc.get("code", type=Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    for i in range(count):
        text.insert(len(text) if i % 3 else 0, chr(97 + i % 26))
    return doc, updates


async def test_a_document_loads_as_snapshot_plus_tail_and_compaction_drops_the_tail(
    store: Storage,
) -> None:
    doc, updates = typed_updates(40)
    await store.create_session(session(), person(), updates[0])
    appended = await store.append_updates([PendingUpdate("0123abcd", u, 2) for u in updates[1:]])
    assert appended == {"0123abcd": Appended(1, 39)}
    stored = await store.load_document("0123abcd")
    assert stored.snapshot == updates[0] and len(stored.updates) == 39
    assert (stored.upto, stored.last_seq) == (0, 39)
    await store.compact("0123abcd", doc.get_update(), 39)
    stored = await store.load_document("0123abcd")
    assert stored.updates == [] and (stored.upto, stored.last_seq) == (39, 39)
    loaded: Doc[Any] = Doc()
    loaded.apply_update(stored.snapshot or b"")
    assert str(loaded.get("code", type=Text)) == str(doc.get("code", type=Text))


async def test_log_entries_are_numbered_per_session_and_never_renumbered(
    store: Storage,
) -> None:
    await store.create_session(session("aaaa0001"), person(), b"\x00\x00")
    await store.create_session(session("aaaa0002"), person(), b"\x00\x00")
    mixed = [PendingUpdate(sid, b"u", 1) for sid in ("aaaa0001", "aaaa0002", "aaaa0001")]
    assert await store.append_updates(mixed) == {
        "aaaa0001": Appended(1, 2),
        "aaaa0002": Appended(1, 1),
    }
    await store.compact("aaaa0001", b"\x00\x00", 2)  # folds the whole log
    again = await store.append_updates([PendingUpdate("aaaa0001", b"v", 2)])
    assert again == {"aaaa0001": Appended(3, 3)}  # numbering goes on after compaction


async def test_compaction_deletes_only_the_entries_it_folded(store: Storage) -> None:
    doc, updates = typed_updates(6)
    await store.create_session(session(), person(), updates[0])
    await store.append_updates([PendingUpdate("0123abcd", u, 2) for u in updates[1:4]])
    folded: Doc[Any] = Doc()
    for update in updates[:4]:
        folded.apply_update(update)
    # Entries 4 and 5 arrive (from another writer, say) after the snapshot was taken.
    await store.append_updates([PendingUpdate("0123abcd", u, 3) for u in updates[4:]])
    await store.compact("0123abcd", folded.get_update(), 3)
    stored = await store.load_document("0123abcd")
    assert stored.updates == updates[4:] and (stored.upto, stored.last_seq) == (3, 5)
    loaded: Doc[Any] = Doc()
    for update in [stored.snapshot or b"", *stored.updates]:
        loaded.apply_update(update)
    assert str(loaded.get("code", type=Text)) == str(doc.get("code", type=Text))


async def test_a_snapshot_folding_less_never_replaces_one_folding_more(
    store: Storage,
) -> None:
    _, updates = typed_updates(4)
    await store.create_session(session(), person(), updates[0])
    await store.append_updates([PendingUpdate("0123abcd", u, 2) for u in updates[1:]])
    await store.compact("0123abcd", b"newer", 3)
    await store.compact("0123abcd", b"older", 1)
    stored = await store.load_document("0123abcd")
    assert stored.snapshot == b"newer" and stored.upto == 3 and stored.updates == []


async def test_updates_of_a_deleted_session_are_dropped_not_failed(store: Storage) -> None:
    await store.create_session(session(), person(), b"\x00\x00")
    await store.create_session(session("1111aaaa"), person(), b"\x00\x00")
    await store.delete_session("0123abcd")
    await store.append_updates(
        [PendingUpdate("0123abcd", b"x", 1), PendingUpdate("1111aaaa", b"y", 7)]
    )
    assert (await store.load_document("1111aaaa")).updates == [b"y"]
    assert (await store.get_session("1111aaaa")).updated_at == 7  # type: ignore[union-attr]


async def test_history_entries_are_numbered_per_session(store: Storage) -> None:
    await store.create_session(session(), person(), b"\x00\x00")
    assert await store.add_history("0123abcd", 10, "a", "python") == 1
    assert await store.add_history("0123abcd", 20, "bé", "python") == 2
    entries = await store.list_history("0123abcd")
    assert [(e.n, e.at, e.size) for e in entries] == [(1, 10, 1), (2, 20, 3)]
    entry = await store.get_history("0123abcd", 2)
    assert entry is not None and entry.code == "bé"
    assert await store.get_history("0123abcd", 3) is None


async def test_expired_sessions_are_found_by_their_expiry_time(store: Storage) -> None:
    await store.create_session(session("aaaa0001", expires_at=100), person(), b"\x00\x00")
    await store.create_session(session("aaaa0002", expires_at=300), person(), b"\x00\x00")
    assert await store.expired_sessions(200) == ["aaaa0001"]


async def test_a_snapshot_of_unchanged_code_is_not_stored_twice(store: Storage) -> None:
    await store.create_session(session(), person(), b"\x00\x00")
    code = "x = 1\n" * 50_000  # a 300 KB text: a run after a run must not copy it again
    first = await store.add_history("0123abcd", 10, code, "python")
    assert await store.add_history("0123abcd", 20, code, "python") == first
    assert len(await store.list_history("0123abcd")) == 1
    assert await store.add_history("0123abcd", 30, code, "javascript") == first + 1
    assert await store.add_history("0123abcd", 40, code + "y\n", "javascript") == first + 2


async def test_a_state_the_load_check_would_refuse_is_never_folded(
    store: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    # yrs can encode a state (an item of length 0) that the load check refuses: folding it
    # would have quarantined the session at its next load (fuzz campaign)
    await store.create_session(session(), person(), b"")
    doc: Doc[Any] = Doc()
    log = UpdateLog(
        store, interval_s=0.01, compact_updates=1, compact_bytes=1, snapshot_of=lambda _: b"\xff"
    )
    log.track("0123abcd", 0, 0, 0)
    for at in range(1, 4):
        doc.get("code", type=Text).insert(0, "kept")
        log.append("0123abcd", doc.get_update(), at)
        await log.compact("0123abcd")
    stored = await store.load_document("0123abcd")
    assert stored.snapshot in (None, b"") and len(stored.updates) == 3  # the log is kept
    assert sum("not compacting" in r.getMessage() for r in caplog.records) == 1  # said once


async def test_one_entry_past_the_snapshot_is_not_folded(store: Storage) -> None:
    # an 8 MB document written in one update would be re-encoded and re-checked for a
    # snapshot that loads no faster than the entry itself
    await store.create_session(session(), person(), b"")
    encoded: list[str] = []
    doc: Doc[Any] = Doc()

    def snapshot_of(session_id: str) -> bytes:
        encoded.append(session_id)
        return doc.get_update()

    log = UpdateLog(
        store, interval_s=0.01, compact_updates=1, compact_bytes=1, snapshot_of=snapshot_of
    )
    log.track("0123abcd", 0, 0, 0)
    doc.get("code", type=Text).insert(0, "x" * 100_000)
    log.append("0123abcd", doc.get_update(), 1)
    await log.compact("0123abcd")
    assert encoded == [] and len((await store.load_document("0123abcd")).updates) == 1
    doc.get("code", type=Text).insert(0, "y")
    log.append("0123abcd", doc.get_update(), 2)
    await log.compact("0123abcd")
    stored = await store.load_document("0123abcd")
    assert encoded == ["0123abcd"] and stored.updates == [] and stored.snapshot


def keystrokes(text: str) -> list[bytes]:
    """One update per character typed, as an editor sends them."""
    doc: Doc[Any] = Doc()
    code = doc.get("code", type=Text)
    updates: list[bytes] = []
    for i, char in enumerate(text):
        state = doc.get_state()
        code.insert(i, char)
        updates.append(doc.get_update(state))
    return updates


def loaded_text(snapshot: bytes | None, updates: list[bytes]) -> str:
    doc: Doc[Any] = Doc()
    for update in [snapshot or b"", *updates]:
        if update:
            doc.apply_update(update)
    return str(doc.get("code", type=Text))


async def test_a_sessions_updates_committed_together_are_stored_merged_and_load_the_same(
    store: Storage,
) -> None:
    await store.create_session(session(), person(), b"")
    await store.create_session(session("feed0123"), person(), b"")
    log = UpdateLog(
        store, interval_s=60, compact_updates=10**6, compact_bytes=10**9, snapshot_of=lambda _: None
    )
    text = "def f(x):\n    return x * 2\n" * 10  # 280 keystrokes
    for i, update in enumerate(keystrokes(text)):
        log.append("0123abcd", update, i)
    pasted: Doc[Any] = Doc()
    pasted.get("code", type=Text).insert(0, "y" * 70_000)
    big = pasted.get_update()
    log.append("feed0123", keystrokes("z")[0], 1)
    log.append("feed0123", big, 2)
    await log.flush()
    stored = await store.load_document("0123abcd")
    assert len(stored.updates) == 5  # 280 keystrokes in runs of at most 64
    assert loaded_text(stored.snapshot, stored.updates) == text
    other = await store.load_document("feed0123")
    assert len(other.updates) == 2  # a lone update, then the large one as it came
    assert other.updates[1] == big


async def test_stopping_the_log_in_the_middle_of_a_commit_loses_nothing(
    store: Storage,
) -> None:
    await store.create_session(session(), person(), b"")
    entered, release = asyncio.Event(), asyncio.Event()
    append = store.append_updates

    async def slow_append(updates: Sequence[PendingUpdate], **with_it: Any) -> dict[str, Appended]:
        entered.set()
        await release.wait()
        return await append(updates, **with_it)

    store.append_updates = slow_append  # type: ignore[method-assign, assignment]
    log = UpdateLog(
        store, interval_s=0, compact_updates=10**6, compact_bytes=10**9, snapshot_of=lambda _: None
    )
    log.start()
    updates = keystrokes("kept")
    for i, update in enumerate(updates[:2]):
        log.append("0123abcd", update, i)
    await asyncio.wait_for(entered.wait(), 5)  # the writer is inside its commit
    for i, update in enumerate(updates[2:]):
        log.append("0123abcd", update, i)
    stopping = asyncio.ensure_future(log.stop())
    await asyncio.sleep(0.05)
    release.set()
    await asyncio.wait_for(stopping, 5)
    stored = await store.load_document("0123abcd")
    assert loaded_text(stored.snapshot, stored.updates) == "kept"


async def test_a_large_commit_goes_in_bounded_transactions_and_resends_only_what_failed(
    store: Storage,
) -> None:
    # one 3 MB commit in one transaction would hold the storage thread from every other
    # request (a health check, a join) until it is done
    await store.create_session(session(), person(), b"")
    doc: Doc[Any] = Doc()
    text = doc.get("code", type=Text)
    writes: list[int] = []
    append = store.append_updates

    async def failing_second(
        updates: Sequence[PendingUpdate], **with_it: Any
    ) -> dict[str, Appended]:
        writes.append(sum(len(u.data) for u in updates))
        if len(writes) == 2:
            raise StorageUnavailable("disk full")
        return await append(updates, **with_it)

    store.append_updates = failing_second  # type: ignore[method-assign, assignment]
    log = UpdateLog(
        store, interval_s=0, compact_updates=10**6, compact_bytes=10**9, snapshot_of=lambda _: None
    )
    for i, letter in enumerate("abc"):
        state = doc.get_state()
        text += letter * (COMMIT_BYTES - 1000)
        log.append("0123abcd", doc.get_update(state), i)
    assert not await log.flush()  # the second transaction failed: the rest stays queued
    assert len(writes) == 2 and all(size < COMMIT_BYTES for size in writes)
    assert await log.flush()
    stored = await store.load_document("0123abcd")
    assert len(stored.updates) == 3 and loaded_text(stored.snapshot, stored.updates) == str(text)


async def test_only_the_newest_gradings_of_a_session_are_kept(store: Storage) -> None:
    await store.create_session(session(), person(), b"")
    for n in range(5):
        await store.add_test_run("0123abcd", f"r{n}", n, f'{{"n": {n}}}', keep=3)
    assert await store.list_test_runs("0123abcd") == ['{"n": 2}', '{"n": 3}', '{"n": 4}']


async def test_presence_changes_are_logged_bounded_and_a_crash_leaves_everyone_left(
    store: Storage,
) -> None:
    await store.create_session(session(), person(), b"\x00\x00")
    for at in range(1, PRESENCE_KEPT + 12):  # a client reconnecting in a loop
        await store.update_participant("0123abcd", "owner", is_online=at % 2 == 1, at=at)
    await store.update_participant("0123abcd", "nobody", is_online=True, at=10**6)  # not logged
    kept = await store.list_presence("0123abcd")
    assert len(kept) == PRESENCE_KEPT and kept[-1].at == PRESENCE_KEPT + 11  # the newest
    assert kept[-1] == PresenceRecord(PRESENCE_KEPT + 11, "owner", online=True)

    await store.set_all_offline(at=10**7)  # start-up after a crash: whoever was online left
    assert (await store.list_presence("0123abcd"))[-1] == PresenceRecord(10**7, "owner", False)
    assert not (await store.get_participant("0123abcd", "owner")).is_online  # type: ignore[union-attr]
    assert await store.delete_session("0123abcd")
    assert await count_rows(store, "presence_log") == 0


async def test_what_another_process_added_is_read_after_a_given_entry(store: Storage) -> None:
    _, updates = typed_updates(8)
    await store.create_session(session(), person(), updates[0])
    await store.append_updates([PendingUpdate("0123abcd", u, 2) for u in updates[1:6]])
    since = await store.document_since("0123abcd", 3)
    assert since.snapshot is None and since.updates == updates[4:6] and since.last_seq == 5
    folded: Doc[Any] = Doc()
    for update in updates[:5]:
        folded.apply_update(update)
    await store.compact("0123abcd", folded.get_update(), 4)
    since = await store.document_since("0123abcd", 2)  # entries 3 and 4 are folded away
    assert since.snapshot == folded.get_update() and since.updates == [updates[5]]
    assert (since.upto, since.last_seq) == (4, 5)
    assert (await store.document_since("0123abcd", 5)).updates == []
    assert (await store.document_since("0123abcd", 5)).last_seq == 5
    await store.create_session(session("feed0123"), person(), b"")
    await store.end_session("feed0123", 9)
    heads = await store.log_heads(["0123abcd", "feed0123", "nosuch00"])
    assert heads == {"0123abcd": (5, False), "feed0123": (0, True)}


async def test_a_presence_flip_changes_a_participant_once(store: Storage) -> None:
    await store.create_session(session(), person(), b"")  # the owner is created online
    assert await store.flip_online("0123abcd", "owner", True, 5) is None  # online already
    record = await store.flip_online("0123abcd", "owner", False, 6)
    assert record is not None and not record.is_online
    assert await store.flip_online("0123abcd", "owner", False, 7) is None
    assert await store.flip_online("0123abcd", "nobody", True, 8) is None
    assert await store.list_presence("0123abcd") == [PresenceRecord(6, "owner", False)]
