"""The webhook outbox: an event is stored exactly when the change it reports is."""

from __future__ import annotations

from dataclasses import replace

import pytest

from storage import (
    DuplicateSessionId,
    OutboxEvent,
    ParticipantRecord,
    PendingUpdate,
    SessionRecord,
    SQLiteStorage,
)
from storage.base import CLAIM_MS

ENDPOINT = "http://127.0.0.1:9/hooks"


def session(sid: str = "0123abcd") -> SessionRecord:
    return SessionRecord(sid, 1, 1, 10_000, "owner")


def person(pid: str = "owner") -> ParticipantRecord:
    return ParticipantRecord(pid, "Ada", "interviewer", "hsl(1, 70%, 50%)", 1, False)


def event(event_id: str, session_id: str | None = "0123abcd", at: int = 5) -> OutboxEvent:
    return OutboxEvent(ENDPOINT, event_id, "session.created", session_id, "{}", at)


async def ids(store: SQLiteStorage, now: int = 10**12) -> list[str]:
    return [e.id for e in await store.due_events(ENDPOINT, now, 100)]


async def test_an_event_is_stored_with_its_change_and_not_when_the_change_fails(
    store: SQLiteStorage,
) -> None:
    await store.create_session(session(), person(), b"", [event("created")])
    with pytest.raises(DuplicateSessionId):
        await store.create_session(session(), person(), b"", [event("created-again")])
    assert await ids(store) == ["created"]


async def test_a_deletion_event_outlives_its_session_and_a_missing_one_stores_none(
    store: SQLiteStorage,
) -> None:
    await store.create_session(session(), person(), b"")
    assert await store.delete_session("0123abcd", [event("deleted")])
    assert not await store.delete_session("0123abcd", [event("deleted-twice")])
    assert await ids(store) == ["deleted"]


async def test_a_presence_event_needs_its_participant(store: SQLiteStorage) -> None:
    await store.create_session(session(), person(), b"")
    await store.update_participant("0123abcd", "owner", is_online=True, outbox=[event("on")])
    await store.update_participant("0123abcd", "ghost", is_online=True, outbox=[event("ghost")])
    assert await ids(store) == ["on"]


async def test_code_change_events_go_with_their_updates_and_pending_ones_become_one_event(
    store: SQLiteStorage,
) -> None:
    await store.create_session(session(), person(), b"")
    update = PendingUpdate("0123abcd", b"\x00\x00", 2)
    gone = PendingUpdate("ffffffff", b"\x00\x00", 2)  # a session that does not exist
    await store.append_updates(
        [update, gone],
        outbox=[event("first"), event("of-gone", "ffffffff")],
        pending=[("0123abcd", 100), ("ffffffff", 100)],
    )
    await store.append_updates([update], pending=[("0123abcd", 200)])  # the earliest stays
    assert await ids(store) == ["first"]
    assert await store.due_code_changes(99) == []
    due = await store.due_code_changes(100)
    assert due == [("0123abcd", 100)]
    await store.code_changes_sent(due, [event("window-end")])
    await store.code_changes_sent(due, [event("sent-twice")])  # taken already: nothing
    # "first" was handed out above, and is held until its claim ends
    assert await ids(store, 10**12 + CLAIM_MS) == ["first", "window-end"]
    assert await store.due_code_changes(10**12) == []


async def test_a_failed_delivery_waits_for_its_retry_and_a_given_up_one_is_never_due(
    store: SQLiteStorage,
) -> None:
    await store.enqueue_events([event("a", at=1), event("b", at=2)])
    first = (await store.due_events(ENDPOINT, 10, 1))[0]
    retried = replace(first, attempts=1, first_failed_at=10)
    await store.event_failed(retried, next_at=50, error="answered 503", give_up=False)
    assert await ids(store, 49) == ["b"]
    again = (await store.due_events(ENDPOINT, 50, 10))[0]
    assert (again.id, again.attempts, again.first_failed_at) == ("a", 1, 10)
    await store.event_failed(again, next_at=90, error="answered 503", give_up=True)
    await store.event_delivered(ENDPOINT, "b")
    assert await ids(store) == []


async def test_an_event_handed_out_is_held_from_other_deliverers_until_its_claim_ends(
    store: SQLiteStorage,
) -> None:
    # several processes deliver from one outbox: an event goes to one of them
    await store.enqueue_events([event("a", at=1), event("b", at=2)])
    assert await ids(store, 10) == ["a", "b"]
    assert await ids(store, 11) == []  # claimed by the first
    assert await ids(store, 10 + CLAIM_MS) == ["a", "b"]  # that deliverer died: retried
