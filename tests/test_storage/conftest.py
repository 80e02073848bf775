"""The storage under test: the one contract on both engines (a SQLite file in the test's temp
dir, and a fresh database on the private PostgreSQL), opened and closed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from support.postgres import PrivatePostgres

from storage import PostgresStorage, SQLiteStorage, Storage


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    storage: Storage
    if request.param == "sqlite":
        storage = SQLiteStorage(str(tmp_path / "s.db"))
    else:
        server: PrivatePostgres = request.getfixturevalue("postgres")
        storage = PostgresStorage(server.database())
    await storage.open()
    yield storage
    await storage.close()


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SQLiteStorage]:
    storage = SQLiteStorage(str(tmp_path / "s.db"))
    await storage.open()
    yield storage
    await storage.close()
