"""A real server process and one headless chromium per test (see support/browser_driver.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from server_process import ServerProcess
from support.browser_driver import Browser
from support.tokens import TEST_API_KEY

SERVER_ARGS = ["--log-level", "warning", "--room-grace-seconds", "0.5"]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    async with ServerProcess(["--db", str(tmp_path / "browser.db"), *SERVER_ARGS]) as process:
        yield process
        assert await process.stop() == 0, process.log


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with Browser.start() as started:
        yield started
        assert started.page_errors() == [], started.page_errors()


@pytest.fixture
async def secured(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    """A server with tokens on (``--auth token``), taking :data:`TEST_API_KEY`."""
    args = [
        "--db",
        str(tmp_path / "secured.db"),
        "--api-keys",
        TEST_API_KEY,
        "--log-level",
        "warning",
    ]
    async with ServerProcess(args) as process:
        yield process
        assert await process.stop() == 0, process.log
