"""What only PostgreSQL has: several processes on one database. Migrations when they all
start at once, numbering and the participant cap when they all write at once, and the
driver's failures as StorageUnavailable."""

from __future__ import annotations

import asyncio

import pytest
from support.postgres import PrivatePostgres
from support.stored import person, session

from storage import (
    PendingUpdate,
    PostgresStorage,
    SessionFullError,
    StorageUnavailable,
)
from storage.pg_schema import LATEST


async def opened(url: str, count: int) -> list[PostgresStorage]:
    stores = [PostgresStorage(url, pool_size=2) for _ in range(count)]
    await asyncio.gather(*(store.open() for store in stores))
    return stores


async def test_processes_starting_at_once_migrate_the_database_once(
    postgres: PrivatePostgres,
) -> None:
    url = postgres.database()
    stores = await opened(url, 6)  # six processes on a fresh database, together
    try:
        versions = await stores[0].pool.fetch("SELECT version FROM schema_version ORDER BY 1")
        assert [row[0] for row in versions] == list(range(1, LATEST + 1))
    finally:
        await asyncio.gather(*(store.close() for store in stores))


async def test_a_database_from_a_newer_server_is_refused(postgres: PrivatePostgres) -> None:
    url = postgres.database()
    (store,) = await opened(url, 1)
    await store.pool.execute("INSERT INTO schema_version VALUES ($1)", LATEST + 1)
    await store.close()
    with pytest.raises(RuntimeError, match="newer"):
        await PostgresStorage(url).open()


async def test_processes_appending_at_once_number_one_log_without_a_gap_or_a_clash(
    postgres: PrivatePostgres,
) -> None:
    stores = await opened(postgres.database(), 3)
    try:
        await stores[0].create_session(session(), person(), b"")

        async def append(store: PostgresStorage, n: int) -> list[int]:
            spans = []
            for i in range(20):
                done = await store.append_updates([PendingUpdate("0123abcd", bytes([n, i]), i)])
                spans.append(done["0123abcd"].first)
            return spans

        numbered = await asyncio.gather(*(append(s, n) for n, s in enumerate(stores)))
        assert sorted(seq for spans in numbered for seq in spans) == list(range(1, 61))
        stored = await stores[1].load_document("0123abcd")
        assert stored.last_seq == 60 and len(stored.updates) == 60
    finally:
        await asyncio.gather(*(store.close() for store in stores))


async def test_the_participant_cap_holds_when_processes_join_at_once(
    postgres: PrivatePostgres,
) -> None:
    stores = await opened(postgres.database(), 4)
    try:
        await stores[0].create_session(session(), person(), b"")
        joins = [
            store.add_participant("0123abcd", person(f"p{n}"), cap=3)
            for n, store in enumerate(stores)
        ]
        results = await asyncio.gather(*joins, return_exceptions=True)
        assert sum(isinstance(r, SessionFullError) for r in results) == 2  # the owner + 2 fit
        assert len(await stores[0].list_participants("0123abcd")) == 3
    finally:
        await asyncio.gather(*(store.close() for store in stores))


async def test_an_unreachable_or_lost_database_is_storage_unavailable(
    postgres: PrivatePostgres,
) -> None:
    with pytest.raises(StorageUnavailable):  # nothing listens there
        await PostgresStorage("postgresql://postgres@127.0.0.1:9/none").open()
    url = postgres.database()
    (store,) = await opened(url, 1)
    try:
        name = url.rsplit("/", 1)[1]
        postgres.sql(  # the server drops every connection of the database under the store
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        )
        with pytest.raises(StorageUnavailable):
            await store.get_session("0123abcd")
        assert await store.get_session("0123abcd") is None  # the pool connects again
    finally:
        await store.close()
