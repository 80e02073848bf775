"""A real server process per test, and a plain HTTP client for setting up sessions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from server_process import ServerProcess

SERVER_ARGS = ["--log-level", "warning", "--room-grace-seconds", "0.2"]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    async with ServerProcess(["--db", str(tmp_path / "examples.db"), *SERVER_ARGS]) as process:
        yield process
        assert await process.stop() == 0, process.log
