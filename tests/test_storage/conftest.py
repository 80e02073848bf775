"""The storage under test: a SQLite file in the test's temp dir, opened and closed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage import SQLiteStorage


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStorage]:
    storage = SQLiteStorage(str(tmp_path / "s.db"))
    await storage.open()
    yield storage
    await storage.close()
